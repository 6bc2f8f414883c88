//! Flags meant for one guest are refused on the other, in clap's way (usage error, status
//! 2), instead of being silently ignored; and a file that is ELF but not an i386 executable
//! is named for what it is.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vmkit(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("vmkit runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

/// Asserts a usage error whose first line is `error: {message}`.
fn refused(args: &[&str], message: &str) {
    let (status, stderr) = vmkit(args);
    assert_eq!(status, 2, "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().next(),
        Some(format!("error: {message}").as_str()),
        "{args:?}"
    );
    assert!(stderr.contains("Usage: vmkit "), "{stderr}");
}

const NATIVE: &str = "examples/fib.s";
const X86: [&str; 4] = ["--arch", "x86", "--raw", "examples/x86/pyvm_hello.bin"];

#[test]
fn x86_flags_are_refused_on_a_native_program() {
    let native = |flag: &str| {
        format!("{flag} applies to x86 programs; examples/fib.s is a vmkit native program")
    };
    for (args, flag) in [
        (vec!["--strace"], "--strace"),
        (vec!["--clear-env"], "--clear-env"),
        (vec!["--env", "A=1"], "--env"),
        (vec!["--mount", "/tmp"], "--mount"),
        (vec!["--allow-write", "."], "--allow-write"),
        (vec!["--host-fs"], "--host-fs"),
        (vec!["--arch", "native", "--raw"], "--raw"),
    ] {
        let mut all = vec!["run"];
        all.extend(args);
        all.push(NATIVE);
        refused(&all, &native(flag));
    }
    refused(
        &["run", NATIVE, "--", "arg"],
        "program arguments apply to x86 programs; examples/fib.s is a vmkit native program",
    );
    refused(
        &["trace", NATIVE, "--", "arg"],
        "program arguments apply to x86 programs; examples/fib.s is a vmkit native program",
    );
    refused(
        &["run", "--base", "0x1000", NATIVE],
        "--base applies to flat code (--arch x86 --raw)",
    );
}

#[test]
fn native_flags_are_refused_on_an_x86_program() {
    let x86 = |flag: &str| {
        format!("{flag} applies to vmkit native programs; examples/x86/pyvm_hello.bin is an x86 program")
    };
    for (args, flag) in [
        (vec!["--grant", "."], "--grant"),
        (vec!["--dump-regs", "--json"], "--json"),
        (vec!["--screen"], "--screen"),
        (vec!["--memory", "1M"], "--memory"),
        (vec!["--stack", "64K"], "--stack"),
        (vec!["--wx"], "--wx"),
    ] {
        for sub in ["run", "trace"] {
            if sub == "trace" && (flag == "--json" || flag == "--screen") {
                continue; // trace's --json is its own output form; it has no --screen
            }
            let mut all = vec![sub];
            all.extend(args.iter().copied());
            all.extend(X86);
            refused(&all, &x86(flag));
        }
    }
}

#[test]
fn flags_for_the_right_guest_still_work() {
    let (status, stderr) = vmkit(&["run", "--grant", ".", "--memory", "1M", NATIVE]);
    assert_eq!(status, 0, "{stderr}");
    let mut args = vec![
        "run",
        "--strace",
        "--clear-env",
        "--env",
        "A=1",
        "--base",
        "0",
    ];
    args.extend(X86);
    let (status, stderr) = vmkit(&args);
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("write(1"), "--strace logs: {stderr}");
}

/// A minimal ELF header: class, byte order, type and machine; the rest zero.
fn elf(class: u8, data: u8, kind: u16, machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = data;
    h[6] = 1;
    let (k, m) = if data == 2 {
        (kind.to_be_bytes(), machine.to_be_bytes())
    } else {
        (kind.to_le_bytes(), machine.to_le_bytes())
    };
    h[16..18].copy_from_slice(&k);
    h[18..20].copy_from_slice(&m);
    h
}

#[test]
fn other_elf_files_are_named_for_what_they_are() {
    let dir = std::env::temp_dir().join(format!("vmkit-elf-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes, what) in [
        ("x64", elf(2, 1, 2, 62), "an ELF64 x86-64 executable"),
        ("arm", elf(1, 1, 2, 40), "an ELF32 ARM executable"),
        (
            "mips",
            elf(1, 2, 2, 8),
            "an ELF32 big-endian MIPS executable",
        ),
        (
            "obj",
            elf(1, 1, 1, 3),
            "an ELF32 i386 relocatable object file (.o)",
        ),
        (
            "lib",
            elf(1, 1, 3, 3),
            "an ELF32 i386 shared library (ET_DYN without an entry point)",
        ),
        ("core", elf(1, 1, 4, 3), "an ELF32 i386 core dump"),
        (
            "a64",
            elf(2, 1, 3, 183),
            "an ELF64 AArch64 shared library or position-independent executable",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        for sub in ["run", "trace"] {
            let (status, stderr) = vmkit(&[sub, path.to_str().unwrap()]);
            assert_eq!(status, 1, "{stderr}");
            assert!(
                stderr.contains(&format!(": this is {what}; vmkit runs i386 programs (ELF32 executables, little-endian, EM_386)")),
                "{name}: {stderr}"
            );
        }
    }
    std::fs::write(dir.join("short"), b"\x7fELF\x01").unwrap();
    let (status, stderr) = vmkit(&["run", dir.join("short").to_str().unwrap()]);
    assert_eq!(status, 1);
    assert!(stderr.contains("the ELF header is truncated"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
