//! Debian's own i386 programs under `--root`: each case runs one command inside the Debian
//! root (`target/debian-i386-root/`, fetched by the test on first use: see
//! `vmkit_test_support::debian_root`) natively with `chroot` and under
//! `vmkit run --root`, with the same environment and stdin, and stdout, stderr and the exit
//! status must be byte-identical. The tests run as root, as CI does (chroot needs it).
//!
//! Single-process cases (coreutils, grep, sed, find, python3.11 arithmetic), and bash,
//! gawk and python with processes and threads: pipelines, command substitution, subshells,
//! background jobs, `os.fork`, `subprocess`, `threading`.
//!
//! The escape tests build a small root of their own around busybox (static), with links
//! that point out of it, and check that `--root` keeps them inside, as `chroot` does.

use std::path::{Path, PathBuf};
use vmkit_test_support::{compare_in_root, run_chroot, run_vmkit_root, RunResult};

fn vmkit() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vmkit"))
}

/// Runs every case both ways and reports all differences at once.
fn compare_all(cases: &[(&[&str], &[u8])]) {
    let mut failures = Vec::new();
    for (argv, stdin) in cases {
        let (native, guest) = compare_in_root(vmkit(), argv, stdin).unwrap();
        if native != guest {
            failures.push(format!(
                "{argv:?}\n=== native\n{}=== vmkit\n{}",
                native.show(),
                guest.show()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const TEXT: &[u8] = b"pear 3\napple 10\nzucchini 7\nbanana 10\napple 2\n\xc3\xa9clair 1\n";

#[test]
fn coreutils_match_chroot() {
    compare_all(&[
        (&["/usr/bin/sort"], TEXT),
        (&["/usr/bin/sort", "-k2,2n", "-k1,1r"], TEXT),
        (&["/usr/bin/sort", "-u", "-t", " ", "-k1,1"], TEXT),
        (&["/usr/bin/wc"], TEXT),
        (
            &[
                "/usr/bin/wc",
                "-l",
                "/etc/bash.bashrc",
                "/etc/debian_version",
            ],
            b"",
        ),
        (&["/usr/bin/md5sum"], TEXT),
        (&["/usr/bin/sha256sum", "/etc/debian_version"], b""),
        (&["/bin/cat", "-n", "/etc/debian_version", "-"], TEXT),
        (&["/usr/bin/head", "-c", "50", "/etc/bash.bashrc"], b""),
        (&["/usr/bin/tail", "-n", "2"], TEXT),
        (&["/usr/bin/tr", "a-z", "A-Z"], TEXT),
        (&["/usr/bin/cut", "-d", " ", "-f", "2"], TEXT),
        (&["/usr/bin/uniq", "-c"], b"a\na\nb\nc\nc\nc\n"),
        (&["/usr/bin/seq", "-s", ",", "1", "3", "20"], b""),
        (&["/usr/bin/seq", "0.5", "0.25", "2"], b""),
        (&["/usr/bin/expr", "6", "*", "7"], b""),
        (
            &[
                "/usr/bin/printf",
                "%5.2f|%x|%o|%e|%s\\n",
                "3.14159",
                "255",
                "8",
                "12345.678",
                "z",
            ],
            b"",
        ),
        (&["/usr/bin/factor", "1234567891011", "600851475143"], b""),
        (&["/usr/bin/basename", "/usr/share/doc/bash/README"], b""),
        (&["/bin/ls", "/etc/skel", "/usr/share/doc/bash"], b""),
        (&["/bin/ls", "-a", "/etc/skel"], b""),
        (&["/bin/cat", "/no/such/file"], b""),
        (&["/usr/bin/sort", "--no-such-option"], b""),
        (
            &["/usr/bin/od", "-A", "x", "-t", "x1z", "/etc/debian_version"],
            b"",
        ),
        (&["/bin/readlink", "-f", "/lib/ld-linux.so.2"], b""),
        (
            &["/usr/bin/realpath", "/usr/lib/../bin", "/etc/skel/.bashrc"],
            b"",
        ),
        (
            &[
                "/bin/dd",
                "if=/etc/bash.bashrc",
                "bs=7",
                "count=3",
                "status=none",
            ],
            b"",
        ),
        (&["/usr/bin/base64"], TEXT),
        (
            &["/bin/date", "-u", "-d", "@1234567890", "+%F %T %s %j"],
            b"",
        ),
        (&["/usr/bin/du", "-s", "--apparent-size", "/etc/skel"], b""),
        (
            &[
                "/usr/bin/mawk",
                "{ s += $2 } END { printf \"%d %.6f\\n\", s, s / NR }",
            ],
            TEXT,
        ),
        (
            &["/usr/bin/original-awk", "{ print NR, $1, length($1) }"],
            TEXT,
        ),
        (&["/bin/true"], b""),
        (&["/bin/false"], b""),
    ]);
}

#[test]
fn temporary_files_in_a_writable_tmp_match_chroot() {
    // tac and sort with a tiny buffer write temporary files in /tmp: the guest may, with
    // --allow-write ROOT/tmp, and removes them as the native run does.
    let tmp = vmkit_test_support::debian_root().join("tmp");
    let before = std::fs::read_dir(&tmp).unwrap().count();
    for (argv, stdin) in [
        (&["/usr/bin/tac"][..], TEXT),
        (&["/usr/bin/sort", "-S", "1", "-T", "/tmp", "-r"][..], TEXT),
    ] {
        let (native, guest) =
            vmkit_test_support::compare_in_root_writable(vmkit(), true, argv, stdin).unwrap();
        assert_eq!(
            native,
            guest,
            "{argv:?}\n{}\n{}",
            native.show(),
            guest.show()
        );
    }
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        before,
        "temporaries left"
    );
}

#[test]
fn grep_sed_find_match_chroot() {
    compare_all(&[
        (&["/bin/grep", "-n", "PS1", "/etc/bash.bashrc"], b""),
        (&["/bin/grep", "-c", "-i", "A"], TEXT),
        (&["/bin/grep", "-E", "-o", "[a-z]+ 1[0-9]"], TEXT),
        (&["/bin/grep", "-v", "-e", "apple", "-e", "pear"], TEXT),
        (&["/bin/grep", "-r", "-l", "bash", "/etc/skel"], b""),
        (&["/bin/grep", "nothing-matches-this"], TEXT),
        (&["/bin/sed", "-n", "2,4p"], TEXT),
        (
            &[
                "/bin/sed",
                "-E",
                "s/([a-z])([a-z]*) ([0-9]+)/\\3:\\2\\1/;y/abc/xyz/",
            ],
            TEXT,
        ),
        (&["/bin/sed", "-n", "/^#/!p", "/etc/skel/.bashrc"], b""),
        (&["/bin/sed", "=", "/etc/debian_version"], b""),
        (&["/usr/bin/find", "/etc/skel"], b""),
        (
            &[
                "/usr/bin/find",
                "/usr/share/doc/bash",
                "-type",
                "f",
                "-name",
                "*.gz",
            ],
            b"",
        ),
        (
            &[
                "/usr/bin/find",
                "/etc",
                "-maxdepth",
                "1",
                "-name",
                "b*",
                "-print",
            ],
            b"",
        ),
        (&["/usr/bin/find", "/no/such/dir"], b""),
    ]);
}

#[test]
fn python_arithmetic_matches_chroot() {
    compare_all(&[
        (
            &[
                "/usr/bin/python3.11",
                "-c",
                "print(2**200, 3**100 % 1000007, 7**77 // 13**13, -7 // 2, divmod(-7, 2))",
            ],
            b"",
        ),
        (
            &[
                "/usr/bin/python3.11",
                "-c",
                "print(1/3, 0.1 + 0.2, 1e308 * 10, 2.5e-320, float('nan'), round(2.675, 2), 10**-5)",
            ],
            b"",
        ),
        (
            &[
                "/usr/bin/python3.11",
                "-c",
                "import math; print(math.pi, math.e, math.sqrt(2), math.factorial(40), math.gcd(2**64, 6**30), math.fsum([0.1] * 10), math.atan2(1, 3), math.exp(2.5), math.log(1.4))",
            ],
            b"",
        ),
        (
            &[
                "/usr/bin/python3.11",
                "-c",
                "import sys; data = sys.stdin.read(); print(sorted(data.split()), len(data)); print(hash('x') == hash('x'), repr(1.1 * 3))",
            ],
            TEXT,
        ),
        (
            &["/usr/bin/python3.11", "-c", "import sys; print('to stderr', file=sys.stderr); sys.exit(7)"],
            b"",
        ),
        (&["/usr/bin/python3.11", "-c", "raise ValueError('boom')"], b""),
        (
            &[
                "/usr/bin/python3.11",
                "-c",
                "import json, re, collections, os; print(json.dumps({'a': [1, 2.5, None]}, sort_keys=True), re.findall(r'\\d+', 'a1b22c333'), collections.Counter('mississippi').most_common(2), sorted(os.listdir('/etc/skel')))",
            ],
            b"",
        ),
    ]);
}

/// sqlite3's shell (it probes nscd through a socket for `getpwuid` at start-up, which the
/// closed network answers as Linux does without nscd): SQL from the command line and from
/// stdin.
#[test]
fn sqlite3_matches_chroot() {
    const SQL: &[u8] = b"create table t(a integer primary key, b text, c real);
insert into t(b, c) values ('pear', 1.5), ('apple', 2.25), ('fig', -0.125);
with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000)
  insert into t(b, c) select printf('item%04d', i), i / 7.0 from n;
create index tb on t(b);
select count(*), sum(c), printf('%.6f', avg(c)), min(b), max(b) from t;
select b, c from t where b < 'b' order by c desc limit 3;
select group_concat(b, '+') from (select b from t order by a limit 4);
select typeof(1), typeof(1.0), typeof('x'), typeof(null), 7 / 2, 7 % 3, 1e300 * 1e10;
";
    compare_all(&[
        (
            &[
                "/usr/bin/sqlite3",
                ":memory:",
                "select 1 + 1, upper('abc'), printf('%.3f', 2 / 7.0), sqlite_version() > '3'",
            ],
            b"",
        ),
        (&["/usr/bin/sqlite3", ":memory:"], SQL),
        (&["/usr/bin/sqlite3", "-header", "-csv", ":memory:"], SQL),
        (
            &["/usr/bin/sqlite3", ":memory:", "select * from nosuchtable"],
            b"",
        ),
    ]);
}

/// bash as a script uses it: pipelines, command substitution, functions, subshell exit
/// statuses, `set -o pipefail`, background jobs and `wait`, `trap` on signals and EXIT, here
/// documents,
/// coreutils and gawk in pipelines, `xargs`.
#[test]
fn bash_pipelines_and_jobs_match_chroot() {
    const SCRIPT: &str = r#"
f() { local x=$1; echo "f($x)"; return $((x % 4)); }
f 7; echo "status $?"
echo "sub: $(echo inner | tr a-z A-Z) $(f 2)"
(exit 5); echo "subshell $?"
( cd /etc && pwd ); pwd
false | true; echo "pipe $?"
set -o pipefail; false | true; echo "pipefail $?"; set +o pipefail
printf '%s\n' pear apple fig | sort | head -n 2 | tr '\n' ,; echo
seq 1 100 | gawk '{ s += $1 } END { printf "sum %d mean %.3f\n", s, s / NR }'
cat /etc/debian_version | wc -c
sleep 0.2 & p=$!; (exit 3) & q=$!; wait $q; echo "job q $?"; wait $p; echo "job p $?"
for i in 1 2 3; do echo "item $i"; done | while read -r x; do echo "[$x]"; done
cat <<END | sed 's/^/> /'
here $((6 * 7))
END
find /etc/skel -type f | xargs -n1 basename | sort
trap 'echo "got USR1"' USR1; kill -USR1 $$; echo "after USR1"
trap - USR1
( trap 'echo "sub TERM"; exit 9' TERM; kill -TERM $BASHPID; sleep 5 ); echo "sub $?"
sh_pid=$(bash -c 'echo $$ >&2; kill -KILL $$' 2>/dev/null; echo $?); echo "killed child $sh_pid"
trap 'echo "exit trap"' EXIT
echo done
"#;
    compare_all(&[
        (&["/bin/bash", "-c", SCRIPT], b""),
        (&["/bin/bash", "-c", "exit 42"], b""),
        (
            &["/bin/bash", "-c", "/usr/bin/no-such-program; echo $?"],
            b"",
        ),
        (
            &["/bin/bash", "-s"],
            b"read a b; echo \"$b $a\" | rev; exit $((${#a} + 1))\nhello world\n",
        ),
    ]);
}

/// python's own process, signal and thread modules: `signal.signal` with `os.kill` and
/// `setitimer`, `os.fork`, `os.pipe`, `os.waitpid`, `subprocess.run`, `threading` with a lock and a condition variable (results printed in
/// a fixed order).
#[test]
fn python_processes_and_threads_match_chroot() {
    const FORK: &str = r#"
import os
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.write(w, b'from child ' + str(sum(range(1000))).encode())
    os._exit(9)
os.close(w)
data = os.read(r, 100)
_, status = os.waitpid(pid, 0)
print(data.decode(), os.WIFEXITED(status), os.WEXITSTATUS(status))
"#;
    const SUBPROCESS: &str = r#"
import subprocess
r = subprocess.run(['/usr/bin/sort', '-r'], input=b'a\nc\nb\n', capture_output=True)
print(r.returncode, r.stdout)
r = subprocess.run(['/bin/bash', '-c', 'echo err >&2; exit 3'], capture_output=True)
print(r.returncode, r.stderr)
print(subprocess.check_output('echo $((2**10))', shell=True))
"#;
    const THREADS: &str = r#"
import threading
lock = threading.Lock()
total = [0]
results = {}
def work(n):
    s = sum(i * i for i in range(n))
    with lock:
        total[0] += s
        results[n] = s
ts = [threading.Thread(target=work, args=(n,)) for n in (1000, 20000, 300, 50000)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(total[0], sorted(results.items()))
cv = threading.Condition()
box = []
def producer():
    for i in range(5):
        with cv:
            box.append(i)
            cv.notify()
t = threading.Thread(target=producer)
t.start()
got = []
while len(got) < 5:
    with cv:
        while not box:
            cv.wait()
        got.extend(box)
        box.clear()
t.join()
print(got, threading.active_count())
"#;
    const SIGNALS: &str = r#"
import os, signal, time
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(('usr1', s)))
signal.signal(signal.SIGALRM, lambda s, f: got.append(('alrm', s)))
os.kill(os.getpid(), signal.SIGUSR1)
signal.setitimer(signal.ITIMER_REAL, 0.05)
time.sleep(1)
pid = os.fork()
if pid == 0:
    signal.pause()
    os._exit(1)
time.sleep(0.05)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print(got, os.WIFSIGNALED(status), os.WTERMSIG(status))
try:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.kill(os.getpid(), signal.SIGINT)
except KeyboardInterrupt:
    print('KeyboardInterrupt')
"#;
    compare_all(&[
        (&["/usr/bin/python3.11", "-c", SIGNALS], b""),
        (&["/usr/bin/python3.11", "-c", FORK], b""),
        (&["/usr/bin/python3.11", "-c", SUBPROCESS], b""),
        (&["/usr/bin/python3.11", "-c", THREADS], b""),
    ]);
}

/// A small root around busybox (static) with links that lead out of it, and a secret file
/// outside it. Removed when dropped.
struct EscapeRoot {
    root: PathBuf,
    secret_dir: PathBuf,
}

impl EscapeRoot {
    fn new(tag: &str) -> EscapeRoot {
        let base = vmkit_test_support::target_dir()
            .join(format!("x86-debian-escape-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let secret_dir = base.join("secret");
        for d in ["bin", "etc", "proc", "out", "dev"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::create_dir_all(&secret_dir).unwrap();
        std::fs::write(secret_dir.join("s.txt"), "SECRET\n").unwrap();
        std::fs::copy(vmkit_test_support::busybox_i386(), root.join("bin/busybox")).unwrap();
        std::fs::write(root.join("etc/in.txt"), "inside\n").unwrap();
        let secret = secret_dir.join("s.txt");
        let up = "../".repeat(secret.components().count() + 3);
        let relative = format!(
            "{up}{}",
            secret.display().to_string().trim_start_matches('/')
        );
        std::os::unix::fs::symlink(&secret, root.join("abs")).unwrap();
        std::os::unix::fs::symlink(&relative, root.join("etc/rel")).unwrap();
        std::os::unix::fs::symlink(&secret_dir, root.join("etc/dirlink")).unwrap();
        std::os::unix::fs::symlink("/etc/in.txt", root.join("absin")).unwrap();
        std::os::unix::fs::symlink("../../etc", root.join("etc/up")).unwrap();
        EscapeRoot { root, secret_dir }
    }

    fn secret(&self) -> String {
        self.secret_dir.join("s.txt").display().to_string()
    }

    fn both(&self, extra: &[&str], argv: &[&str]) -> (RunResult, RunResult) {
        (
            run_chroot(&self.root, argv, b"").unwrap(),
            run_vmkit_root(vmkit(), &self.root, extra, argv, b"").unwrap(),
        )
    }
}

impl Drop for EscapeRoot {
    fn drop(&mut self) {
        if let Some(base) = self.root.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

#[test]
fn links_dotdot_and_proc_stay_inside_the_root() {
    let r = EscapeRoot::new("links");
    let secret = r.secret();
    let through_proc = format!("/proc/self/root{secret}");
    let dotdot = format!("/../../..{secret}");
    let paths = [
        "/abs",
        "/etc/rel",
        "/etc/dirlink/s.txt",
        through_proc.as_str(),
        dotdot.as_str(),
        secret.as_str(),
        "/absin",
        "/etc/up/in.txt",
    ];
    let mut failures = Vec::new();
    for path in paths {
        let (native, guest) = r.both(&[], &["/bin/busybox", "cat", path]);
        assert!(
            !guest.stdout.windows(6).any(|w| w == b"SECRET"),
            "{path} escaped the root: {}",
            guest.show()
        );
        if native != guest {
            failures.push(format!(
                "cat {path}\n=== native\n{}=== vmkit\n{}",
                native.show(),
                guest.show()
            ));
        }
    }
    // A directory listing through a link out of the root shows the root's side.
    for argv in [
        &["/bin/busybox", "ls", "-a", "/"][..],
        &["/bin/busybox", "ls", "/etc/up"][..],
        &["/bin/busybox", "readlink", "/abs"][..],
        &["/bin/busybox", "realpath", "/etc/up/in.txt"][..],
    ] {
        let (native, guest) = r.both(&[], argv);
        if native != guest {
            failures.push(format!(
                "{argv:?}\n=== native\n{}=== vmkit\n{}",
                native.show(),
                guest.show()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn descriptors_chdir_and_proc_stay_inside_the_root() {
    // tests/x86/root/escape.c: openat from a descriptor of `/` with `..`, chdir("..")
    // past the top, fchdir, /proc/self/root; both runs must print the same (the root's
    // side), and neither may read the secret.
    let r = EscapeRoot::new("fds");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/x86/root/escape.c");
    vmkit_test_support::build_i386(&src, &r.root.join("bin/escape"), &["-O1"]);
    let secret = r.secret();
    let (native, guest) = r.both(&[], &["/bin/escape", &secret]);
    assert!(
        !guest.stdout.windows(10).any(|w| w == b"THE SECRET"),
        "{}",
        guest.show()
    );
    assert_eq!(
        native,
        guest,
        "native\n{}\nvmkit\n{}",
        native.show(),
        guest.show()
    );
}

#[test]
fn the_root_is_read_only_unless_allowed() {
    let r = EscapeRoot::new("write");
    // Refused without --allow-write: nothing is written.
    let guest = run_vmkit_root(
        vmkit(),
        &r.root,
        &[],
        &["/bin/busybox", "cp", "/etc/in.txt", "/out/copy"],
        b"",
    )
    .unwrap();
    assert_ne!(guest.status, 0, "{}", guest.show());
    assert!(!r.root.join("out/copy").exists());
    assert!(!r.root.join("etc/new").exists());
    // With --allow-write DIR/out, the same command writes as chroot does.
    let out = r.root.join("out");
    let allow = out.display().to_string();
    let argv = ["/bin/busybox", "cp", "/etc/in.txt", "/out/copy"];
    let native = run_chroot(&r.root, &argv, b"").unwrap();
    let native_copy = std::fs::read(out.join("copy")).unwrap();
    std::fs::remove_file(out.join("copy")).unwrap();
    let guest = run_vmkit_root(vmkit(), &r.root, &["--allow-write", &allow], &argv, b"").unwrap();
    assert_eq!(native, guest, "{}\n{}", native.show(), guest.show());
    assert_eq!(std::fs::read(out.join("copy")).unwrap(), native_copy);
    // Writing elsewhere in the root stays refused.
    let guest = run_vmkit_root(
        vmkit(),
        &r.root,
        &["--allow-write", &allow],
        &["/bin/busybox", "cp", "/etc/in.txt", "/etc/new"],
        b"",
    )
    .unwrap();
    assert_ne!(guest.status, 0);
    assert!(!r.root.join("etc/new").exists());
}

#[test]
fn a_program_outside_the_root_is_not_found() {
    // The program path is a guest path: the host's /bin/bash is not the root's.
    let r = EscapeRoot::new("program");
    let guest = run_vmkit_root(vmkit(), &r.root, &[], &["/bin/bash", "-c", "true"], b"").unwrap();
    assert_eq!(guest.status, 1, "{}", guest.show());
    assert!(
        String::from_utf8_lossy(&guest.stderr).contains("/bin/bash: no such file"),
        "{}",
        guest.show()
    );
}
