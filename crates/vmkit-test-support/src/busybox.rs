//! Debian's busybox-static for i386, fetched into `target/busybox-i386/` on first use.
//!
//! apt is pointed at a private state directory (package lists, cache, an empty dpkg status)
//! inside a temporary directory under `target/`, with i386 as its only architecture. So the
//! fetch needs no root: no `dpkg --add-architecture i386` and no system `apt-get update`.
//! The system's sources and keys (`/etc/apt`) are used as they are, so a mirror or proxy
//! configured there applies. The package is unpacked with `dpkg-deb -x`, never installed.
//!
//! Concurrency: a `flock` on `target/busybox-i386.lock` lets one fetch run at a time; the
//! others wait, then find the binary. The tree is unpacked in a temporary directory and
//! renamed into place, so `target/busybox-i386/bin/busybox` either exists complete or not
//! at all, even if a fetch is killed half way.

use crate::apt::{make_once, Apt};
use crate::{tail, target_dir};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Debian package the tests run.
pub const BUSYBOX_PACKAGE: &str = "busybox-static:i386";

/// Where the binary lives once fetched: `target/busybox-i386/bin/busybox`.
pub fn busybox_path() -> PathBuf {
    target_dir().join("busybox-i386/bin/busybox")
}

/// The busybox binary, fetched first if it is missing. Panics, with the reason and the
/// commands that would do it by hand, if it cannot be fetched: a test that needs it fails at
/// once rather than skipping.
pub fn busybox_i386() -> PathBuf {
    // One attempt per test binary: threads that ask after a failure get the same answer
    // instead of each retrying a slow download.
    static FETCHED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FETCHED.get_or_init(fetch_busybox_i386) {
        Ok(path) => path.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// Fetches and unpacks busybox-static:i386 unless it is already there; returns the binary's
/// path, or why it could not be fetched and how to do it by hand.
pub fn fetch_busybox_i386() -> Result<PathBuf, String> {
    let bin = busybox_path();
    let announce = format!(
        "vmkit tests: fetching Debian's {BUSYBOX_PACKAGE} into {} (once; apt-get download, no root needed)",
        target_dir().join("busybox-i386").display()
    );
    // A tree without the binary (an old partial unpack by hand) is replaced.
    match make_once(
        "busybox-i386",
        || is_executable(&bin),
        &announce,
        download_and_unpack,
    ) {
        Ok(()) if is_executable(&bin) => Ok(bin),
        Ok(()) => Err(format!(
            "{} is not an executable after unpacking\n\n{}",
            bin.display(),
            by_hand()
        )),
        Err(why) => Err(format!(
            "cannot fetch Debian's {BUSYBOX_PACKAGE}: {why}\n\n{}",
            by_hand()
        )),
    }
}

/// Downloads the package with a private apt state under `tmp` and unpacks it; returns the
/// unpacked root (which has `bin/busybox`).
fn download_and_unpack(tmp: &Path) -> Result<PathBuf, String> {
    let apt = Apt::i386(&tmp.join("apt"))?;
    let debs = tmp.join("deb");
    fs::create_dir_all(&debs).map_err(|e| format!("cannot create {}: {e}", debs.display()))?;
    apt.run("apt-get", &["update"], tmp)?;
    apt.run("apt-get", &["download", BUSYBOX_PACKAGE], &debs)?;

    let deb = fs::read_dir(&debs)
        .map_err(|e| format!("cannot read {}: {e}", debs.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download left no .deb in {}", debs.display()))?;
    let root = tmp.join("root");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .output()
        .map_err(|e| format!("cannot run dpkg-deb ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "`dpkg-deb -x {}` failed:\n{}",
            deb.display(),
            tail(&out.stderr, 12)
        ));
    }
    if !is_executable(&root.join("bin/busybox")) {
        return Err(format!("{} has no bin/busybox", deb.display()));
    }
    eprintln!(
        "vmkit tests: unpacked {}",
        deb.file_name().unwrap_or_default().to_string_lossy()
    );
    Ok(root)
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The same steps by hand, for when the automatic fetch cannot work here.
fn by_hand() -> String {
    let target = target_dir();
    format!(
        "The busybox tests need Debian's {BUSYBOX_PACKAGE} unpacked at {}.\n\
         Retry the automatic fetch with `.ci/fetch-busybox`, or do it by hand (the first two \
         commands as root, once):\n\
         \n    dpkg --add-architecture i386\
         \n    apt-get update\
         \n    cd {} && apt-get download {BUSYBOX_PACKAGE} && dpkg-deb -x busybox-static_*_i386.deb busybox-i386\n",
        busybox_path().display(),
        target.display()
    )
}
