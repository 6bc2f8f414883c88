//! Real binaries nobody here wrote: Debian's busybox-static for i386. Each invocation runs
//! twice with the same arguments, environment, stdin and working directory: natively (the
//! i386 binary runs directly on an x86-64 host) and under `vmkit run`. Stdout, stderr and
//! the exit status must be byte-identical.
//!
//! Stderr is compared too, unnormalised: the guest's `argv[0]` is the same path string as
//! the native one, so busybox names itself the same way in both runs. vmkit's own messages
//! (a fault, an unsupported system call) only appear when the run fails anyway, and are
//! shown in the report as the reason.
//!
//! The binary lives at `target/busybox-i386/bin/busybox`; the test fetches it there itself
//! on first use (`vmkit_test_support::busybox_i386`: `apt-get download`, no root needed).
//! If that cannot work here, the test fails at once and says how to get it; it never
//! skips. Every failing invocation is reported at once, with the first differing bytes.
//!
//! Shell pipelines, `$(...)`, background jobs, `xargs`, `find -exec` and `env CMD` run
//! several guest processes (`fork`, `execve` of `/proc/self/exe`, `wait4`, pipes), as they
//! do natively.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A run that takes longer than this is stopped and reported (the guest spun or blocked).
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// One busybox invocation: applet arguments and stdin.
struct Case {
    args: Vec<String>,
    stdin: Vec<u8>,
}

/// What one run produced; `status` is `None` when the process was killed by a signal or
/// stopped at [`TIME_LIMIT`].
#[derive(PartialEq, Eq)]
struct Outcome {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Prose for the text tools: repeated words and lines, mixed case, punctuation, a tab.
const TEXT: &str = "the quick brown fox\njumps over the lazy dog\nThe Quick Brown Fox\n\
apple banana cherry\napple banana cherry\nzebra\n  leading spaces\ttab\n\
last line, with punctuation!\n";

const NUMBERS: &str = "10\n9\n100\n-3\n42\n7\n42\n0\n1000\n3\n";

const TABLE: &str = "name,qty,price\npear,3,120\napple,12,45\nfig,7,300\nkiwi,12,80\nplum,1,99\n";

/// Deterministic pseudo-random bytes (xorshift32), compressible in parts.
fn data_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Every other 256-byte run is text-like, so gzip has something to find.
            if (i / 256) % 2 == 0 {
                b"abcdefgh \n"[(state % 10) as usize]
            } else {
                state as u8
            }
        })
        .collect()
}

