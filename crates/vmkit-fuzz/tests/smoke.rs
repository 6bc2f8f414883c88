//! A short run of every fuzz target, as part of the test suite: the seeds and a fixed,
//! deterministic sequence of mutated inputs must run without a panic, a hang or a memory
//! blow-up. Longer runs are for people (docs/testing.md); this catches a regression that
//! the seeds or the first few thousand mutations already reach.

use std::path::PathBuf;
use std::process::Command;

/// Runs `vmkit-fuzz TARGET` for `runs` mutated inputs (or 20 s, whichever comes first).
fn smoke(target: &str, runs: u64) {
    let crashes = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-smoke-{target}"));
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit-fuzz"))
        .args([target, "--seed", "1", "--quiet", "--timeout", "20"])
        .args(["--runs", &runs.to_string(), "--time", "20"])
        .arg("--crashes")
        .arg(&crashes)
        .output()
        .expect("vmkit-fuzz runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vmkit-fuzz {target} found something (status {:?}); the input is in {}:\n{stdout}\n{stderr}",
        out.status.code(),
        crashes.display()
    );
    assert!(stdout.contains(&format!("{target}: ")), "{stdout}");
}

#[test]
fn assembler_smoke() {
    smoke("asm", 2000);
}

#[test]
fn image_loader_smoke() {
    smoke("image", 2000);
}

#[test]
fn devirtualizer_smoke() {
    smoke("devirt", 8);
}

#[test]
fn x86_engine_smoke() {
    smoke("x86", 500);
}

#[test]
fn elf_loader_smoke() {
    smoke("elf", 500);
}
