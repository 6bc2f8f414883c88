//! `vmkit trace` of x86 programs: one line per instruction with the registers and flags it
//! changed, exact (the reference engine), with the guest's output after the line of the
//! instruction that wrote it. Needs `gcc -m32` (gcc-multilib), as the other x86 tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vmkit(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(args)
        .current_dir(repo())
        // The guest's stack holds the environment: an empty one keeps esp the same.
        .env_clear()
        .output()
        .expect("vmkit runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    out
}

/// Builds `src` (relative to the repository) with gcc -m32 -static and `flags` into a
/// fresh directory; returns the executable's path.
fn build(src: &str, name: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmkit-x86-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(name);
    vmkit_test_support::build_i386(&repo().join(src), &exe, flags);
    exe
}

/// The ELF entry point (e_entry of an ELF32 file).
fn entry(exe: &Path) -> u32 {
    let bytes = std::fs::read(exe).unwrap();
    u32::from_le_bytes(bytes[24..28].try_into().unwrap())
}

#[test]
fn the_pyvm_example_traces_line_by_line_with_its_output_in_place() {
    let out = vmkit(&[
        "trace",
        "--arch",
        "x86",
        "--raw",
        "examples/x86/pyvm_hello.bin",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert_eq!(
        lines[0],
        "0x00000000  mov eax,4                        eax=0x4"
    );
    assert_eq!(
        lines[3],
        "0x0000000f  mov edx,0xE                      edx=0xe"
    );
    // The write returns the byte count in eax; its output follows its line.
    assert_eq!(
        lines[4],
        "0x00000014  int 0x80                         eax=0xe"
    );
    assert_eq!(lines[5], "Hello, world!");
    assert_eq!(lines[9], "0x00000027  int 0x80");
}

#[test]
fn max_steps_stops_the_trace_with_status_124() {
    let out = vmkit(&[
        "trace",
        "--max-steps",
        "2",
        "--json",
        "--arch",
        "x86",
        "--raw",
        "examples/x86/pyvm_hello.bin",
    ]);
    assert_eq!(out.status.code(), Some(124));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "{\"step\":1,\"eip\":0,\"instr\":\"mov eax,4\",\"changed\":{\"eax\":4},\"eflags\":514}\n\
         {\"step\":2,\"eip\":5,\"instr\":\"mov ebx,1\",\"changed\":{\"ebx\":1},\"eflags\":514}\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped after 2 instructions"));
}

#[test]
fn a_program_without_libc_traces_to_its_exit() {
    let exe = build(
        "tests/x86/trace/tiny.c",
        "tiny",
        &["-nostdlib", "-O1", "-fno-pie", "-no-pie"],
    );
    let out = vmkit(&["trace", exe.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "the guest's exit status");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{:#010x}  ", entry(&exe))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("mov ebx,5") || l.ends_with(" ebx=0x5")),
        "{text}"
    );
    assert!(lines.last().unwrap().ends_with("  int 0x80"), "{text}");
}

#[test]
fn a_static_glibc_program_starts_with_exact_flags() {
    let exe = build("tests/x86/trace/hello.c", "hello", &["-O1"]);
    let out = vmkit(&["trace", "--max-steps", "4", exe.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(124));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let at = format!("{:#010x}  ", entry(&exe));
    // glibc's i386 _start: `xor ebp, ebp` changes no register (ebp starts at 0) but sets
    // ZF and PF; `pop esi` takes argc (1).
    assert_eq!(
        lines[0],
        format!("{at}xor ebp,ebp                      flags=---Z-P-")
    );
    assert!(
        lines[1].contains("pop esi") && lines[1].ends_with(" esi=0x1"),
        "{text}"
    );
    // The whole run: the program's output is in the trace, and its status is vmkit's.
    let out = vmkit(&["trace", exe.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l == "hi"),
        "the guest's output is in the trace"
    );
    assert!(text.lines().count() > 1000, "{}", text.lines().count());
}
