//! `vmkit run --screen`: the keyboard is stdin, and when stdin ends the keyboard says so
//! (status 2), so `examples/screen.s` finishes instead of polling until the step limit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `vmkit run --screen --max-steps 50000000 examples/screen.s` with `stdin` as its input.
fn screen(stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args([
            "run",
            "--screen",
            "--max-steps",
            "50000000",
            "examples/screen.s",
        ])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmkit runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_screen_example_ends_when_the_input_ends_without_a_key() {
    let out = screen(b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no key: the input ended"), "{stdout}");
}

#[test]
fn a_key_before_the_end_of_input_is_still_delivered() {
    let out = screen(b"q");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("key: q"), "{stdout}");
    assert!(!stdout.contains("no key"), "{stdout}");
}

/// Without `--screen` no keyboard is attached, so the example waits for a key that never
/// comes. A newcomer who forgets the flag must not face a silent hang: once the program has
/// drawn on the screen and is still running, one hint names the flag.
#[test]
fn without_screen_a_program_waiting_on_the_screen_gets_a_hint() {
    // One slice of the run (2^28 instructions) and a little more: the hint comes between them.
    let steps = ((1u64 << 28) + 1000).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(["run", "--max-steps", &steps, "examples/screen.s"])
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("vmkit runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    assert_eq!(
        stderr.matches("run it with --screen").count(),
        1,
        "one hint: {stderr}"
    );
    // A program that never draws gets none, however long it runs.
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(["run", "--max-steps", &steps, "examples/sieve.s"])
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("vmkit runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--screen"));
}
