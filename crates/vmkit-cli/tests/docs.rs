//! The documentation runs: every command shown in `README.md` and `docs/*.md` is run, and
//! its output and exit status are checked against what the page shows.
//!
//! Commands are written in ```` ```console ```` blocks, as a terminal shows them:
//!
//! ````text
//! ```console
//! $ vmkit run examples/hello.s
//! Hello World
//! $ vmkit run --max-steps 1000 examples/fib.s
//! ...
//! vmkit: stopped after 1000 instructions (--max-steps 1000); next ip=[..]
//! ? 124
//! ```
//! ````
//!
//! - `$ ` starts a command. It runs under `sh -c` with stderr merged into stdout, so the
//!   lines after it (up to the next `$ `) are everything a terminal would show. A command
//!   with no lines after it must print nothing.
//! - `? N` after the output is the expected exit status (default 0).
//! - `...` alone on a line stands for any number of lines, `[..]` for any text within a
//!   line: for what depends on the machine (timings, addresses of the host).
//! - A command line ending in `# not run: REASON` is shown, not run (a full benchmark,
//!   `cargo install`). Such commands are counted and listed in the test's output; nothing
//!   else is skipped.
//! - A ```` ```sh ````, ```` ```bash ```` or ```` ```shell ```` block is an error: commands
//!   belong in console blocks, where they are run.
//! - An ```` ```asm ```` block whose first line names a file (`; count.s: what it does`) is
//!   written to that file before the page's commands run, so a page can run the program
//!   it shows.
//!
//! Each page runs in its own directory, `target/tmp/docs/<page>/`, made afresh, with the
//! commands of all its blocks in order (a later block may use a file an earlier one wrote).
//! The directory has `examples/` and `benches/` (links into the repository), `notes.txt`,
//! an empty `out/`, and static i386 programs: `hello-static-i386`, `cat-i386` and
//! `grep-i386` (built from `tests/x86/docs/*.c` with `gcc -m32 -static`) and `busybox`
//! (Debian's busybox-static, fetched into `target/` by `vmkit-test-support`). `vmkit` on `PATH` is the binary
//! under test.
//!
//! A failure names the page and line of the command (`docs/x86.md:87`) with the expected
//! and the actual output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A command is stopped, and fails, after this long.
const TIMEOUT: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// One `$ ` line of a page with what the page says it prints.
#[derive(Debug)]
struct Example {
    /// `page:line`, for messages.
    place: String,
    command: String,
    expected: Vec<String>,
    status: i32,
    /// The reason, for a command marked `# not run: REASON`.
    not_run: Option<String>,
}

/// What a page holds for the harness: its commands, and the source files its ```asm
/// blocks name in their first line (`; count.s: ...`).
#[derive(Debug, Default)]
struct Page {
    examples: Vec<Example>,
    files: Vec<(String, String)>,
}

