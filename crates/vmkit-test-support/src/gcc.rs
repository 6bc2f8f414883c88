//! A working `gcc -m32 -static`, which the x86 tests use to build real i386 programs
//! (Debian's gcc-multilib: the 32-bit libc, libm and libgcc).
//!
//! It is a system package, so it cannot live under `target/`. Run as root (CI, a fresh
//! container), the tests install it with apt, as `.ci/run` used to before running them;
//! anyone else gets a failure at once that names the exact command. Setting
//! `VMKIT_TEST_NO_INSTALL=1` turns the install off for root too.

use crate::lock::FileLock;
use crate::{running_as_root, tail, target_dir};
use std::fs;
use std::process::Command;
use std::sync::OnceLock;

/// Set (to anything) to stop the tests from installing gcc-multilib even as root.
pub const NO_INSTALL_VAR: &str = "VMKIT_TEST_NO_INSTALL";

/// The command a user runs to get what is missing.
const INSTALL_COMMAND: &str = "sudo apt-get install gcc-multilib";

/// Makes sure `gcc -m32 -static` works, installing gcc-multilib if the tests run as root;
/// panics with the exact command to run otherwise. Checked once per test binary.
pub fn require_gcc_m32() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(why) = CHECKED.get_or_init(ensure_gcc_m32) {
        panic!("{why}");
    }
}

/// [`require_gcc_m32`] as a `Result`: `Err` says what failed and what to run.
pub fn ensure_gcc_m32() -> Result<(), String> {
    let Err(first) = gcc_m32_works() else {
        return Ok(());
    };
    let missing = |detail: &str| {
        format!(
            "`gcc -m32 -static` does not work here, and the x86 tests build i386 programs with it.\n\
             {detail}\nInstall Debian's gcc-multilib, then run the tests again:\n\n    {INSTALL_COMMAND}\n\n\
             gcc said:\n{first}"
        )
    };
    if !running_as_root() {
        return Err(missing(
            "The tests install it themselves only when run as root.",
        ));
    }
    if std::env::var_os(NO_INSTALL_VAR).is_some() {
        return Err(missing(&format!(
            "{NO_INSTALL_VAR} is set, so the tests do not install it."
        )));
    }
    // One install at a time across test binaries; the others then find gcc working.
    let target = target_dir();
    let _ = fs::create_dir_all(&target);
    let _lock = FileLock::exclusive(&target.join("gcc-multilib.lock"))
        .map_err(|e| missing(&format!("Cannot lock in {}: {e}", target.display())))?;
    if gcc_m32_works().is_ok() {
        return Ok(());
    }
    eprintln!(
        "vmkit tests: installing gcc-multilib with apt-get, for `gcc -m32 -static` \
         (running as root; set {NO_INSTALL_VAR}=1 to be asked instead)"
    );
    // The package lists of a fresh machine may be missing or stale: update, then retry.
    let installed =
        apt_get(&["install", "-y", "--no-install-recommends", "gcc-multilib"]).or_else(|_| {
            apt_get(&["update"])?;
            apt_get(&["install", "-y", "--no-install-recommends", "gcc-multilib"])
        });
    if let Err(why) = installed {
        return Err(missing(&format!("Installing it failed:\n{why}")));
    }
    gcc_m32_works().map_err(|why| {
        missing(&format!(
            "gcc-multilib was installed, but gcc still fails:\n{why}"
        ))
    })
}

/// Runs `apt-get -q ARGS` non-interactively, waiting for another apt to finish first.
fn apt_get(args: &[&str]) -> Result<(), String> {
    let out = Command::new("apt-get")
        .args(["-q", "-o", "DPkg::Lock::Timeout=300"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`apt-get {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            tail(&[out.stdout, out.stderr].concat(), 12)
        ))
    }
}

/// Builds a tiny static i386 program that uses libc and libm, as the tests' programs do.
fn gcc_m32_works() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("vmkit-gcc-m32-check-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let src = dir.join("check.c");
    let exe = dir.join("check");
    let result = fs::write(
        &src,
        "#include <math.h>\n#include <stdio.h>\nint main(int c, char **v) { printf(\"%f\\n\", sqrt(c)); return v[0][0] == 0; }\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", src.display()))
    .and_then(|()| {
        let out = Command::new("gcc")
            .args(["-m32", "-static", "-O2", "-o"])
            .arg(&exe)
            .arg(&src)
            .arg("-lm")
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| format!("    cannot run gcc: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(tail(&out.stderr, 6))
        }
    });
    let _ = fs::remove_dir_all(&dir);
    result
}

/// Builds `src` (C) into the static i386 executable `exe` with `gcc -m32 -static`, `flags`
/// (optimisation, libraries) given after them; installs or asks for gcc-multilib first, as
/// [`require_gcc_m32`] does. Panics with gcc's message when the source does not build.
pub fn build_i386(src: &std::path::Path, exe: &std::path::Path, flags: &[&str]) {
    if let Err(why) = try_build_i386(src, exe, flags) {
        panic!("{why}");
    }
}

/// [`build_i386`] as a `Result`.
pub fn try_build_i386(
    src: &std::path::Path,
    exe: &std::path::Path,
    flags: &[&str],
) -> Result<(), String> {
    ensure_gcc_m32()?;
    let out = Command::new("gcc")
        .args(["-m32", "-static", "-o"])
        .arg(exe)
        .arg(src)
        .args(flags)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc -m32 -static {} failed (gcc -m32 itself works here, so the source is at fault):\n{}",
            src.display(),
            tail(&out.stderr, 20)
        ));
    }
    Ok(())
}
