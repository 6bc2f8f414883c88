//! The x86 guest's file-system sandbox through `vmkit run`: by default the guest reads the
//! current directory tree and writes nothing; `--mount`, `--allow-write` and `--host-fs`
//! widen that; refusals are EACCES for the guest and visible in `--strace`.
//!
//! The guest is `tests/x86/cli/probe.c` (a tiny cat/write/ls/mkdir/rm/readlink), built with
//! `gcc -m32 -static` as in `x86_programs.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The probe program, built once per test run.
fn probe() -> &'static str {
    static PROBE: OnceLock<String> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vmkit-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("probe");
        vmkit_test_support::require_gcc_m32();
        let cc = Command::new("gcc")
            .args(["-m32", "-static", "-O2", "-o"])
            .arg(&exe)
            .arg(repo().join("tests/x86/cli/probe.c"))
            .output()
            .expect("gcc runs");
        assert!(
            cc.status.success(),
            "gcc -m32 -static failed (see docs/testing.md): {}",
            String::from_utf8_lossy(&cc.stderr)
        );
        exe.to_string_lossy().into_owned()
    })
}

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

/// `vmkit run FLAGS probe -- ARGS` in `dir`.
fn run_probe(dir: &Path, flags: &[&str], args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .arg("run")
        .args(flags)
        .arg(probe())
        .arg("--")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("vmkit runs");
    let o = Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stderr.contains("panicked"),
        "vmkit panicked: {}",
        o.stderr
    );
    o
}

/// A temporary tree: `work/` (the guest's current directory, with `notes.txt` and an empty
/// `out/`) and `elsewhere/` (outside it, with `secret.txt`).
struct Tree(PathBuf);

