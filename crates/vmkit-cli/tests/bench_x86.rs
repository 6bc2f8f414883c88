//! `vmkit bench x86 --quick` end to end: the bundled C programs build with
//! `gcc -m32 -static`, run natively, under both vmkit engines (`--engine interp` and
//! `--engine jit`) and (when asked for one that exists) under qemu-i386, and every runner's
//! answer matches. Speed itself is never asserted: this is a benchmark's smoke test, not a
//! timed test. Needs `gcc -m32 -static`, Debian's busybox-static:i386 and the Debian i386
//! root (with lua5.4 and gzip, run natively with `chroot`, so as root, as CI runs), which
//! `vmkit-test-support` provides (see docs/testing.md); qemu is not needed.

use std::process::Command;

fn bench(args: &[&str]) -> (String, String) {
    vmkit_test_support::require_gcc_m32();
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(["bench", "x86", "--quick", "--busybox"])
        .arg(vmkit_test_support::busybox_i386())
        .arg("--debian-root")
        .arg(vmkit_test_support::debian_root())
        .args(args)
        .output()
        .expect("vmkit runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "vmkit bench x86 --quick {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn quick_x86_benchmark_runs_without_qemu() {
    let (stdout, stderr) = bench(&["--json", "--qemu", "/nonexistent/qemu-i386"]);
    assert!(stderr.contains("not found"), "{stderr}");
    let json = stdout.trim();
    assert!(json.starts_with('[') && json.ends_with(']'), "{json}");
    for name in [
        "register loop",
        "load/store loop",
        "start-up: static hello",
        "compute.c",
        "coremark.c",
        "x87.c",
        "Lua 5.4 mixed.lua",
        "busybox sha256sum",
        "busybox gzip -c",
        "gzip -9 -n",
    ] {
        assert!(json.contains(name), "no {name} in {json}");
    }
    assert_eq!(json.matches("\"qemu_seconds\":null").count(), 10, "{json}");
    // Both engines ran every program (and gave native's answer, or the run would fail).
    for row in json.split("},{") {
        for key in ["interp_seconds", "jit_seconds"] {
            let secs: f64 = field(row, key).parse().unwrap();
            assert!(secs > 0.0, "{row}");
        }
        let count: u64 = field(row, "guest_instructions").parse().unwrap();
        assert!(count > 10_000, "{row}");
    }
    // Each loop runs 100,000 iterations of 5 instructions, plus glibc's start-up and exit.
    for row in json.split("},{").filter(|row| row.contains("loop")) {
        let count: u64 = field(row, "guest_instructions").parse().unwrap();
        assert!((500_000..600_000).contains(&count), "{row}");
        assert_ne!(field(row, "interp_mips"), "null", "{row}");
        assert_ne!(field(row, "jit_mips"), "null", "{row}");
    }
}

/// The raw value of `"key":` in one JSON object of the output.
fn field<'a>(object: &'a str, key: &str) -> &'a str {
    let start = object.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let rest = &object[start..];
    &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
}

#[test]
fn quick_x86_benchmark_prints_a_table() {
    let (stdout, _) = bench(&[]);
    for text in [
        "vmkit interp",
        "vmkit jit",
        "time / native",
        "speed, % of native",
        "M guest instructions/s",
        "busybox gzip -c",
        "Lua 5.4",
    ] {
        assert!(stdout.contains(text), "no {text} in {stdout}");
    }
}