/// The examples of one page, in order, or the problems found reading it.
fn examples(page: &str, text: &str) -> Result<Page, Vec<String>> {
    let mut out: Vec<Example> = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut file: Option<(String, String)> = None;
    let mut problems = Vec::new();
    let mut block: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let place = format!("{page}:{}", i + 1);
        if let Some(info) = line.trim_start().strip_prefix("```") {
            if block.is_some() {
                block = None;
                files.extend(file.take());
                continue;
            }
            let lang = info.split_whitespace().next().unwrap_or("").to_string();
            if ["sh", "bash", "shell", "zsh"].contains(&lang.as_str()) {
                problems.push(format!(
                    "{place}: a ```{lang} block: write commands in a ```console block with `$ ` \
                     before each (crates/vmkit-cli/tests/docs.rs says how), so that they run"
                ));
            }
            block = Some(lang);
            continue;
        }
        if block.as_deref() == Some("asm") {
            match &mut file {
                Some((_, text)) => {
                    text.push_str(line);
                    text.push('\n');
                }
                None => {
                    // Only a first line names a file; a block without one is not kept.
                    let name = line.strip_prefix("; ").and_then(|l| l.split_once(".s:"));
                    file = Some(match name {
                        Some((stem, _)) if !stem.contains(char::is_whitespace) => {
                            (format!("{stem}.s"), format!("{line}\n"))
                        }
                        _ => (String::new(), String::new()),
                    });
                }
            }
            continue;
        }
        if block.as_deref() != Some("console") {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            let (command, not_run) = match command.split_once("# not run:") {
                Some((c, why)) => (c.trim_end(), Some(why.trim().to_string())),
                None => (command, None),
            };
            out.push(Example {
                place,
                command: command.to_string(),
                expected: Vec::new(),
                status: 0,
                not_run,
            });
        } else if let Some(last) = out.last_mut() {
            match line.strip_prefix("? ").map(str::parse) {
                Some(Ok(status)) => last.status = status,
                Some(Err(_)) => problems.push(format!("{place}: `? N` needs a number")),
                None => last.expected.push(line.to_string()),
            }
        } else {
            problems.push(format!(
                "{place}: output before any `$ ` command in a console block"
            ));
        }
    }
    files.retain(|(name, _)| !name.is_empty());
    if problems.is_empty() {
        Ok(Page {
            examples: out,
            files,
        })
    } else {
        Err(problems)
    }
}

/// Whether `line` matches `pattern`, where `[..]` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `lines` match `patterns`, where a `...` line stands for any number of lines.
fn lines_match(patterns: &[String], lines: &[&str]) -> bool {
    // matches[i][j]: patterns[i..] match lines[j..].
    let (p, l) = (patterns.len(), lines.len());
    let mut matches = vec![vec![false; l + 1]; p + 1];
    matches[p][l] = true;
    for i in (0..p).rev() {
        for j in (0..=l).rev() {
            matches[i][j] = if patterns[i] == "..." {
                matches[i + 1][j] || (j < l && matches[i][j + 1])
            } else {
                j < l && line_matches(&patterns[i], lines[j]) && matches[i + 1][j + 1]
            };
        }
    }
    matches[0][0]
}

/// Builds the static i386 programs the pages use, once, into `dir`.
fn build_programs(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["hello-static-i386", "cat-i386", "grep-i386"] {
        let src = repo().join("tests/x86/docs").join(format!(
            "{}.c",
            name.trim_end_matches("-i386").trim_end_matches("-static")
        ));
        vmkit_test_support::try_build_i386(&src, &dir.join(name), &["-O2"])?;
    }
    let busybox = vmkit_test_support::fetch_busybox_i386()?;
    std::fs::copy(busybox, dir.join("busybox")).map_err(|e| e.to_string())?;
    Ok(())
}

