//! The command line as a user meets it: bad input gets a clear message and a non-zero exit,
//! never a panic; guest exit statuses pass through; the tools round-trip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

fn vmkit_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmkit runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let o = Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stderr.contains("panicked"),
        "vmkit panicked: {}",
        o.stderr
    );
    o
}

fn vmkit(args: &[&str]) -> Outcome {
    vmkit_in(&repo(), args, b"")
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vmkit-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str, contents: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_string_lossy().into_owned()
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn guest_exit_status_is_the_process_status() {
    let t = TempDir::new("exit");
    let src = t.file("exit.s", b"main:\n    mov r1, 42\n    sys exit\n");
    let o = vmkit(&["run", &src]);
    assert_eq!(o.status, 42, "{}", o.stderr);
}

#[test]
fn missing_and_garbage_files_are_clear_errors() {
    let o = vmkit(&["run", "no/such/file.s"]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("cannot read"), "{}", o.stderr);

    let t = TempDir::new("garbage");
    let mut noise = vec![0xFFu8, 0xFE, 0x00, 0x80];
    noise.extend((0..2000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    let p = t.file("noise.bin", &noise);
    let o = vmkit(&["run", &p]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("neither a vmkit image"), "{}", o.stderr);
}

#[test]
fn corrupt_and_truncated_images_are_refused() {
    let t = TempDir::new("corrupt");
    let img = t.0.join("hello.vmi");
    let o = vmkit(&["asm", "examples/hello.s", "-o", img.to_str().unwrap()]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    let bytes = std::fs::read(&img).unwrap();

    let mut flipped = bytes.clone();
    flipped[70] ^= 1;
    let p = t.file("flipped.vmi", &flipped);
    let o = vmkit(&["run", &p]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("checksum"), "{}", o.stderr);

    let p = t.file("short.vmi", &bytes[..bytes.len() / 2]);
    let o = vmkit(&["run", &p]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("image"), "{}", o.stderr);

    // The intact image runs.
    let o = vmkit(&["run", img.to_str().unwrap()]);
    assert_eq!((o.status, o.stdout.as_str()), (0, "Hello World\n"));
}

#[test]
fn assembly_errors_point_at_file_line_and_column() {
    let t = TempDir::new("asmerr");
    let src = t.file(
        "bad.s",
        b"main:\n    mvo r1, 2\n    jmp nowhere\n    halt\n",
    );
    let o = vmkit(&["run", &src]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("bad.s:2:5"), "{}", o.stderr);
    assert!(o.stderr.contains("mov"), "no did-you-mean: {}", o.stderr);
    assert!(
        o.stderr.contains("bad.s:3"),
        "second error not reported: {}",
        o.stderr
    );
}

#[test]
fn endless_loop_stops_at_max_steps() {
    let t = TempDir::new("loop");
    let src = t.file("loop.s", b"main:\n    jmp main\n");
    let o = vmkit(&["run", "--max-steps", "1000000", &src]);
    assert_eq!(o.status, 124);
    assert!(
        o.stderr.contains("stopped after 1000000 instructions"),
        "{}",
        o.stderr
    );
}

#[test]
fn guest_faults_report_ip_instruction_and_registers() {
    let t = TempDir::new("fault");
    let src = t.file("wild.s", b"main:\n    mov r7, 0x7fff0000\n    jmp r7\n");
    let o = vmkit(&["run", &src]);
    assert_eq!(o.status, 139, "{}", o.stderr);
    assert!(o.stderr.contains("ip=0x7fff0000"), "{}", o.stderr);
    assert!(o.stderr.contains("outside guest memory"), "{}", o.stderr);
    assert!(o.stderr.contains("r7=0x000000007fff0000"), "{}", o.stderr);

    let src = t.file("recurse.s", b"main:\n    call main\n");
    let o = vmkit(&["run", &src]);
    assert_eq!(o.status, 139);
    assert!(o.stderr.contains("stack overflow"), "{}", o.stderr);

    let src = t.file("null.s", b"main:\n    mov r1, [r2]\n");
    let o = vmkit(&["run", &src]);
    assert_eq!(o.status, 139);
    assert!(o.stderr.contains("unmapped address 0x0"), "{}", o.stderr);
    assert!(o.stderr.contains("`mov r1, [r2]`"), "{}", o.stderr);
}

#[test]
fn w_x_turns_self_modification_into_a_fault() {
    let o = vmkit(&["run", "--wx", "examples/selfmod.s"]);
    assert_eq!(o.status, 139, "{}", o.stderr);
    assert!(o.stderr.contains("write"), "{}", o.stderr);
    assert_eq!(o.stdout, "1\n");
}

#[test]
fn disassembly_reassembles_to_identical_images() {
    let t = TempDir::new("dis");
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "s") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let a = t.0.join(format!("{stem}.vmi"));
        let o = vmkit(&["asm", path.to_str().unwrap(), "-o", a.to_str().unwrap()]);
        assert_eq!(o.status, 0, "{stem}: {}", o.stderr);
        let o = vmkit(&["dis", a.to_str().unwrap()]);
        assert_eq!(o.status, 0, "{stem}: {}", o.stderr);
        let dis = t.file(&format!("{stem}.dis.s"), o.stdout.as_bytes());
        let b = t.0.join(format!("{stem}.again.vmi"));
        let o = vmkit(&["asm", &dis, "-o", b.to_str().unwrap()]);
        assert_eq!(
            o.status, 0,
            "{stem}: disassembly does not assemble: {}",
            o.stderr
        );
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{stem}: bytes differ"
        );
    }
}

#[test]
fn trace_prints_each_instruction_with_changed_registers() {
    let o = vmkit(&["trace", "--max-steps", "3", "examples/fib.s"]);
    assert_eq!(o.status, 124, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[0].contains("main: mov r6, 0"), "{}", lines[0]);
    assert!(
        lines[1].contains("mov r7, 1") && lines[1].contains("r7=0x1"),
        "{}",
        lines[1]
    );
    let o = vmkit(&["trace", "--json", "--max-steps", "2", "examples/fib.s"]);
    assert!(
        o.stdout
            .lines()
            .all(|l| l.starts_with('{') && l.ends_with('}')),
        "{}",
        o.stdout
    );
}

#[test]
fn files_are_confined_to_the_granted_directory() {
    let t = TempDir::new("files");
    let src = t.file(
        "files.s",
        b"main:\n    mov r1, path\n    mov r2, 1\n    sys open\n    mov r1, r0\n    hcall print_int\n    halt\n.data\npath: .asciz \"out.txt\"\n",
    );
    let o = vmkit(&["run", &src]);
    assert_eq!(o.stdout, "-13\n", "no grant must mean EACCES: {}", o.stderr);
    let dir = t.0.to_str().unwrap().to_string();
    let o = vmkit(&["run", "--grant", &dir, &src]);
    assert_eq!(o.stdout, "3\n", "{}", o.stderr);
    assert!(t.0.join("out.txt").exists());
}

#[test]
fn the_grant_holds_against_links_and_a_refusal_gets_one_hint() {
    let t = TempDir::new("grantlinks");
    let grant = t.0.join("grant");
    std::fs::create_dir_all(grant.join("sub")).unwrap();
    std::fs::create_dir_all(t.0.join("outside")).unwrap();
    std::os::unix::fs::symlink(t.0.join("outside/created"), grant.join("dangling")).unwrap();
    std::os::unix::fs::symlink(t.0.join("outside"), grant.join("out")).unwrap();
    // Two opens for write+create: through a dangling link, through a linked directory.
    let src = t.file(
        "escape.s",
        b"main:\n    mov r1, a\n    mov r2, 1\n    sys open\n    mov r1, r0\n    hcall print_int\n    mov r1, b\n    mov r2, 1\n    sys open\n    mov r1, r0\n    hcall print_int\n    halt\n.data\na: .asciz \"dangling\"\nb: .asciz \"out/new\"\n",
    );
    let g = grant.to_str().unwrap();
    let o = vmkit(&["run", "--grant", g, &src]);
    assert_eq!(o.stdout, "-13\n-13\n", "{}", o.stderr);
    assert!(!t.0.join("outside/created").exists());
    assert!(!t.0.join("outside/new").exists());
    assert_eq!(o.stderr.matches("vmkit: hint:").count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("outside the --grant directory"),
        "{}",
        o.stderr
    );
    // Without --grant, the hint names the flag.
    let o = vmkit(&["run", &src]);
    assert_eq!(o.stdout, "-13\n-13\n", "{}", o.stderr);
    assert_eq!(o.stderr.matches("vmkit: hint:").count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("--grant DIR"), "{}", o.stderr);
    // Relative paths are relative to the granted directory, wherever vmkit runs.
    let src = t.file(
        "sub.s",
        b"main:\n    mov r1, p\n    mov r2, 1\n    sys open\n    mov r1, r0\n    hcall print_int\n    halt\n.data\np: .asciz \"sub/made.txt\"\n",
    );
    let o = vmkit_in(&t.0.join("outside"), &["run", "--grant", g, &src], b"");
    assert_eq!(o.stdout, "3\n", "{}", o.stderr);
    assert!(grant.join("sub/made.txt").exists());
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in ["run", "asm", "dis", "trace", "bench"] {
        let o = vmkit(&[sub, "--help"]);
        assert_eq!(o.status, 0);
        assert!(o.stdout.contains("Example"), "{sub} --help has no example");
    }
}

#[test]
fn a_closed_pipe_ends_the_guest_quietly_like_sigpipe() {
    let t = TempDir::new("pipe");
    let src = t.file(
        "yes.s",
        b"main:\n    mov r1, 1\n    mov r2, m\n    mov r3, 2\n    sys write\n    jmp main\n.data\nm: .ascii \"y\\n\"\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(["run", &src])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 4];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take()); // the reader goes away, as `head` does
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn trace_keeps_guest_output_in_order() {
    let o = vmkit(&["trace", "--max-steps", "6", "examples/fib.s"]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    let hcall = lines
        .iter()
        .position(|l| l.contains("hcall print_int"))
        .expect("hcall traced");
    assert_eq!(lines[hcall + 1], "0", "{}", o.stdout);
}

#[test]
fn asm_refuses_an_image_as_source() {
    let t = TempDir::new("asmimg");
    let img = t.0.join("h.vmi");
    assert_eq!(
        vmkit(&["asm", "examples/hello.s", "-o", img.to_str().unwrap()]).status,
        0
    );
    let o = vmkit(&["asm", img.to_str().unwrap()]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("already an image"), "{}", o.stderr);
}

/// Seed 002: the bytes of PyVM's README example, run as flat code.
#[test]
fn pyvm_readme_example_runs_under_the_x86_guest() {
    let o = vmkit(&[
        "run",
        "--arch",
        "x86",
        "--raw",
        "examples/x86/pyvm_hello.bin",
    ]);
    assert_eq!(
        (o.status, o.stdout.as_str()),
        (0, "Hello, world!\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn x86_guest_faults_and_unknown_syscalls_are_reported() {
    let t = TempDir::new("x86");
    // xor eax, eax ; div eax
    let p = t.file("div.bin", &[0x31, 0xC0, 0xF7, 0xF0]);
    let o = vmkit(&["run", "--arch", "x86", "--raw", &p]);
    assert_eq!(o.status, 136, "{}", o.stderr);
    assert!(
        o.stderr.contains("SIGFPE") && o.stderr.contains("div eax"),
        "{}",
        o.stderr
    );
    // mov eax, 222 ; int 0x80 ; neg eax ; mov ebx, eax ; mov eax, 1 ; int 0x80 (222 is a
    // hole in the i386 table: no call will ever have it). ENOSYS, as Linux answers, and the
    // program goes on; --strict-syscalls stops it instead.
    let p = t.file(
        "sys.bin",
        &[
            0xB8, 222, 0, 0, 0, 0xCD, 0x80, 0xF7, 0xD8, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80,
        ],
    );
    let o = vmkit(&["run", "--arch", "x86", "--raw", &p]);
    assert_eq!(o.status, 38, "ENOSYS: {}", o.stderr);
    let o = vmkit(&["run", "--strict-syscalls", "--arch", "x86", "--raw", &p]);
    assert!(
        o.stderr.contains("unsupported system call 222 (unknown)"),
        "{}",
        o.stderr
    );
    assert_eq!(o.status, 128 + 31);
    // A jump into unmapped memory.
    let p = t.file("wild.bin", &[0xB8, 0, 0, 0, 0x70, 0xFF, 0xE0]);
    let o = vmkit(&["run", "--arch", "x86", "--raw", &p]);
    assert_eq!(o.status, 139, "{}", o.stderr);
    assert!(o.stderr.contains("eip=0x70000000"), "{}", o.stderr);
}

/// `/dev/zero`, a FIFO and a directory are refused by name at once by every command that
/// reads a file, instead of being read without end (or waited on).
#[test]
fn inputs_that_are_not_regular_files_are_refused() {
    let t = TempDir::new("notfile");
    let out = t.0.join("out.vmi");
    let out = out.to_str().unwrap();
    let fifo = t.0.join("fifo");
    let have_fifo = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let dir = t.0.to_str().unwrap().to_string();
    let mut cases = vec![
        ("/dev/zero".to_string(), "a character device"),
        (dir, "a directory"),
    ];
    if have_fifo {
        cases.push((fifo.to_str().unwrap().to_string(), "a FIFO"));
    }
    for (path, kind) in &cases {
        for args in [
            vec!["run", path],
            vec!["run", "--arch", "x86", path],
            vec!["asm", path, "-o", out],
            vec!["dis", path],
            vec!["trace", path],
            vec!["protect", path, "-o", out],
            vec!["devirt", path, "-o", out],
        ] {
            let o = vmkit(&args);
            assert_eq!(o.status, 1, "{args:?}: {}", o.stderr);
            let want = format!("cannot read {path}: it is {kind}, not a regular file");
            assert!(o.stderr.contains(&want), "{args:?}: {}", o.stderr);
        }
    }
    // A profile is read the same way.
    let src = t.file("p.s", b"main:\n    mov r1, 0\n    sys exit\n");
    let o = vmkit(&["protect", &src, "-o", out, "--profile", "/dev/zero"]);
    assert_eq!(o.status, 1, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("cannot read /dev/zero: it is a character device"),
        "{}",
        o.stderr
    );
}

#[test]
fn inputs_larger_than_the_limit_are_refused() {
    let t = TempDir::new("toobig");
    let p = t.0.join("big.s");
    let f = std::fs::File::create(&p).unwrap();
    // Sparse: 64 MiB and one byte, without writing them.
    f.set_len((64 << 20) + 1).unwrap();
    let p = p.to_str().unwrap();
    for args in [vec!["run", p], vec!["asm", p], vec!["dis", p]] {
        let o = vmkit(&args);
        assert_eq!(o.status, 1, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!(
                "cannot read {p}: it is larger than the limit of 64 MiB"
            )),
            "{args:?}: {}",
            o.stderr
        );
    }
}
