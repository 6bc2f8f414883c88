//! Signals on the x86 guest: every C file in `tests/x86/signals/` is built with
//! `gcc -m32 -static` at -O0 and -O2, run natively and under `vmkit run`, and must give the
//! same stdout, stderr and exit status. A program a signal ends natively ends under vmkit
//! with 128 + the signal and vmkit's one-line report on stderr after the program's own
//! (none for SIGPIPE, as a shell). A header line ` * stdin: open` keeps the program's
//! stdin open and empty (a read blocks) instead of giving it a few lines.
//!
//! Then the host-signal bridge: a signal sent to the vmkit process (as Ctrl-C sends
//! SIGINT) reaches the guest's handler, or ends it with the default action, exactly as it
//! reaches the native program.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const STDIN: &[u8] = b"one two\nthree\n";

/// Runs `cmd`, with stdin either a few lines or (`hold_stdin`) an open, empty pipe; a run
/// longer than a minute is killed (and fails the comparison).
fn run(cmd: &mut Command, hold_stdin: bool) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdin = child.stdin.take().unwrap();
    let held = if hold_stdin {
        Some(stdin)
    } else {
        let mut stdin = stdin;
        // A program that never reads stdin may exit before the write.
        let _ = stdin.write_all(STDIN);
        None
    };
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(held);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The exit status and stderr vmkit must give for a native run's: 128 + signal and the
/// report line when a signal ended it.
fn expected(native: &Output) -> (i32, Vec<u8>) {
    match native.status.code() {
        Some(code) => (code, native.stderr.clone()),
        None => {
            let sig = native.status.signal().expect("a signal ended it");
            let mut stderr = native.stderr.clone();
            if sig != libc::SIGPIPE {
                let name = vmkit_x86::Signal::from_number(sig as u32).unwrap().name();
                stderr.extend_from_slice(format!("vmkit: killed by {name}\n").as_bytes());
            }
            (128 + sig, stderr)
        }
    }
}

#[test]
fn signal_programs_behave_as_natively() {
    let out_dir = std::env::temp_dir().join(format!("vmkit-x86-signals-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/x86/signals"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 10, "{sources:?}");
    // Each program runs natively and under vmkit at both levels, in its own thread: the
    // timers' programs spend their time waiting.
    let jobs: Vec<_> = sources
        .iter()
        .flat_map(|src| ["-O0", "-O2"].map(|opt| (src.clone(), opt)))
        .map(|(src, opt)| {
            let out_dir = out_dir.clone();
            std::thread::spawn(move || {
                let text = std::fs::read_to_string(&src).unwrap();
                let hold = text
                    .lines()
                    .take_while(|l| !l.contains("*/"))
                    .any(|l| l.contains("stdin: open"));
                let name = format!("{}{opt}", src.file_stem().unwrap().to_string_lossy());
                let exe = out_dir.join(&name);
                vmkit_test_support::build_i386(&src, &exe, &[opt, "-lm"]);
                let native = run(&mut Command::new(&exe), hold);
                let guest = run(
                    Command::new(env!("CARGO_BIN_EXE_vmkit"))
                        .arg("run")
                        .arg(&exe),
                    hold,
                );
                let (code, stderr) = expected(&native);
                if native.stdout != guest.stdout
                    || guest.status.code() != Some(code)
                    || guest.stderr != stderr
                {
                    Some(format!(
                        "{name}: native {:?} (expect {code})\n{}{}\nvmkit {:?}\n{}{}",
                        native.status,
                        String::from_utf8_lossy(&native.stdout),
                        String::from_utf8_lossy(&stderr),
                        guest.status,
                        String::from_utf8_lossy(&guest.stdout),
                        String::from_utf8_lossy(&guest.stderr)
                    ))
                } else {
                    None
                }
            })
        })
        .collect();
    let failures: Vec<String> = jobs.into_iter().filter_map(|j| j.join().unwrap()).collect();
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A program that says "ready" once its handlers are in, then waits in `pause` for
/// signals: SIGINT and SIGSEGV are counted, SIGTERM ends it with the counts.
const WAITER: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static volatile int ints, segvs;
static void on_int(int sig) { ints++; (void)sig; }
static void on_segv(int sig) { segvs++; (void)sig; }
static void on_term(int sig) { printf("SIGINTs: %d, SIGSEGVs: %d, then %d\n", ints, segvs, sig); exit(3); }
int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        printf("ready\n");
        for (volatile unsigned i = 0;; i++) {}
    }
    signal(SIGINT, on_int);
    signal(SIGSEGV, on_segv);
    signal(SIGTERM, on_term);
    printf("ready\n");
    for (;;)
        pause();
}
"#;

/// Starts `cmd` and waits for its "ready" line.
fn start(cmd: &mut Command) -> Child {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut line = [0u8; 6];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut line).unwrap();
    assert_eq!(&line, b"ready\n");
    child
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn host_signals_reach_the_guest() {
    let dir = std::env::temp_dir().join(format!("vmkit-x86-hostsig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("waiter.c");
    std::fs::write(&src, WAITER).unwrap();
    let exe = dir.join("waiter");
    vmkit_test_support::build_i386(&src, &exe, &["-O2"]);
    let vmkit = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vmkit"));
        c.arg("run").arg(&exe);
        c
    };
    // Handlers: two SIGINTs and a SIGSEGV another process sent counted (the guest is in
    // pause: the host call is interrupted), then SIGTERM's handler exits.
    let mut outputs = Vec::new();
    for mut cmd in [Command::new(&exe), vmkit()] {
        let child = start(&mut cmd);
        signal(&child, libc::SIGINT);
        signal(&child, libc::SIGSEGV);
        signal(&child, libc::SIGINT);
        signal(&child, libc::SIGTERM);
        outputs.push(child.wait_with_output().unwrap());
    }
    let (native, guest) = (&outputs[0], &outputs[1]);
    assert_eq!(native.stdout, b"SIGINTs: 2, SIGSEGVs: 1, then 15\n");
    assert_eq!(
        guest.stdout,
        native.stdout,
        "{}",
        String::from_utf8_lossy(&guest.stderr)
    );
    assert_eq!(
        (guest.status.code(), native.status.code()),
        (Some(3), Some(3))
    );
    // No handler, the guest busy computing: the default action ends it at its next time
    // slice, as 128 + SIGINT with the report.
    let mut cmd = vmkit();
    let child = start(cmd.arg("--").arg("busy"));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(out.stderr, b"vmkit: killed by SIGINT\n");
    let _ = std::fs::remove_dir_all(&dir);
}