impl Tree {
    fn new(tag: &str) -> Tree {
        let root = std::env::temp_dir().join(format!("vmkit-sandbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("work/out")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::fs::write(root.join("work/notes.txt"), "inside\n").unwrap();
        std::fs::write(root.join("elsewhere/secret.txt"), "secret\n").unwrap();
        Tree(std::fs::canonicalize(root).unwrap())
    }
    fn work(&self) -> PathBuf {
        self.0.join("work")
    }
    fn secret(&self) -> String {
        self.0.join("elsewhere/secret.txt").display().to_string()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_current_directory_is_readable_and_nothing_else() {
    let t = Tree::new("read");
    let o = run_probe(&t.work(), &[], &["cat", "notes.txt"]);
    assert_eq!(
        (o.status, o.stdout.as_str()),
        (0, "inside\n"),
        "{}",
        o.stderr
    );
    // The same file by its absolute path: the tree is visible at its own path.
    let abs = t.work().join("notes.txt").display().to_string();
    let o = run_probe(&t.work(), &[], &["cat", &abs]);
    assert_eq!(o.stdout, "inside\n", "{}", o.stderr);

    let secret = t.secret();
    let o = run_probe(&t.work(), &[], &["cat", &secret]);
    assert_eq!(o.status, 1);
    assert_eq!(o.stdout, format!("probe: cat {secret}: EACCES\n"));
    // `..` cannot climb out either.
    let o = run_probe(&t.work(), &[], &["cat", "../elsewhere/secret.txt"]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);
    let o = run_probe(&t.work(), &[], &["cat", "/etc/passwd"]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);
}

#[test]
fn symlinks_out_of_the_sandbox_are_refused() {
    let t = Tree::new("links");
    std::os::unix::fs::symlink(t.secret(), t.work().join("escape")).unwrap();
    std::os::unix::fs::symlink(t.0.join("elsewhere"), t.work().join("escape_dir")).unwrap();
    std::os::unix::fs::symlink("notes.txt", t.work().join("fine")).unwrap();
    let o = run_probe(&t.work(), &[], &["cat", "escape"]);
    assert_eq!(o.stdout, "probe: cat escape: EACCES\n");
    let o = run_probe(&t.work(), &[], &["cat", "escape_dir/secret.txt"]);
    assert_eq!(o.stdout, "probe: cat escape_dir/secret.txt: EACCES\n");
    let o = run_probe(&t.work(), &[], &["cat", "fine"]);
    assert_eq!(o.stdout, "inside\n", "{}", o.stderr);
    // The link itself may be read (readlink does not follow it).
    let o = run_probe(&t.work(), &[], &["readlink", "escape"]);
    assert_eq!(o.stdout, format!("{}\n", t.secret()));
}

#[test]
fn writing_needs_allow_write() {
    let t = Tree::new("write");
    let o = run_probe(&t.work(), &[], &["write", "out/new.txt", "hello"]);
    assert_eq!(o.stdout, "probe: write out/new.txt: EACCES\n");
    assert!(!t.work().join("out/new.txt").exists());
    let o = run_probe(&t.work(), &[], &["write", "notes.txt", "clobbered"]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);
    assert_eq!(
        std::fs::read_to_string(t.work().join("notes.txt")).unwrap(),
        "inside\n"
    );
    let o = run_probe(&t.work(), &[], &["rm", "notes.txt"]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);

    let allow = ["--allow-write", "out"];
    let o = run_probe(&t.work(), &allow, &["write", "out/new.txt", "hello"]);
    assert_eq!(o.status, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(
        std::fs::read_to_string(t.work().join("out/new.txt")).unwrap(),
        "hello"
    );
    let o = run_probe(&t.work(), &allow, &["mkdir", "out/sub"]);
    assert_eq!(o.status, 0, "{}", o.stdout);
    assert!(t.work().join("out/sub").is_dir());
    let o = run_probe(&t.work(), &allow, &["rm", "out/new.txt"]);
    assert_eq!(o.status, 0, "{}", o.stdout);
    assert!(!t.work().join("out/new.txt").exists());
    // Outside the allowed directory nothing changed.
    let o = run_probe(&t.work(), &allow, &["write", "notes.txt", "clobbered"]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);
    // The allowed directory must be visible.
    let elsewhere = t.0.join("elsewhere").display().to_string();
    let o = run_probe(
        &t.work(),
        &["--allow-write", &elsewhere],
        &["cat", "notes.txt"],
    );
    assert_eq!(o.status, 1);
    assert!(
        o.stderr.contains("not visible to the guest"),
        "{}",
        o.stderr
    );
}

#[test]
fn mount_and_host_fs_widen_what_is_visible() {
    let t = Tree::new("mount");
    let elsewhere = t.0.join("elsewhere").display().to_string();
    let spec = format!("{elsewhere}:/data");
    let o = run_probe(&t.work(), &["--mount", &spec], &["cat", "/data/secret.txt"]);
    assert_eq!(
        (o.status, o.stdout.as_str()),
        (0, "secret\n"),
        "{}",
        o.stderr
    );
    // Only at the guest path: its host path stays invisible.
    let o = run_probe(&t.work(), &["--mount", &spec], &["cat", &t.secret()]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);
    // `/` lists the way down to the mounts and the devices.
    let o = run_probe(&t.work(), &["--mount", &spec], &["ls", "/"]);
    let top =
        t.0.components()
            .nth(1)
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
    let mut want = [".", "..", "data", "dev", top.as_str()];
    want.sort();
    assert_eq!(o.stdout, want.join("\n") + "\n", "{}", o.stderr);
    // Without a guest path, the mount appears at its host path; mounts are read-only.
    let o = run_probe(&t.work(), &["--mount", &elsewhere], &["cat", &t.secret()]);
    assert_eq!(o.stdout, "secret\n", "{}", o.stderr);
    let target = format!("{elsewhere}/new.txt");
    let o = run_probe(
        &t.work(),
        &["--mount", &elsewhere],
        &["write", &target, "x"],
    );
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);

    let o = run_probe(&t.work(), &["--host-fs"], &["cat", &t.secret()]);
    assert_eq!(o.stdout, "secret\n", "{}", o.stderr);
    let o = run_probe(&t.work(), &["--host-fs"], &["write", &target, "x"]);
    assert!(o.stdout.contains("EACCES"), "{}", o.stdout);
    assert!(!Path::new(&target).exists());
    let o = run_probe(
        &t.work(),
        &["--host-fs", "--allow-write", &elsewhere],
        &["write", &target, "x"],
    );
    assert_eq!(o.status, 0, "{}", o.stdout);
    assert!(Path::new(&target).exists());
}

#[test]
fn strace_shows_calls_and_refusals() {
    let t = Tree::new("strace");
    // The line of the first `openat` of `path` (glibc versions differ in whether they add
    // O_LARGEFILE, so the flags are matched by prefix).
    let openat = |stderr: &str, path: &str, flags: &str| -> String {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("openat(AT_FDCWD, \"{path}\", {flags}")))
            .unwrap_or_else(|| panic!("no openat of {path}: {stderr}"))
            .to_string()
    };
    let secret = t.secret();
    let o = run_probe(&t.work(), &["--strace"], &["cat", &secret]);
    let line = openat(&o.stderr, &secret, "O_RDONLY");
    assert!(
        line.ends_with(") = -1 EACCES (Permission denied: outside the sandbox)"),
        "{line}"
    );
    assert!(
        o.stderr
            .contains("exit_group(1) = ?\n+++ exited with 1 +++"),
        "{}",
        o.stderr
    );
    let o = run_probe(&t.work(), &["--strace"], &["write", "out/x", "hi"]);
    let line = openat(&o.stderr, "out/x", "O_WRONLY|O_CREAT|O_TRUNC");
    assert!(
        line.ends_with(", 0644) = -1 EACCES (Permission denied: read-only in the sandbox)"),
        "{line}"
    );
    let o = run_probe(&t.work(), &["--strace"], &["cat", "notes.txt"]);
    for want in [
        "read(3, \"inside\\n\", 4096) = 7",
        "write(1, \"inside\\n\", 7) = 7",
        "read(3, \"\", 4096) = 0",
    ] {
        assert!(o.stderr.contains(want), "{want}: {}", o.stderr);
    }
    let o = run_probe(&t.work(), &["--strace"], &["cat", "nope"]);
    let line = openat(&o.stderr, "nope", "O_RDONLY");
    assert!(
        line.ends_with(") = -1 ENOENT (No such file or directory)"),
        "{line}"
    );
}

#[test]
fn proc_self_exe_is_the_program() {
    let t = Tree::new("exe");
    let o = run_probe(&t.work(), &[], &["readlink", "/proc/self/exe"]);
    assert_eq!(o.stdout, format!("{}\n", probe()), "{}", o.stderr);
}
