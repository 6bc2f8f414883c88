//! Real programs on the x86 guest: every C file in `tests/x86/` is built with
//! `gcc -m32 -static ... -lm` at -O0 and -O2, run natively and under `vmkit run`, and must give the
//! same stdout and exit status, and leave the same files behind. Needs gcc-multilib, which
//! the test installs when run as root (`vmkit_test_support::require_gcc_m32`); otherwise it
//! fails at once with the command to run (it never skips).
//!
//! Each run starts in a fresh copy of the same fixture directory (same path, same contents:
//! see [`make_fixture`]), so the native run and the guest see the same data. A program's
//! header comment may name its arguments (` * args: data.txt dir`, default `alpha beta`) and
//! extra `vmkit run` flags (` * vmkit-flags: --allow-write out`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const STDIN: &[u8] = b"one two\nthree four five\nsix\n";

/// The files every program starts with.
fn make_fixture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("dir/sub")).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(
        dir.join("data.txt"),
        "first line of data\nsecond line\nthird line here\nlast\n",
    )
    .unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(dir.join("dir").join(name), name.repeat(3)).unwrap();
    }
    std::os::unix::fs::symlink("data.txt", dir.join("link")).unwrap();
    std::os::unix::fs::symlink("a", dir.join("dir/link2")).unwrap();
}

/// What a run left in the fixture: every path with its type, contents or link target.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(path);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                out.push(format!("{rel}: {text:?}"));
            }
        }
    }
    out.sort();
    out
}

/// The words after `key` in the header comment of `src`.
fn header(src: &str, key: &str) -> Option<Vec<String>> {
    src.lines()
        .take_while(|l| !l.contains("*/"))
        .find_map(|l| l.trim_start_matches([' ', '/', '*']).strip_prefix(key))
        .map(|rest| rest.split_whitespace().map(String::from).collect())
}

fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // A program that never reads stdin may exit before the write: a broken pipe is fine.
    if let Err(e) = child.stdin.take().unwrap().write_all(STDIN) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
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
    assert!(sources.len() >= 8, "{sources:?}");
    let fixture = out_dir.join("fixture");
    let mut failures = Vec::new();
    for src in &sources {
        let text = std::fs::read_to_string(src).unwrap();
        let args = header(&text, "args:").unwrap_or_else(|| vec!["alpha".into(), "beta".into()]);
        let flags = header(&text, "vmkit-flags:").unwrap_or_default();
        for opt in ["-O0", "-O2"] {
            let name = format!("{}{opt}", src.file_stem().unwrap().to_string_lossy());
            let exe = out_dir.join(&name);
            vmkit_test_support::build_i386(src, &exe, &[opt, "-lm"]);
            make_fixture(&fixture);
            let native = run(Command::new(&exe).args(&args).current_dir(&fixture));
            let native_files = snapshot(&fixture);
            make_fixture(&fixture);
            // Every block translated from its first run (the translator is the default).
            let guest = run(Command::new(env!("CARGO_BIN_EXE_vmkit"))
                .env("VMKIT_JIT_THRESHOLD", "1")
                .arg("run")
                .args(&flags)
                .arg(&exe)
                .arg("--")
                .args(&args)
                .current_dir(&fixture));
            let guest_files = snapshot(&fixture);
            if native.stdout != guest.stdout || native.status.code() != guest.status.code() {
                failures.push(format!(
                    "{name}: native {:?} {}\nvmkit {:?} {}\nstderr: {}",
                    native.status.code(),
                    String::from_utf8_lossy(&native.stdout),
                    guest.status.code(),
                    String::from_utf8_lossy(&guest.stdout),
                    String::from_utf8_lossy(&guest.stderr)
                ));
            } else if native_files != guest_files {
                failures.push(format!(
                    "{name}: files differ\nnative {native_files:?}\nvmkit  {guest_files:?}"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