/// The working directory's input files.
fn write_fixtures(dir: &Path) {
    let files: [(&str, Vec<u8>); 7] = [
        ("words.txt", TEXT.into()),
        ("numbers.txt", NUMBERS.into()),
        ("table.csv", TABLE.into()),
        ("a.txt", b"one\ntwo\nthree\nfour\nfive\n".to_vec()),
        ("b.txt", b"one\n2\nthree\nfour\n5\nsix\n".to_vec()),
        ("same.txt", b"one\ntwo\nthree\nfour\nfive\n".to_vec()),
        ("data.bin", data_bytes(8192)),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn case(args: &[&str], stdin: &[u8]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: stdin.to_vec(),
    }
}

/// `sh -c SCRIPT` with no stdin.
fn sh(script: &str) -> Case {
    case(&["sh", "-c", script], b"")
}

/// The invocations. `gz` is gzip's native output for [`TEXT`] (gunzip's input).
fn cases(gz: &[u8]) -> Vec<Case> {
    let text = TEXT.as_bytes();
    let numbers = NUMBERS.as_bytes();
    let data = data_bytes(8192);
    vec![
        // The shell: arithmetic, loops, case, functions, parameter expansion, builtins.
        sh("echo $((3*7+2)) $((17/5)) $((17%5)) $((-17/5)) $((1<<20)) $((0x1f^5)) $((7>3)) $((2147483647+1))"),
        sh("i=0; s=0; while [ $i -lt 200 ]; do s=$((s+i*i)); i=$((i+1)); done; echo $s"),
        sh("for w in alpha beta gamma; do for n in 1 2; do printf '%s%d ' $w $n; done; done; echo"),
        sh("for x in 1 apple 42 zz Apple; do case $x in [0-9]*) echo \"$x num\";; a*) echo \"$x a-word\";; *) echo \"$x other\";; esac; done"),
        sh("fact() { r=1; n=$1; while [ $n -gt 1 ]; do r=$((r*n)); n=$((n-1)); done; }; fact 12; echo $r"),
        sh("down() { if [ $1 -gt 0 ]; then down $(($1-1)); fi; echo \"depth $1\"; }; down 6"),
        sh("x=hello.tar.gz; echo ${#x} ${x%.gz} ${x%%.*} ${x#*.} ${x##*.} ${x/l/L} ${x//l/L} ${x:1:3} ${y:-unset} ${y:=set} $y"),
        sh("set -- a 'b c' d; echo $#; shift; for a in \"$@\"; do echo \"[$a]\"; done"),
        sh("n=0; until [ $n -ge 5 ]; do n=$((n+1)); [ $n -eq 3 ] && continue; echo $n; done; exit 7"),
        case(&["sh", "-c", "while read a b; do echo \"$b|$a\"; done"], text),
        // Processes: pipelines, command substitution, subshells, background jobs, and
        // applets that run other programs.
        sh("echo a b c | tr a-z A-Z | rev"),
        sh("x=$(echo sub | tr s S); echo \"[$x]\" $(seq 3) `echo back`"),
        sh("seq 100000 | head -n 2; echo status $?"),
        sh("(exit 3); echo $?; false | true; echo $?; sh -c 'exit 4'; echo $?"),
        sh("sort words.txt | uniq -c | sort -rn | head -n 3"),
        sh("ls | wc -l; cat a.txt | grep -c e"),
        sh("seq 7 | xargs -n 3 echo"),
        sh("find . -name '*.txt' -exec wc -l {} \\; | sort"),
        case(&["env", "A=1", "B=two", "sh", "-c", "echo $A $B"], b""),
        case(&["xargs", "-n", "2", "echo", "x"], b"1 2 3 4 5\n"),
        // The shell and its child read the same stdin: nothing read ahead is lost.
        case(&["sh", "-c", "read x; echo \"sh read $x\"; (cat); echo after; read y; echo \"y=$y\""], b"one\ntwo\nthree\n"),
        sh("f() { echo \"f got $1\"; return 5; }; out=$(f one); echo \"$out\" $?; echo ok | (read v; echo \"sub read $v\")"),
        // Sorting and counting.
        case(&["sort"], text),
        case(&["sort", "-n"], numbers),
        case(&["sort", "-rn"], numbers),
        case(&["sort", "-u"], text),
        case(&["sort", "-t", ",", "-k", "2,2n", "-k", "1,1"], TABLE.as_bytes()),
        case(&["sort", "-t", ",", "-k", "3nr", "table.csv"], b""),
        case(&["uniq", "-c"], text),
        case(&["uniq", "-d"], text),
        case(&["wc"], text),
        case(&["wc", "-l", "-w", "words.txt", "numbers.txt"], b""),
        // Digests and encodings.
        case(&["sha256sum"], &data),
        case(&["sha256sum", "data.bin", "words.txt"], b""),
        case(&["md5sum"], &data),
        case(&["md5sum", "data.bin"], b""),
        case(&["sha1sum"], text),
        case(&["sha512sum"], text),
        case(&["sha3sum"], text),
        case(&["crc32"], &data),
        case(&["base64"], &data[..1000]),
        case(&["base64", "-d"], b"aGVsbG8sIGk0ODYgd29ybGQhCg==\n"),
        case(&["od", "-A", "x", "-t", "x1"], &data[..200]),
        case(&["od", "-c"], text),
        case(&["xxd"], &data[..300]),
        case(&["hexdump", "-C"], &data[..300]),
        case(&["gzip", "-c"], &data),
        case(&["gunzip", "-c"], gz),
        case(&["bzip2", "-c"], text),
        // Text tools.
        case(&["tr", "a-z", "A-Z"], text),
        case(&["tr", "-d", "aeiou"], text),
        case(&["tr", "-s", " a-z"], text),
        case(&["sed", "s/an/AN/g"], text),
        case(&["sed", "-n", "2,4p"], text),
        case(&["sed", "-e", "/^apple/d", "-e", "s/\\(qu\\)\\(ick\\)/\\2\\1/"], text),
        case(&["sed", "-n", "/o/=", "words.txt"], b""),
        case(&["awk", "{ n += NF; print NR \": \" $1 } END { printf \"%d words\\n\", n }"], text),
        case(&["awk", "-F,", "NR > 1 { t += $2 * $3 } END { printf \"%d %x\\n\", t, t }"], TABLE.as_bytes()),
        case(&["awk", "{ s = s $1 } END { print length(s), substr(s, 3, 5), index(s, \"dog\") }"], text),
        case(&["cat"], text),
        case(&["cat", "a.txt", "b.txt"], b""),
        case(&["head", "-n", "3"], text),
        case(&["tail", "-n", "2"], text),
        case(&["tail", "-c", "20", "words.txt"], b""),
        case(&["cut", "-d", ",", "-f", "1,3"], TABLE.as_bytes()),
        case(&["cut", "-c", "2-6"], text),
        case(&["paste", "a.txt", "b.txt"], b""),
        case(&["paste", "-s", "-d", ","], numbers),
        case(&["rev"], text),
        case(&["fold", "-w", "8"], text),
        case(&["nl"], text),
        case(&["tac"], text),
        case(&["expand"], text),
        case(&["grep", "-n", "the"], text),
        case(&["grep", "-c", "-i", "quick"], text),
        case(&["grep", "-v", "a"], text),
        case(&["grep", "nothing-matches"], text),
        case(&["egrep", "fox|dog"], text),
        case(&["grep", "-E", "^-?[0-9]{2}$"], numbers),
        case(&["grep", "-l", "three", "a.txt", "b.txt", "words.txt"], b""),
        case(&["cmp", "a.txt", "b.txt"], b""),
        case(&["cmp", "a.txt", "same.txt"], b""),
        case(&["diff", "-u", "a.txt", "b.txt"], b""),
        // Numbers.
        case(&["seq", "10"], b""),
        case(&["seq", "5", "-3", "-7"], b""),
        case(&["seq", "-w", "8", "12"], b""),
        // Floating point (the x87 FPU): fractional steps and formatting.
        case(&["seq", "0.5", "0.25", "2"], b""),
        case(&["seq", "-s", ",", "0.1", "0.1", "1"], b""),
        case(
            &["awk", "{ s += $1 / 7 } END { printf \"%.10f %g %e\\n\", s, s * 1e10, -s }"],
            b"1\n2\n3\n10\n",
        ),
        case(&["expr", "3", "+", "4", "*", "5"], b""),
        case(&["expr", "length", "hello"], b""),
        case(&["expr", "abcdef", ":", "a\\(..\\)"], b""),
        case(&["expr", "7", "/", "0"], b""),
        case(&["factor", "360", "1000000007", "4294967291", "600851475143"], b""),
        case(&["bc"], b"2^100\nobase=16\n2^64-1\nscale=0\n1000003 % 97\n"),
        case(&["dc", "-e", "2 64 ^ p 17 5 / p 17 5 % p"], b""),
        case(&["printf", "%5d|%-4s|%x|%o|%c|%s\\n", "42", "ab", "255", "8", "z", "end"], b""),
        case(&["date", "-u", "-d", "@1000000000", "+%Y-%m-%d %H:%M:%S %j %a"], b""),
        // Paths and exit statuses.
        case(&["basename", "/usr/lib/libc.so.6", ".6"], b""),
        case(&["dirname", "/usr/lib/libc.so.6"], b""),
        case(&["test", "3", "-gt", "2"], b""),
        case(&["[", "abc", "=", "abd", "]"], b""),
        case(&["test", "-z", ""], b""),
        case(&["true"], b""),
        case(&["false"], b""),
        case(&["echo", "-n", "no newline"], b""),
        case(&["stat", "-c", "%s %n", "data.bin", "a.txt"], b""),
        case(&["ls", "-1"], b""),
    ]
}

/// Runs `cmd` with `stdin`, collecting everything, within [`TIME_LIMIT`].
fn run(cmd: &mut Command, stdin: &[u8]) -> Outcome {
    let mut child: Child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let input = stdin.to_vec();
    let mut pipe_in = child.stdin.take().unwrap();
    // A program that does not read stdin may exit first: a broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = pipe_in.write_all(&input);
    });
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
    let _ = writer.join();
    Outcome {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The environment both runs get (nothing from the host, so both see the same).
fn controlled(mut cmd: Command, dir: &Path) -> Command {
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("HOME", dir)
        .current_dir(dir);
    cmd
}

/// Bytes for a report: printable ASCII as is, the rest escaped, cut to `max` bytes.
fn show(bytes: &[u8], max: usize) -> String {
    let mut s: String = bytes
        .iter()
        .take(max)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}

/// Where two byte strings first differ, with some bytes of each from there.
fn first_difference(what: &str, native: &[u8], vmkit: &[u8]) -> Option<String> {
    if native == vmkit {
        return None;
    }
    let at = native
        .iter()
        .zip(vmkit)
        .position(|(a, b)| a != b)
        .unwrap_or(native.len().min(vmkit.len()));
    let from = at.saturating_sub(16);
    Some(format!(
        "  {what} differs at byte {at} (lengths {} native, {} vmkit):\n    native: \"{}\"\n    vmkit:  \"{}\"",
        native.len(),
        vmkit.len(),
        show(&native[from..], 64),
        show(&vmkit[from..], 64)
    ))
}

fn describe(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '\'', '"', '$', '*', '|', ';', '\\', '(']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn busybox_applets_behave_as_on_the_real_cpu() {
    let busybox = vmkit_test_support::busybox_i386().canonicalize().unwrap();
    let dir = std::env::temp_dir().join(format!("vmkit-busybox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_fixtures(&dir);

    let native = |case: &Case| {
        let mut cmd = controlled(Command::new(&busybox), &dir);
        cmd.args(&case.args);
        run(&mut cmd, &case.stdin)
    };
    let guest = |case: &Case| {
        let mut cmd = controlled(Command::new(env!("CARGO_BIN_EXE_vmkit")), &dir);
        // Every block translated from its first run (the translator is the default engine).
        cmd.env("VMKIT_JIT_THRESHOLD", "1");
        cmd.arg("run").arg(&busybox).arg("--").args(&case.args);
        run(&mut cmd, &case.stdin)
    };

    let gz = native(&case(&["gzip", "-c"], TEXT.as_bytes()));
    assert_eq!(gz.status, Some(0), "native gzip failed");
    let cases = cases(&gz.stdout);
    assert!(cases.len() >= 30);

    let mut failures = Vec::new();
    for case in &cases {
        let want = native(case);
        let got = guest(case);
        if want == got {
            continue;
        }
        let mut report = format!(
            "busybox {}: exit status native {:?}, vmkit {:?}",
            describe(&case.args),
            want.status,
            got.status
        );
        for diff in [
            first_difference("stdout", &want.stdout, &got.stdout),
            first_difference("stderr", &want.stderr, &got.stderr),
        ]
        .into_iter()
        .flatten()
        {
            report.push('\n');
            report.push_str(&diff);
        }
        // vmkit's own diagnosis (fault, unsupported system call) is the likely reason.
        for line in String::from_utf8_lossy(&got.stderr).lines() {
            if line.starts_with("vmkit:") {
                report.push_str("\n  ");
                report.push_str(line);
            }
        }
        failures.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} of {} busybox invocations differ from the real CPU:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
