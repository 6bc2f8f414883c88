//! Runs every `examples/*.s` through the `vmkit` binary and compares stdout with
//! `examples/expected/NAME.stdout`. Header comments in an example set the expectations:
//! `; expect-status: N` (default 0), `; expect-stderr: TEXT` (a substring),
//! `; vmkit-args: ARGS` (extra `vmkit run` options), `; stdin: TEXT`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn header(source: &str, key: &str) -> Option<String> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix(';'))
        .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
}

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

fn vmkit(args: &[&str], stdin: &str) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmkit runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn every_example_gives_its_expected_output() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "s"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "examples are missing: {names:?}");
    let mut failures = Vec::new();
    for path in &names {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(path).unwrap();
        let expected_path = repo()
            .join("examples/expected")
            .join(format!("{stem}.stdout"));
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no {}", path.display(), expected_path.display()));
        let want_status: i32 = header(&source, "expect-status:").map_or(0, |s| s.parse().unwrap());
        if stem.contains("fault") {
            assert!(
                want_status > 128,
                "{stem}: a fault example must expect a fault status"
            );
        }
        let extra = header(&source, "vmkit-args:").unwrap_or_default();
        let stdin = header(&source, "stdin:").unwrap_or_default();
        let rel = format!("examples/{stem}.s");
        let mut args: Vec<&str> = vec!["run"];
        args.extend(extra.split_whitespace());
        args.push(&rel);
        let out = vmkit(&args, &stdin);
        let mut problems = Vec::new();
        if out.status != want_status {
            problems.push(format!("status {} (wanted {want_status})", out.status));
        }
        if out.stdout != expected {
            problems.push(format!("stdout:\n{}\n--- wanted:\n{expected}", out.stdout));
        }
        if let Some(text) = header(&source, "expect-stderr:") {
            if !out.stderr.contains(&text) {
                problems.push(format!("stderr lacks `{text}`"));
            }
        } else if want_status == 0 && !out.stderr.is_empty() {
            problems.push(format!("unexpected stderr: {}", out.stderr));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{stem}: {}\nstderr: {}",
                problems.join("; "),
                out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
