//! What vmkit's tests need from the host, provided by the tests themselves so that
//! `cargo test --workspace` passes on a fresh clone with nothing run by hand first:
//!
//! - [`busybox_i386`]: Debian's busybox-static for i386, a real binary nobody here wrote.
//!   Fetched on first use with `apt-get download` into `target/busybox-i386/`, without root
//!   (a private apt state under `target/`, so no `dpkg --add-architecture` and no system
//!   `apt-get update`), once, and safely when several test binaries and threads ask at once.
//! - [`debian_root`]: a root of Debian i386 packages (bash, coreutils, grep, sed, gawk,
//!   findutils, python3.11-minimal and their libraries) in `target/debian-i386-root/`,
//!   fetched the same way, and [`compare_in_root`], which runs a command in it natively
//!   (`chroot`) and under `vmkit run --root`.
//! - [`require_gcc_m32`] and [`build_i386`]: a working `gcc -m32 -static` (Debian's gcc-multilib). A system
//!   package, so it is installed only when the tests run as root (as CI does); otherwise the
//!   test stops at once with the exact command to run.
//!
//! - [`test_i386`]: QEMU's `tests/tcg/i386/test-i386.c`, from Debian's QEMU source package
//!   (`apt-get source`, no root), built as QEMU builds it into `target/qemu-test-i386/`.
//!
//! A dev-dependency only: nothing here is part of vmkit itself. `.ci/fetch-busybox` runs the
//! same code through this crate's `fetch-busybox` binary.

#![deny(missing_docs)]

mod apt;
mod busybox;
mod debian;
mod gcc;
mod lock;
mod test_i386;

pub use busybox::{busybox_i386, busybox_path, fetch_busybox_i386, BUSYBOX_PACKAGE};
pub use debian::{
    compare_in_root, compare_in_root_writable, debian_root, debian_root_path, fetch_debian_root,
    run_chroot, run_vmkit_root, RunResult, CHROOT_ENV, DEBIAN_PACKAGES,
};
pub use gcc::{build_i386, ensure_gcc_m32, require_gcc_m32, try_build_i386, NO_INSTALL_VAR};
pub use test_i386::{
    fetch_test_i386, test_i386, test_i386_path, QEMU_SOURCE_PACKAGE, TEST_I386_CFLAGS,
};

use std::path::PathBuf;

/// The workspace's root directory (this crate lives in `crates/vmkit-test-support`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .unwrap_or(here.join("../.."))
}

/// Cargo's target directory, where fetched test inputs live (ignored by git): the
/// workspace's `target/`, or `CARGO_TARGET_DIR` when the tests run with it set (a relative
/// one is taken from the workspace root).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Whether this process runs as root (installing system packages is possible).
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The last lines of a command's output, for an error message.
fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = all.len().saturating_sub(lines);
    all[from..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
