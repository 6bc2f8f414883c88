//! A root of Debian i386 packages, fetched into `target/debian-i386-root/` on first use, and
//! the harness that runs one command in it natively (`chroot`) and under vmkit (`--root`).
//!
//! The root holds [`DEBIAN_PACKAGES`] and every package they need (the `Depends:` and
//! `Pre-Depends:` closure, as `apt-cache depends --recurse` gives it for i386), each unpacked
//! with `dpkg-deb -x`, never installed: no maintainer script runs, so the tree is exactly the
//! packages' files. apt works from a private state under `target/` with i386 as its only
//! architecture (as for busybox, see [`crate::busybox_i386`]): no root needed, no
//! `dpkg --add-architecture`, the host's sources and keys used as they are.
//!
//! Concurrency: a `flock` on `target/debian-i386-root.lock` lets one fetch run at a time;
//! the tree is built in a temporary directory and renamed into place, with a stamp file
//! written last, so a root either is complete or is rebuilt.

use crate::apt::{make_once, Apt};
use crate::{tail, target_dir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The packages the root is built from (their dependencies come too).
/// `lua5.4` and `gzip` are for `vmkit bench x86`, whose Lua and `gzip -9` rows run in this root.
pub const DEBIAN_PACKAGES: [&str; 10] = [
    "bash",
    "coreutils",
    "grep",
    "sed",
    "gawk",
    "findutils",
    "python3.11-minimal",
    "sqlite3",
    "lua5.4",
    "gzip",
];

/// Written last into a complete root; its contents list the unpacked packages.
const STAMP: &str = ".vmkit-debian-root";

/// Where the root lives once fetched: `target/debian-i386-root`.
pub fn debian_root_path() -> PathBuf {
    target_dir().join("debian-i386-root")
}

/// The root, fetched first if it is missing. Panics, with the reason and the commands that
/// would do it by hand, if it cannot be fetched: a test that needs it fails at once rather
/// than skipping.
pub fn debian_root() -> PathBuf {
    static FETCHED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FETCHED
        .get_or_init(|| fetch_debian_root().and_then(|root| make_devices(&root).map(|_| root)))
    {
        Ok(path) => path.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// Fetches and unpacks the root unless it is already there; returns its path, or why it
/// could not be built and how to do it by hand.
pub fn fetch_debian_root() -> Result<PathBuf, String> {
    let root = debian_root_path();
    let announce = format!(
        "vmkit tests: fetching Debian i386 packages ({} and their dependencies) into {} (once; apt-get download, no root needed)",
        DEBIAN_PACKAGES.join(", "),
        root.display()
    );
    match make_once(
        "debian-i386-root",
        || is_complete(&root),
        &announce,
        download_and_unpack,
    ) {
        Ok(()) if is_complete(&root) => Ok(root),
        Ok(()) => Err(format!(
            "{} is incomplete after unpacking\n\n{}",
            root.display(),
            by_hand()
        )),
        Err(why) => Err(format!(
            "cannot build the Debian i386 root: {why}\n\n{}",
            by_hand()
        )),
    }
}

/// Whether the root was completed with every package of [`DEBIAN_PACKAGES`] (the stamp
/// lists the unpacked `.deb` files, `name_version_i386.deb`): a root made before a package
/// joined the list is rebuilt.
fn is_complete(root: &Path) -> bool {
    let Ok(stamp) = fs::read_to_string(root.join(STAMP)) else {
        return false;
    };
    DEBIAN_PACKAGES.iter().all(|p| {
        let prefix = format!("{p}_");
        stamp.lines().any(|line| line.starts_with(&prefix))
    })
}

/// The real packages in `apt-cache depends --recurse` output: unindented lines, without the
/// virtual ones (`<name>`), sorted.
fn closure_from(listing: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = String::from_utf8_lossy(listing)
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('<') && !l.trim().is_empty())
        .map(|l| l.trim().trim_end_matches(":i386").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn download_and_unpack(tmp: &Path) -> Result<PathBuf, String> {
    let apt = Apt::i386(&tmp.join("apt"))?;
    let debs = tmp.join("deb");
    fs::create_dir_all(&debs).map_err(|e| format!("cannot create {}: {e}", debs.display()))?;
    apt.run("apt-get", &["update"], tmp)?;
    let mut args = vec![
        "depends",
        "--recurse",
        "--no-recommends",
        "--no-suggests",
        "--no-conflicts",
        "--no-breaks",
        "--no-replaces",
        "--no-enhances",
    ];
    args.extend(DEBIAN_PACKAGES);
    let packages = closure_from(&apt.run("apt-cache", &args, tmp)?);
    for want in DEBIAN_PACKAGES {
        if !packages.iter().any(|p| p == want) {
            return Err(format!("apt-cache does not know {want}"));
        }
    }
    let mut download = vec!["download"];
    download.extend(packages.iter().map(String::as_str));
    apt.run("apt-get", &download, &debs)?;
    let root = tmp.join("root");
    let mut unpacked = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(&debs)
        .map_err(|e| format!("cannot read {}: {e}", debs.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    files.sort();
    for deb in &files {
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(&root)
            .output()
            .map_err(|e| format!("cannot run dpkg-deb ({e})"))?;
        if !out.status.success() {
            return Err(format!(
                "`dpkg-deb -x {}` failed:\n{}",
                deb.display(),
                tail(&out.stderr, 12)
            ));
        }
        unpacked.push(
            deb.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
    }
    if files.len() < packages.len() {
        return Err(format!(
            "apt-get download gave {} packages for {} names",
            files.len(),
            packages.len()
        ));
    }
    for exe in [
        "bin/bash",
        "usr/bin/python3.11",
        "usr/bin/gawk",
        "bin/sed",
        "usr/bin/lua5.4",
        "bin/gzip",
    ] {
        if !root.join(exe).exists() {
            return Err(format!("the unpacked root has no {exe}"));
        }
    }
    // The directories a chroot needs that no package of the closure ships.
    for dir in ["tmp", "proc", "dev", "work"] {
        fs::create_dir_all(root.join(dir))
            .map_err(|e| format!("cannot create {dir} in the root: {e}"))?;
    }
    fs::write(root.join(STAMP), unpacked.join("\n") + "\n")
        .map_err(|e| format!("cannot write the stamp: {e}"))?;
    eprintln!("vmkit tests: unpacked {} packages", unpacked.len());
    Ok(root)
}

/// The device nodes a chroot's programs expect and no package ships: `/dev/null` (bash
/// redirects a background job's stdin from it), `/dev/zero`, `/dev/urandom`. vmkit serves
/// these itself under `--root`; the native `chroot` run needs real ones. Made with `mknod`,
/// which needs root, as `chroot` does.
fn make_devices(root: &Path) -> Result<(), String> {
    for (name, minor) in [("null", 3), ("zero", 5), ("urandom", 9)] {
        let path = root.join("dev").join(name);
        if path.exists() {
            continue;
        }
        let out = Command::new("mknod")
            .args(["-m", "666"])
            .arg(&path)
            .args(["c", "1", &minor.to_string()])
            .output()
            .map_err(|e| format!("cannot run mknod ({e})"))?;
        if !out.status.success() {
            return Err(format!(
                "`mknod {}` failed (the Debian tests run as root, as chroot needs):\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

fn by_hand() -> String {
    format!(
        "The Debian tests need i386 packages unpacked at {root}.\n\
         Retry with `.ci/fetch-debian-root`, or by hand (the first two commands as root, once):\n\
         \n    dpkg --add-architecture i386\
         \n    apt-get update\
         \n    mkdir -p debs && cd debs && apt-get download $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances {pkgs} | grep -v '^ ' | grep -v '^<' | sed 's/$/:i386/')\
         \n    for d in *.deb; do dpkg-deb -x $d {root}; done; touch {root}/{STAMP}\n",
        root = debian_root_path().display(),
        pkgs = DEBIAN_PACKAGES.map(|p| format!("{p}:i386")).join(" "),
    )
}

/// What one run gave: stdout, stderr, exit status (128+n for a signal, as a shell shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The exit status, or 128 + the signal that ended the process.
    pub status: i32,
}

impl RunResult {
    fn of(out: Output) -> RunResult {
        use std::os::unix::process::ExitStatusExt;
        let status = out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
        RunResult {
            stdout: out.stdout,
            stderr: out.stderr,
            status,
        }
    }

    /// A readable rendering for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// The environment both runs get (nothing else from the host's).
pub const CHROOT_ENV: [(&str, &str); 5] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
    ("HOME", "/"),
    ("LC_ALL", "C"),
    ("TERM", "dumb"),
    // A native run as root would write .pyc files into the root; the guest may not.
    ("PYTHONDONTWRITEBYTECODE", "1"),
];

/// Runs `argv` inside `root` natively with `chroot` (working directory `/`, the
/// [`CHROOT_ENV`] environment, `stdin` as its input). Needs root privileges.
pub fn run_chroot(root: &Path, argv: &[&str], stdin: &[u8]) -> Result<RunResult, String> {
    let mut cmd = Command::new("chroot");
    cmd.arg(root).args(argv);
    run_with_input(cmd, stdin)
}

/// Runs `argv` inside `root` under `vmkit run --root` with the `vmkit` binary at `vmkit`
/// (working directory `/`, the [`CHROOT_ENV`] environment, `stdin` as its input); `extra`
/// goes before the program (`--allow-write`, `--mount`).
pub fn run_vmkit_root(
    vmkit: &Path,
    root: &Path,
    extra: &[&str],
    argv: &[&str],
    stdin: &[u8],
) -> Result<RunResult, String> {
    let (program, args) = argv.split_first().ok_or("an empty command")?;
    let mut cmd = Command::new(vmkit);
    cmd.arg("run")
        .arg("--root")
        .arg(root)
        .args(extra)
        .arg(program)
        .arg("--")
        .args(args);
    run_with_input(cmd, stdin)
}

fn run_with_input(mut cmd: Command, stdin: &[u8]) -> Result<RunResult, String> {
    use std::io::Write;
    use std::process::Stdio;
    cmd.env_clear()
        .envs(CHROOT_ENV)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let mut input = child.stdin.take().ok_or("no stdin pipe")?;
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The program may exit without reading: a broken pipe is its business.
        let _ = input.write_all(&data);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {cmd:?}: {e}"))?;
    let _ = writer.join();
    Ok(RunResult::of(out))
}

/// Runs `argv` both ways (native `chroot` and `vmkit run --root`) and returns both results,
/// native first.
pub fn compare_in_root(
    vmkit: &Path,
    argv: &[&str],
    stdin: &[u8],
) -> Result<(RunResult, RunResult), String> {
    compare_in_root_writable(vmkit, false, argv, stdin)
}

/// [`compare_in_root`], with the root's `/tmp` writable for the guest when `tmp` is true
/// (`--allow-write ROOT/tmp`; the native run may write anywhere).
pub fn compare_in_root_writable(
    vmkit: &Path,
    tmp: bool,
    argv: &[&str],
    stdin: &[u8],
) -> Result<(RunResult, RunResult), String> {
    let root = debian_root();
    let allow = root.join("tmp").display().to_string();
    let extra: &[&str] = if tmp { &["--allow-write", &allow] } else { &[] };
    Ok((
        run_chroot(&root, argv, stdin)?,
        run_vmkit_root(vmkit, &root, extra, argv, stdin)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::closure_from;

    #[test]
    fn the_closure_keeps_real_packages_only() {
        let listing =
            b"bash\n  PreDepends: libc6\n  Depends: <awk>\nlibc6\n<awk>\nmawk:i386\nbash\n";
        assert_eq!(closure_from(listing), ["bash", "libc6", "mawk"]);
    }
}
