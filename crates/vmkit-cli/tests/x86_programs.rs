//! Real programs on the x86 guest: every C file in `tests/x86/` is built with
//! `gcc -m32 -static ... -lm` at -O0 and -O2, run natively and under `vmkit run`, and must give the
//! same stdout and exit status. `.ci/run` installs gcc-multilib; without it this test fails
//! (it never skips).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const STDIN: &[u8] = b"one two\nthree four five\nsix\n";

fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // A program that does not read stdin may exit before the write: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(STDIN);
    child.wait_with_output().unwrap()
}

#[test]
fn c_programs_behave_as_on_the_real_cpu() {
    let out_dir = std::env::temp_dir().join(format!("vmkit-x86-programs-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/x86"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 5, "{sources:?}");
    let mut failures = Vec::new();
    for src in &sources {
        for opt in ["-O0", "-O2"] {
            let name = format!("{}{opt}", src.file_stem().unwrap().to_string_lossy());
            let exe = out_dir.join(&name);
            let cc = Command::new("gcc")
                .args(["-m32", "-static", opt, "-o"])
                .arg(&exe)
                .arg(src)
                .arg("-lm")
                .output()
                .expect("gcc runs");
            assert!(
                cc.status.success(),
                "gcc -m32 -static failed (install gcc-multilib, as .ci/run does): {}",
                String::from_utf8_lossy(&cc.stderr)
            );
            let native = run(Command::new(&exe).args(["alpha", "beta"]));
            let guest = run(Command::new(env!("CARGO_BIN_EXE_vmkit"))
                .arg("run")
                .arg(&exe)
                .args(["--", "alpha", "beta"]));
            if native.stdout != guest.stdout || native.status.code() != guest.status.code() {
                failures.push(format!(
                    "{name}: native {:?} {:?}\nvmkit {:?} {:?}\nstderr: {}",
                    native.status.code(),
                    String::from_utf8_lossy(&native.stdout),
                    guest.status.code(),
                    String::from_utf8_lossy(&guest.stdout),
                    String::from_utf8_lossy(&guest.stderr)
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
