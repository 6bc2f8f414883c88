//! System calls vmkit lacks, and the closed network (`tests/x86/syscalls/`): built with
//! `gcc -m32 -static`, run natively and under `vmkit run`.
//!
//! - An unknown call returns `-ENOSYS` and the program goes on, as on Linux (compared with
//!   native); `--strace` marks it; `--strict-syscalls` stops the guest instead (status 159).
//! - A local `AF_UNIX` socket pair behaves as natively (compared with native).
//! - `modify_ldt` writes and reads descriptors as the kernel does, and LDT segments work in
//!   fs, gs and cs (`lar`, `lsl`, a far call into an LDT code segment; compared with
//!   native).
//! - Sockets of other families, and connections out of the guest, are refused: natively
//!   they succeed, so the expected output is written here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds `tests/x86/syscalls/NAME.c` into a fresh temporary directory of its own (two
/// tests may build the same program at once, and each removes its directory when done).
fn build(name: &str) -> (PathBuf, PathBuf) {
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "vmkit-x86-syscalls-{name}-{}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(name);
    let src = repo().join("tests/x86/syscalls").join(format!("{name}.c"));
    vmkit_test_support::build_i386(&src, &exe, &["-O2"]);
    (dir, exe)
}

fn vmkit(flags: &[&str], exe: &Path, cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .arg("run")
        .args(flags)
        .arg(exe)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The same stdout, stderr and status natively and under vmkit.
fn same_as_native(name: &str) {
    let (dir, exe) = build(name);
    let native = Command::new(&exe).current_dir(&dir).output().unwrap();
    let guest = vmkit(&[], &exe, &dir);
    assert_eq!(
        (
            guest.status.code(),
            text(&guest.stdout),
            text(&guest.stderr)
        ),
        (
            native.status.code(),
            text(&native.stdout),
            text(&native.stderr)
        ),
        "{name}: vmkit (left) against native (right)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_calls_fail_with_enosys_and_the_program_goes_on() {
    same_as_native("enosys");
}

#[test]
fn strace_marks_enosys_and_strict_syscalls_stops() {
    let (dir, exe) = build("enosys");
    let o = vmkit(&["--strace"], &exe, &dir);
    assert_eq!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(
        err.contains("unknown(0x1, 0x2, 0x3) = -1 ENOSYS (not implemented by vmkit)"),
        "{err}"
    );
    let o = vmkit(&["--strict-syscalls"], &exe, &dir);
    assert_eq!(o.status.code(), Some(159), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("unsupported system call 222 (unknown)"),
        "{}",
        text(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_socketpair_works_as_natively() {
    same_as_native("socketpair");
}

#[test]
fn modify_ldt_and_ldt_segments_work_as_natively() {
    same_as_native("ldt");
}

#[test]
fn the_network_is_closed() {
    let (dir, exe) = build("network");
    std::fs::copy(
        repo().join("tests/x86/syscalls/network.c"),
        dir.join("network.c"),
    )
    .unwrap();
    let o = vmkit(&["--strace"], &exe, &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "socket(AF_INET, SOCK_STREAM): -1 Permission denied\n\
         socket(AF_INET, SOCK_DGRAM): -1 Permission denied\n\
         socket(AF_INET6, SOCK_STREAM): -1 Permission denied\n\
         socket(AF_NETLINK, SOCK_RAW): -1 Permission denied\n\
         socketpair(AF_INET): -1 Permission denied\n\
         socket(AF_UNIX): ok\n\
         connect(nscd): -1 No such file or directory\n\
         connect(a visible file): -1 Connection refused\n\
         connect(abstract): -1 Connection refused\n\
         bind: -1 Permission denied\n\
         listen: -1 Permission denied\n\
         connect(AF_INET address): -1 Permission denied\n\
         connect(not a socket): -1 Socket operation on non-socket\n\
         close: ok\n"
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("socketcall(1, 0x")
            && err.contains(
                ") = -1 EACCES (Permission denied: the network is closed in the sandbox)"
            ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
