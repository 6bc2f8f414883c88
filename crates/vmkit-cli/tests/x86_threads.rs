//! Threads on the x86 guest: every C file in `tests/x86/threads/` is built with
//! `gcc -m32 -static -pthread` at -O0 and -O2 and run natively and under `vmkit run`; stdout,
//! stderr and the exit status must be the same. Files whose header starts `vmkit-only:`
//! cannot be compared with native (their output depends on the interleaving, or natively
//! they hang) and have their own tests here: the same interleaving on every run, and a
//! guest deadlock that ends with a clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/x86/threads")
}

fn out_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmkit-x86-threads-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn build(name: &str, opt: &str, dir: &Path) -> PathBuf {
    let exe = dir.join(format!("{name}{opt}"));
    vmkit_test_support::build_i386(
        &sources().join(format!("{name}.c")),
        &exe,
        &[opt, "-pthread"],
    );
    exe
}

/// Runs `cmd` to its end, or kills it after two minutes (a hang is a failure, not a
/// stuck test run).
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn vmkit(exe: &Path) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .arg("run")
        .arg(exe))
}

#[test]
fn threaded_programs_behave_as_natively() {
    let dir = out_dir("native");
    let mut names: Vec<String> = std::fs::read_dir(sources())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap()
                .starts_with("/* vmkit-only:")
        })
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        for opt in ["-O0", "-O2"] {
            let exe = build(name, opt, &dir);
            let native = run(&mut Command::new(&exe));
            let guest = vmkit(&exe);
            if native.stdout != guest.stdout
                || native.stderr != guest.stderr
                || native.status.code() != guest.status.code()
            {
                failures.push(format!(
                    "{name}{opt}: native {:?}\n{}{}\nvmkit {:?}\n{}{}",
                    native.status.code(),
                    String::from_utf8_lossy(&native.stdout),
                    String::from_utf8_lossy(&native.stderr),
                    guest.status.code(),
                    String::from_utf8_lossy(&guest.stdout),
                    String::from_utf8_lossy(&guest.stderr)
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Threads printing without synchronisation: the interleaving shows in the output (and a
/// racy counter loses updates), and two runs under vmkit print the same bytes, with or
/// without `--strace`.
#[test]
fn the_interleaving_is_the_same_on_every_run() {
    let dir = out_dir("interleave");
    for opt in ["-O0", "-O2"] {
        let exe = build("interleave", opt, &dir);
        let first = vmkit(&exe);
        let second = vmkit(&exe);
        assert_eq!(first.status.code(), Some(0), "{first:?}");
        assert_eq!(first.stdout, second.stdout, "{opt}: two runs differ");
        // Logging the calls changes nothing: threads switch at the same instructions.
        let traced = run(Command::new(env!("CARGO_BIN_EXE_vmkit"))
            .args(["run", "--strace"])
            .arg(&exe));
        assert_eq!(
            first.stdout, traced.stdout,
            "{opt}: --strace changed the run"
        );
        let text = String::from_utf8(first.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4 * 40 + 1, "{text}");
        // The threads really interleave: thread 1 prints before thread 0 is done.
        let first_of_1 = lines
            .iter()
            .position(|l| l.starts_with("thread 1 "))
            .unwrap();
        let last_of_0 = lines
            .iter()
            .rposition(|l| l.starts_with("thread 0 "))
            .unwrap();
        assert!(first_of_1 < last_of_0, "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two threads each waiting for the other's mutex: natively a hang; vmkit ends the
/// process with status 125 and names the waits.
#[test]
fn a_guest_deadlock_ends_with_a_clear_error() {
    let dir = out_dir("deadlock");
    let exe = build("deadlock", "-O2", &dir);
    let out = vmkit(&exe);
    assert_eq!(out.stdout, b"both hold one\n");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "vmkit: deadlock: every guest thread waits with no timeout (thread 1000 on futex 0x"
        ) && err.contains("thread 1001 on futex"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
