//! Guest processes (`fork`, `execve`, `wait4`, pipes, process groups, `kill`, `system`,
//! `popen`): every C program in `tests/x86/process/` (but the `*_helper.c` ones, which
//! the others run with `execve`) is built with `gcc -m32 -static` and run natively and
//! under `vmkit run` in the same fixture directory; stdout, stderr and the exit status
//! must be byte-identical.
//!
//! `system()` and `popen()` run `/bin/sh`: natively the host's, under vmkit Debian's
//! busybox-static for i386 (fetched as the busybox test does), mounted at `/bin` as `sh`,
//! with `--mount`. A program whose header says ` * vmkit-sh: busybox` gets that mount.
//! The sandbox stays closed: nothing else is mounted, and the exec'd programs are read
//! through it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run that takes longer than this is stopped and reported (a guest blocked).
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// stdout, stderr, exit status (`None`: killed by a signal or stopped at the time limit).
type Outcome = (Vec<u8>, Vec<u8>, Option<i32>);

fn run(cmd: &mut Command) -> Outcome {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    (out.join().unwrap(), err.join().unwrap(), status)
}

/// The fixture directory: the built programs, a `#!` script whose interpreter is
/// `exec_helper`, a data file, an executable file that is not a program.
fn make_fixture(dir: &Path, sources: &[PathBuf]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for src in sources {
        let name = src.file_stem().unwrap();
        vmkit_test_support::build_i386(src, &dir.join(name), &["-O1", "-D_GNU_SOURCE"]);
    }
    std::fs::copy(repo().join("tests/x86/process/exec.c"), dir.join("exec.c")).unwrap();
    std::fs::write(dir.join("script.sh"), "#!./exec_helper  -x \necho\n").unwrap();
    std::fs::write(dir.join("data.txt"), "data\n").unwrap();
    std::fs::write(dir.join("notprog"), "garbage\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for exe in ["script.sh", "notprog"] {
        std::fs::set_permissions(dir.join(exe), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn process_programs_behave_as_natively() {
    let src_dir = repo().join("tests/x86/process");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    let tests: Vec<&PathBuf> = sources
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with("_helper.c"))
        .collect();
    assert!(tests.len() >= 5, "the process programs are missing");
    let dir = vmkit_test_support::target_dir().join(format!("x86-process-{}", std::process::id()));
    make_fixture(&dir, &sources);
    // /bin/sh for system() and popen() under vmkit: busybox, in its own directory.
    let shbin = dir.join("shbin");
    std::fs::create_dir_all(&shbin).unwrap();
    std::fs::copy(vmkit_test_support::busybox_i386(), shbin.join("sh")).unwrap();

    let mut failures = Vec::new();
    for src in tests {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(src).unwrap();
        let env = |cmd: &mut Command| {
            cmd.env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("LC_ALL", "C")
                .current_dir(&dir);
        };
        let mut native = Command::new(dir.join(&name));
        env(&mut native);
        let want = run(&mut native);
        let mut guest = Command::new(env!("CARGO_BIN_EXE_vmkit"));
        env(&mut guest);
        guest.arg("run");
        if text.contains("* vmkit-sh: busybox") {
            guest
                .arg("--mount")
                .arg(format!("{}:/bin", shbin.display()));
        }
        guest.arg(format!("./{name}"));
        let got = run(&mut guest);
        if want != got {
            failures.push(format!(
                "{name}: status native {:?}, vmkit {:?}\n--- native stdout\n{}--- vmkit stdout\n{}--- native stderr\n{}--- vmkit stderr\n{}",
                want.2,
                got.2,
                show(&want.0),
                show(&got.0),
                show(&want.1),
                show(&got.1)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `--strace` names each line's process once there is more than one, as `strace -f`
/// does, and shows the child's side of the fork not at all.
#[test]
fn strace_names_the_pid_after_a_fork() {
    let dir =
        vmkit_test_support::target_dir().join(format!("x86-process-strace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("f.c");
    std::fs::write(
        &src,
        "#include <unistd.h>\n#include <sys/wait.h>\nint main(void){ if (fork()==0) _exit(5); int st; wait(&st); return WEXITSTATUS(st); }\n",
    )
    .unwrap();
    vmkit_test_support::build_i386(&src, &dir.join("f"), &["-O1"]);
    let (_, err, status) = run(Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .current_dir(&dir)
        .args(["run", "--strace", "./f"]));
    let err = show(&err);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status, Some(5), "{err}");
    assert!(err.contains("[pid 1001] exit_group(5) = ?\n"), "{err}");
    assert!(err.contains("[pid 1001] +++ exited with 5 +++\n"), "{err}");
    assert!(err.contains("[pid 1000] wait4(-1, "), "{err}");
    assert!(err.contains("= 1001\n"), "{err}");
    assert!(
        !err.contains("[pid 1001] clone"),
        "the child's side of the fork: {err}"
    );
    // The child's first line may come before the parent's `clone` line (two processes
    // write to one stderr, as under strace -f): the fork is the first of either.
    let before_fork = err
        .lines()
        .take_while(|l| !l.contains("clone") && !l.starts_with("[pid 1001]"))
        .collect::<Vec<_>>();
    assert!(
        before_fork.iter().all(|l| !l.starts_with("[pid")),
        "no prefix before the first fork: {err}"
    );
    let _ = std::io::stderr().flush();
}

/// The sandbox stays closed across fork and exec: a child, a grandchild and an exec'd
/// program read and write no more than the first process (here: nothing outside the
/// working directory, nothing written in it), whichever way they try.
#[test]
fn the_sandbox_stays_closed_across_fork_and_exec() {
    let busybox = vmkit_test_support::busybox_i386().canonicalize().unwrap();
    let dir = vmkit_test_support::target_dir()
        .join(format!("x86-process-sandbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&busybox, dir.join("busybox")).unwrap();
    let script = "cat /etc/hostname; (cat /etc/hostname); echo x > made; \
                  (sh -c 'cat ../../../etc/hostname; exec ./busybox cat /etc/hostname'); \
                  x=$(cat /etc/hostname); echo \"[$x]\"; ls made; \
                  exec ./busybox sh -c 'cat /etc/hostname; echo y > made2'";
    let (out, err, status) = run(Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .current_dir(&dir)
        .args(["run", "./busybox", "--", "sh", "-c", script]));
    let (out, err) = (show(&out), show(&err));
    let made = dir.join("made").exists() || dir.join("made2").exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!made, "a guest process wrote into the read-only directory");
    assert_eq!(out, "[]\n", "stderr: {err}");
    assert_eq!(status, Some(1), "{err}");
    let refused = err.matches("Permission denied").count();
    assert!(refused >= 8, "every attempt is refused: {err}");
    assert!(!err.contains("vmkit: SIG"), "{err}");
}