/// A fresh directory for `page` with everything the pages use.
fn fixture(page: &str, programs: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("docs")
        .join(page.replace('/', "-"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    for linked in ["examples", "benches"] {
        std::os::unix::fs::symlink(repo().join(linked), dir.join(linked)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "vmkit notes\nsecond line\n").unwrap();
    for entry in std::fs::read_dir(programs).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    dir
}

/// Runs `command` in `dir`: its exit status and output (stdout and stderr together).
fn run(command: &str, dir: &Path) -> Result<(i32, String), String> {
    let bin = Path::new(env!("CARGO_BIN_EXE_vmkit")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = dir.join(".output");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .map_err(|e| format!("sh: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {} s", TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let _ = std::fs::remove_file(&log);
    Ok((status.code().unwrap_or(-1), output))
}

/// The problems found running `page`'s examples; counts run and not-run commands.
fn check_page(
    page: &str,
    programs: &Path,
    counts: &std::sync::Mutex<(usize, Vec<String>)>,
) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(page)).unwrap();
    let Page { examples, files } = match examples(page, &text) {
        Ok(e) => e,
        Err(problems) => return problems,
    };
    if examples.is_empty() {
        return Vec::new();
    }
    let dir = fixture(page, programs);
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut problems = Vec::new();
    for ex in &examples {
        if let Some(why) = &ex.not_run {
            counts
                .lock()
                .unwrap()
                .1
                .push(format!("{}: `{}` ({why})", ex.place, ex.command));
            continue;
        }
        counts.lock().unwrap().0 += 1;
        match run(&ex.command, &dir) {
            Err(e) => problems.push(format!("{}: `{}`: {e}", ex.place, ex.command)),
            Ok((status, output)) => {
                let lines: Vec<&str> = output.lines().collect();
                if status != ex.status || !lines_match(&ex.expected, &lines) {
                    let mut m = format!("{}: `{}`\n", ex.place, ex.command);
                    let _ = writeln!(m, "--- the page shows (status {}):", ex.status);
                    for l in &ex.expected {
                        let _ = writeln!(m, "    {l}");
                    }
                    let _ = writeln!(m, "--- the command gave (status {status}):");
                    for l in &lines {
                        let _ = writeln!(m, "    {l}");
                    }
                    problems.push(m);
                }
            }
        }
    }
    problems
}

/// README.md and docs/*.md, as paths relative to the repository.
fn pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[test]
fn every_command_in_the_docs_does_what_the_docs_show() {
    let programs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-programs");
    if let Err(e) = build_programs(&programs) {
        panic!("the docs' fixture programs: {e}");
    }
    let counts = std::sync::Mutex::new((0usize, Vec::new()));
    let pages = pages();
    // Pages run in parallel, two at a time (the machines this runs on have few cores);
    // the commands of a page in order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(page) = pages.get(i) else { break };
                let found = check_page(page, &programs, &counts);
                problems.lock().unwrap().extend(found);
            });
        }
    });
    let (ran, not_run) = counts.into_inner().unwrap();
    println!("docs: {ran} commands run from {} pages", pages.len());
    println!("docs: {} commands shown but not run:", not_run.len());
    for n in &not_run {
        println!("    {n}");
    }
    let problems = problems.into_inner().unwrap();
    assert!(
        problems.is_empty(),
        "{} doc example(s) disagree with the program:\n\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        ran >= 30,
        "only {ran} commands found: is the parser broken?"
    );
}

#[test]
fn the_matcher_elides_lines_and_text() {
    let p = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&p(&["a", "...", "d"]), &["a", "b", "c", "d"]));
    assert!(lines_match(&p(&["a", "...", "d"]), &["a", "d"]));
    assert!(!lines_match(&p(&["a", "d"]), &["a", "b", "d"]));
    assert!(lines_match(&p(&["x [..] z"]), &["x y y z"]));
    assert!(!lines_match(&p(&["x [..] z"]), &["x y"]));
    assert!(lines_match(&p(&["[..]b[..]d"]), &["abcd"]));
    assert!(!lines_match(&p(&["[..]b[..]b"]), &["ab"]));
    assert!(lines_match(&p(&[]), &[]));
    assert!(!lines_match(&p(&[]), &["output"]));
    let page = "```console\n$ a\nout\n? 3\n$ b # not run: slow\n```\n```sh\nc\n```\n";
    let problems = examples("p.md", page).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("p.md:7: a ```sh block"),
        "{problems:?}"
    );
    let ok = examples("p.md", &page[..page.find("```sh").unwrap()]).unwrap();
    let ex = &ok.examples;
    assert_eq!((ex[0].status, ex[0].expected.len()), (3, 1));
    assert_eq!(ex[1].not_run.as_deref(), Some("slow"));
    let page = "```asm\n; a.s: the file\nhalt\n```\n```asm\n; no file\n```\n";
    let ok = examples("p.md", page).unwrap();
    assert_eq!(ok.files, [("a.s".into(), "; a.s: the file\nhalt\n".into())]);
}
