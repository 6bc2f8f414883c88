//! Dynamic executables built on the host: every C file in `tests/x86/dynamic/` is built with
//! `gcc -m32` twice, as a PIE (the compiler's default) and with `-no-pie`, linked against
//! the host's shared i386 libc and libm, then run natively and under `vmkit run` *without*
//! `--root`: the host's i386 loader and libraries are visible by default. stdout, stderr and
//! the exit status must be byte-identical. Needs gcc-multilib (installed by the test when run
//! as root, see `vmkit_test_support::require_gcc_m32`).
//!
//! A program's header comment may name its arguments (` * args: data.txt`). Each run starts
//! in the same fixture directory with the same fixed environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Sorted, as `Command` passes an environment it built.
const ENV: [(&str, &str); 3] = [
    ("GREETING", "hi there"),
    ("HOME", "/nowhere"),
    ("LC_ALL", "C"),
];

fn fixture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("data.txt"), "pear\napple\nzucchini\nbanana\n").unwrap();
}

fn header(src: &str, key: &str) -> Option<Vec<String>> {
    src.lines()
        .take_while(|l| !l.contains("*/"))
        .find_map(|l| l.trim_start_matches([' ', '/', '*']).strip_prefix(key))
        .map(|rest| {
            rest.trim_end_matches("*/")
                .split_whitespace()
                .map(String::from)
                .collect()
        })
}

fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .env_clear()
        .envs(ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let _ = child.stdin.take().unwrap().write_all(b"input\n");
    child.wait_with_output().unwrap()
}

/// Builds `src` as a dynamic executable (`-no-pie` when `pie` is false).
fn build(src: &Path, exe: &Path, pie: bool) {
    vmkit_test_support::require_gcc_m32();
    let out = Command::new("gcc")
        .args(["-m32", "-O1", if pie { "-pie" } else { "-no-pie" }, "-o"])
        .arg(exe)
        .arg(src)
        .args(["-lm", "-ldl", "-pthread"])
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn vmkit(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmkit"));
    cmd.arg("run").arg("--clear-env");
    for (k, v) in ENV {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    run(cmd.args(args).current_dir(dir))
}

#[test]
fn dynamic_programs_match_native_pie_and_not() {
    let dir = std::env::temp_dir().join(format!("vmkit-x86-dynamic-{}", std::process::id()));
    fixture(&dir);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/x86/dynamic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 4, "{sources:?}");
    let mut failures = Vec::new();
    for src in &sources {
        let text = std::fs::read_to_string(src).unwrap();
        let args = header(&text, "args:").unwrap_or_default();
        for pie in [true, false] {
            let name = format!(
                "{}-{}",
                src.file_stem().unwrap().to_string_lossy(),
                if pie { "pie" } else { "nopie" }
            );
            build(src, &dir.join(&name), pie);
            let prog = format!("./{name}");
            let native = run(Command::new(&prog).args(&args).current_dir(&dir));
            let mut vargs = vec![prog.as_str(), "--"];
            vargs.extend(args.iter().map(String::as_str));
            let guest = vmkit(&dir, &vargs);
            if native.stdout != guest.stdout
                || native.stderr != guest.stderr
                || native.status.code() != guest.status.code()
            {
                failures.push(format!(
                    "{name}: native {:?}\n{}{}\nvmkit {:?}\n{}{}",
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

#[test]
fn the_loader_is_found_only_through_the_sandbox() {
    // A program naming a loader the sandbox does not show is refused before it runs, with
    // the path and the flag that would help.
    let dir = std::env::temp_dir().join(format!("vmkit-x86-interp-{}", std::process::id()));
    fixture(&dir);
    let src = repo().join("tests/x86/dynamic/hello.c");
    vmkit_test_support::require_gcc_m32();
    let out = Command::new("gcc")
        .args(["-m32", "-o"])
        .arg(dir.join("elsewhere"))
        .arg(&src)
        .arg("-Wl,--dynamic-linker=/opt/vmkit-no-such/ld.so")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let guest = vmkit(&dir, &["./elsewhere"]);
    let err = String::from_utf8_lossy(&guest.stderr);
    assert_eq!(guest.status.code(), Some(1), "{err}");
    assert!(
        err.contains("dynamic loader /opt/vmkit-no-such/ld.so: outside the sandbox"),
        "{err}"
    );
    // The same program with its loader mounted where it says runs.
    let mut args = vec!["--mount", "/lib/ld-linux.so.2:/opt/vmkit-no-such/ld.so"];
    args.push("./elsewhere");
    let guest = vmkit(&dir, &args);
    assert_eq!(
        guest.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&guest.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn static_programs_still_run_without_any_library() {
    let dir = std::env::temp_dir().join(format!("vmkit-x86-static-{}", std::process::id()));
    fixture(&dir);
    let src = repo().join("tests/x86/dynamic/floats.c");
    vmkit_test_support::build_i386(&src, &dir.join("floats-static"), &["-lm"]);
    let native = run(Command::new("./floats-static").current_dir(&dir));
    let guest = vmkit(&dir, &["./floats-static"]);
    assert_eq!(native.stdout, guest.stdout);
    assert_eq!(native.status.code(), guest.status.code());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_loader_runs_a_program_itself() {
    // `ld-linux.so.2 PROGRAM` (the loader as the executable, a PIE without PT_INTERP) opens
    // and maps the program with system calls, as natively.
    let dir = std::env::temp_dir().join(format!("vmkit-x86-ldso-{}", std::process::id()));
    fixture(&dir);
    build(
        &repo().join("tests/x86/dynamic/hello.c"),
        &dir.join("hello"),
        true,
    );
    let native = run(Command::new("/lib/ld-linux.so.2")
        .args(["./hello", "one"])
        .current_dir(&dir));
    let guest = vmkit(&dir, &["/lib/ld-linux.so.2", "--", "./hello", "one"]);
    assert_eq!(
        (native.status.code(), &native.stdout, &native.stderr),
        (guest.status.code(), &guest.stdout, &guest.stderr),
        "{}",
        String::from_utf8_lossy(&guest.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
