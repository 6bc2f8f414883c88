//! The x86 guest's memory, as a user of `vmkit run` sees it: a clear error under an
//! address-space limit, host memory that follows what the guest touches, `--memory-limit`,
//! and the addresses a guest may not map. (The edges Linux and vmkit share are compared with
//! the real CPU by `tests/x86/memory.c` in `x86_programs.rs`.) The programs are built with
//! `gcc -m32 -static`, as there; without gcc-multilib these tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn vmkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vmkit"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A program built for a test; its directory goes when the test ends.
struct Built(PathBuf);

impl std::ops::Deref for Built {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Built {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Builds `source` as a static i386 program in a fresh directory.
fn build(name: &str, source: &str) -> Built {
    let dir = std::env::temp_dir().join(format!("vmkit-x86-memory-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let exe = dir.join(name);
    vmkit_test_support::build_i386(&src, &exe, &["-O1"]);
    Built(exe)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `vmkit ARGS` under `ulimit -v KIB` in a shell.
fn under_ulimit_v(kib: u64, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_vmkit"))
        .args(args)
        .current_dir(repo());
    cmd.output().unwrap()
}

#[test]
fn an_address_space_limit_below_4_gib_is_a_clear_error() {
    let hello = build(
        "hello",
        "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    );
    let hello = hello.to_str().unwrap();
    for args in [
        &[
            "run",
            "--arch",
            "x86",
            "--raw",
            "examples/x86/pyvm_hello.bin",
        ][..],
        &["run", hello][..],
    ] {
        let out = under_ulimit_v(4_000_000, args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.contains("cannot reserve 4 GiB of host address space")
                && err.contains("(ulimit -v) is 4000000 KiB"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    // The native machine at the same limit is unaffected.
    let out = under_ulimit_v(4_000_000, &["run", "examples/hello.s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The guest maps far more than it touches; munmap gives memory back.
const MAP_A_LOT: &str = r#"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
static void touch(char *p, long len) { for (long i = 0; i < len; i += 4096) p[i] = 1; }
int main(void) {
    /* 1.5 GiB mapped and never touched. */
    char *keep[24];
    int n = 0;
    for (; n < 24; n++) {
        keep[n] = mmap(0, 64 << 20, RW, ANON, -1, 0);
        if (keep[n] == MAP_FAILED) break;
    }
    for (int i = 0; i < n; i++) munmap(keep[i], 64 << 20);
    /* 64 MiB touched, unmapped, mapped again: eight times. */
    for (int r = 0; r < 8; r++) {
        char *p = mmap(0, 64 << 20, RW, ANON, -1, 0);
        touch(p, 64 << 20);
        munmap(p, 64 << 20);
    }
    /* 64 MiB touched, dropped with MADV_DONTNEED, touched again: eight times. */
    char *p = mmap(0, 64 << 20, RW, ANON, -1, 0);
    for (int r = 0; r < 8; r++) {
        touch(p, 64 << 20);
        madvise(p, 64 << 20, MADV_DONTNEED);
    }
    /* A 512 MiB heap that is never used. */
    void *heap = sbrk(512 << 20);
    printf("%d %d\n", n, heap != (void *)-1);
    return 0;
}
"#;

/// Runs `cmd` to the end and returns its output with its peak resident set in KiB.
// The child is reaped by wait4, which also gives its resource usage; std cannot.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> (Output, i64) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = std::thread::scope(|s| {
        let stdout = s.spawn(|| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut child.stdout.unwrap(), &mut v).unwrap();
            v
        });
        let stderr = s.spawn(|| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut child.stderr.unwrap(), &mut v).unwrap();
            v
        });
        (stdout.join().unwrap(), stderr.join().unwrap())
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for this child, which std has
    // not waited for (the Child handle was consumed above without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for writes during the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    use std::os::unix::process::ExitStatusExt;
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: std::mem::take(&mut out.0),
        stderr: std::mem::take(&mut out.1),
    };
    (output, usage.ru_maxrss)
}

#[test]
fn host_memory_follows_what_the_guest_touches() {
    let exe = build("map_a_lot", MAP_A_LOT);
    let (out, max_rss_kib) = run_measured(vmkit().arg("run").arg(&exe));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "24 1\n");
    // 64 MiB touched at a time, plus vmkit itself; it was 2 GiB and more when mapped memory
    // was zero-filled up front and unmapped memory kept.
    assert!(
        max_rss_kib < 160 << 10,
        "peak resident set {} MiB",
        max_rss_kib >> 10
    );
}

/// Maps 1 MiB at a time until refused, then asks malloc and brk for more.
const UNTIL_REFUSED: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    if (rl.rlim_cur == RLIM_INFINITY) printf("RLIMIT_AS: unlimited\n");
    else printf("RLIMIT_AS: %lu MiB\n", (unsigned long)(rl.rlim_cur >> 20));
    /* An unprivileged process cannot raise its hard limit. */
    if (rl.rlim_max != RLIM_INFINITY) {
        rl.rlim_max += 1 << 20;
        printf("raise: %s\n", setrlimit(RLIMIT_AS, &rl) == -1 && errno == EPERM ? "EPERM" : "ok");
    }
    int n = 0;
    for (; n < 256; n++) {
        if (mmap(0, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) break;
    }
    printf("mmap: %d MiB, %s\n", n, n < 256 && errno == ENOMEM ? "ENOMEM" : "-");
    errno = 0;
    void *heap = sbrk(1 << 20);
    printf("sbrk: %s\n", heap == (void *)-1 && errno == ENOMEM ? "ENOMEM" : "ok");
    printf("malloc: %s\n", malloc(8 << 20) ? "ok" : "NULL");
    return 0;
}
"#;

#[test]
fn the_memory_limit_is_enomem_for_the_guest() {
    let exe = build("until_refused", UNTIL_REFUSED);
    let out = vmkit()
        .args(["run", "--memory-limit", "64M"])
        .arg(&exe)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // The program and its 8 MiB stack count too, as under `ulimit -v`.
    let stdout = stdout
        .strip_prefix("RLIMIT_AS: 64 MiB\nraise: EPERM\n")
        .unwrap_or_else(|| panic!("{stdout}"));
    let mib: u32 = stdout
        .strip_prefix("mmap: ")
        .and_then(|s| s.split_once(' '))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!((40..56).contains(&mib), "{stdout}");
    assert!(
        stdout.ends_with(", ENOMEM\nsbrk: ENOMEM\nmalloc: NULL\n"),
        "{stdout}"
    );
    // Without the limit, nothing is refused.
    let out = vmkit().arg("run").arg(&exe).output().unwrap();
    assert_eq!(
        text(&out.stdout),
        "RLIMIT_AS: unlimited\nmmap: 256 MiB, -\nsbrk: ok\nmalloc: ok\n"
    );
    // A bad size is a usage error.
    let out = vmkit()
        .args(["run", "--memory-limit", "lots"])
        .arg(&exe)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A native program has no use for it: refused as a usage error, not ignored.
    let out = vmkit()
        .args(["run", "--memory-limit", "64M", "examples/hello.s"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--memory-limit applies to x86 programs"));
}

/// What an unprivileged i386 process under a 32-bit kernel may map (vmkit's model).
const LOW_AND_HIGH: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
static void show(const char *what, void *p) {
    if (p == MAP_FAILED) printf("%s: %s\n", what, strerror(errno));
    else printf("%s: %#lx\n", what, (unsigned long)p);
}
int main(void) {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    show("fixed at 0", mmap(0, 4096, PROT_READ, flags, -1, 0));
    show("fixed at 0xf000", mmap((void *)0xf000, 4096, PROT_READ, flags, -1, 0));
    show("hint 0x1000", mmap((void *)0x1000, 4096, PROT_READ, flags & ~MAP_FIXED, -1, 0));
    show("fixed at 0x10000", mmap((void *)0x10000, 4096, PROT_READ, flags, -1, 0));
    show("fixed at 0xbffff000", mmap((void *)0xbffff000, 8192, PROT_READ, flags, -1, 0));
    show("fixed at 0xd0000000", mmap((void *)0xd0000000, 4096, PROT_READ, flags, -1, 0));
    show("hint 0xd0000000", mmap((void *)0xd0000000, 4096, PROT_READ, flags & ~MAP_FIXED, -1, 0));
    return 0;
}
"#;

#[test]
fn null_pages_and_kernel_space_cannot_be_mapped() {
    let exe = build("low_and_high", LOW_AND_HIGH);
    let out = vmkit().arg("run").arg(&exe).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "fixed at 0: Operation not permitted\n\
         fixed at 0xf000: Operation not permitted\n\
         hint 0x1000: 0x10000\n\
         fixed at 0x10000: 0x10000\n\
         fixed at 0xbffff000: Cannot allocate memory\n\
         fixed at 0xd0000000: Cannot allocate memory\n\
         hint 0xd0000000: 0x40000000\n"
    );
}
