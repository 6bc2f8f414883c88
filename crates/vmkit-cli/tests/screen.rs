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
