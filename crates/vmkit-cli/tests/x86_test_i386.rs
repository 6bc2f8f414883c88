//! QEMU's own x86 test program, `tests/tcg/i386/test-i386.c` (from Debian's QEMU source
//! package, built as QEMU builds it: `vmkit_test_support::test_i386`), run natively and
//! under `vmkit run`: the whole output must be the same, line for line, with the same exit
//! status. It covers integer and x87 arithmetic with their flags, string instructions,
//! `lea` in 16-bit addressing, segments (`modify_ldt`, LDT data segments in ds/fs/gs, `lfs`,
//! `lar`/`lsl`/`arpl`), 16-bit code segments reached by `lcall`, far returns and `iret`,
//! exceptions caught by SIGSEGV/SIGFPE/SIGILL/SIGTRAP handlers with `siglongjmp`,
//! self-modifying code, the trap flag, `enter` and conversions.

use std::process::Command;

#[test]
fn test_i386_runs_to_its_end_as_on_the_real_cpu() {
    let exe = vmkit_test_support::test_i386();
    let dir = exe.parent().unwrap();
    let native = Command::new(&exe).current_dir(dir).output().unwrap();
    assert_eq!(
        native.status.code(),
        Some(0),
        "test-i386 fails natively: {}",
        String::from_utf8_lossy(&native.stderr)
    );
    let guest = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .arg("run")
        .arg(&exe)
        .current_dir(dir)
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&native.stdout);
    let got = String::from_utf8_lossy(&guest.stdout);
    let (want_lines, got_lines): (Vec<&str>, Vec<&str>) =
        (want.lines().collect(), got.lines().collect());
    if let Some(i) =
        (0..want_lines.len().max(got_lines.len())).find(|&i| want_lines.get(i) != got_lines.get(i))
    {
        let from = i.saturating_sub(3);
        let show = |lines: &[&str]| {
            lines
                .iter()
                .enumerate()
                .skip(from)
                .take(10)
                .map(|(n, l)| format!("  {:5} {l}", n + 1))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "test-i386 under vmkit differs from native at line {} ({} lines natively, {} under \
             vmkit; vmkit exited with {:?}; when vmkit stops the guest, what the guest's stdio \
             had not flushed yet is missing too, so its stderr says where it stopped):\n\
             native:\n{}\nvmkit:\n{}\nvmkit's stderr:\n{}",
            i + 1,
            want_lines.len(),
            got_lines.len(),
            guest.status.code(),
            show(&want_lines),
            show(&got_lines),
            String::from_utf8_lossy(&guest.stderr)
        );
    }
    assert_eq!(
        (guest.status.code(), String::from_utf8_lossy(&guest.stderr)),
        (
            native.status.code(),
            String::from_utf8_lossy(&native.stderr)
        ),
        "exit status and stderr: vmkit (left) against native (right)"
    );
}
