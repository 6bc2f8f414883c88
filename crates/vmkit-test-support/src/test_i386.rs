//! QEMU's own x86 test program, `tests/tcg/i386/test-i386.c`, from Debian's source package
//! of QEMU, built as QEMU's `tests/tcg` makefiles build it.
//!
//! The source comes from `apt-get source --download-only qemu` with a private apt state
//! under `target/` (`apt.rs`, as for [`crate::busybox_i386`]'s binary package), whose source
//! list is the system's own with `deb` turned into `deb-src`: so no root, no system
//! `apt-get update`, and the mirror the system uses. Only `tests/tcg/i386/` is extracted
//! from the upstream tarball (Debian's patches do not touch it) into
//! `target/qemu-test-i386/src/`, then built with QEMU's flags (`tests/tcg/Makefile.target`
//! and `tests/tcg/i386/Makefile.target`): `gcc -m32 -Wall -Werror -O0 -g
//! -fno-strict-aliasing -fno-pie -static test-i386.c test-i386-code16.S test-i386-vm86.S
//! -lm`.
//!
//! Concurrency and interrupted fetches are handled as for busybox: a `flock` on
//! `target/qemu-test-i386.lock`, and a temporary tree renamed into place.

use crate::apt::{make_once, Apt};
use crate::{ensure_gcc_m32, tail, target_dir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Debian source package the test program comes from.
pub const QEMU_SOURCE_PACKAGE: &str = "qemu";

/// QEMU's compiler flags for test-i386 (`-m32` is the cross compiler QEMU configures for
/// i386 tests on an x86-64 host).
pub const TEST_I386_CFLAGS: [&str; 9] = [
    "-m32",
    "-Wall",
    "-Werror",
    "-O0",
    "-g",
    "-fno-strict-aliasing",
    "-fno-pie",
    "-static",
    "-lm",
];

/// Where the built program lives: `target/qemu-test-i386/test-i386`.
pub fn test_i386_path() -> PathBuf {
    target_dir().join("qemu-test-i386/test-i386")
}

/// QEMU's test-i386, fetched and built first if it is missing. Panics with the reason if
/// it cannot be: a test that needs it fails at once rather than skipping.
pub fn test_i386() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(fetch_test_i386) {
        Ok(path) => path.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// Fetches QEMU's source and builds test-i386 unless it is already built; returns the
/// program's path, or why it could not be made.
pub fn fetch_test_i386() -> Result<PathBuf, String> {
    let exe = test_i386_path();
    if exe.is_file() {
        return Ok(exe);
    }
    ensure_gcc_m32()?;
    let announce = format!(
        "vmkit tests: fetching Debian's {QEMU_SOURCE_PACKAGE} source for tests/tcg/i386 into {} \
         (once; apt-get source, no root needed)",
        target_dir().join("qemu-test-i386").display()
    );
    make_once(
        "qemu-test-i386",
        || exe.is_file(),
        &announce,
        fetch_and_build,
    )
    .map(|()| exe)
    .map_err(|why| format!("cannot make QEMU's test-i386: {why}"))
}

/// Downloads QEMU's source into `tmp`, extracts tests/tcg/i386 and builds test-i386;
/// returns the directory holding `src/` and `test-i386`.
fn fetch_and_build(tmp: &Path) -> Result<PathBuf, String> {
    let apt = Apt::sources(&tmp.join("apt"))?;
    let dl = tmp.join("dl");
    fs::create_dir_all(&dl).map_err(|e| format!("cannot create {}: {e}", dl.display()))?;
    let dir = |p: &Path| p.display().to_string();
    let run = |program: &str, args: &[String], cwd: &Path| -> Result<(), String> {
        let out = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| format!("cannot run {program} ({e})"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "`{program} {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            tail(&[out.stdout, out.stderr].concat(), 12)
        ))
    };
    apt.run("apt-get", &["update"], tmp)?;
    apt.run(
        "apt-get",
        &["source", "--download-only", QEMU_SOURCE_PACKAGE],
        &dl,
    )?;
    let orig = fs::read_dir(&dl)
        .map_err(|e| format!("cannot read {}: {e}", dl.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".orig.tar"))
        })
        .ok_or_else(|| format!("apt-get source left no .orig.tar in {}", dl.display()))?;
    let unpacked = tmp.join("unpacked");
    fs::create_dir_all(&unpacked)
        .map_err(|e| format!("cannot create {}: {e}", unpacked.display()))?;
    run(
        "tar",
        &[
            "-xf".into(),
            dir(&orig),
            "-C".into(),
            dir(&unpacked),
            "--wildcards".into(),
            "*/tests/tcg/i386/*".into(),
        ],
        tmp,
    )?;
    let top = fs::read_dir(&unpacked)
        .map_err(|e| format!("cannot read {}: {e}", unpacked.display()))?
        .flatten()
        .map(|e| e.path())
        .next()
        .ok_or_else(|| format!("{} holds no tests/tcg/i386", orig.display()))?;
    let out = tmp.join("out");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let src = out.join("src");
    fs::rename(top.join("tests/tcg/i386"), &src)
        .map_err(|e| format!("{} has no tests/tcg/i386: {e}", orig.display()))?;
    let mut args: Vec<String> = TEST_I386_CFLAGS[..8]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["-o".into(), dir(&out.join("test-i386"))]);
    for file in ["test-i386.c", "test-i386-code16.S", "test-i386-vm86.S"] {
        args.push(dir(&src.join(file)));
    }
    args.push(TEST_I386_CFLAGS[8].into());
    run("gcc", &args, &src)?;
    eprintln!(
        "vmkit tests: built test-i386 from {}",
        orig.file_name().unwrap_or_default().to_string_lossy()
    );
    Ok(out)
}
