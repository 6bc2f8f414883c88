//! apt with a private state: what the three fetches (busybox, the Debian root, QEMU's
//! test-i386) share. Package lists, caches and an empty dpkg status live in a directory of
//! the fetch's own under `target/`, so nothing needs root, no `dpkg --add-architecture` or
//! system `apt-get update` runs, and the host's apt configuration is left as it is; the
//! host's sources and keys are used as they are (or, for source packages, turned into
//! `deb-src` entries: see [`Apt::sources`]).

use crate::{running_as_root, tail};
use std::fs;
use std::path::Path;
use std::process::Command;

/// apt-get and apt-cache with a private state under one directory.
pub(crate) struct Apt {
    options: Vec<String>,
}

impl Apt {
    /// For i386 binary packages (`apt-get download`, `apt-cache depends`): only i386's
    /// package lists (about 9 MB), not the host's too.
    pub(crate) fn i386(dir: &Path) -> Result<Apt, String> {
        Apt::new(
            dir,
            vec![
                "APT::Architecture=i386".into(),
                "APT::Architectures=i386".into(),
            ],
        )
    }

    /// For source packages (`apt-get source`): the host's sources as `deb-src` entries,
    /// written under `dir`.
    pub(crate) fn sources(dir: &Path) -> Result<Apt, String> {
        let parts = dir.join("sources.list.d");
        fs::create_dir_all(&parts)
            .map_err(|e| format!("cannot create {}: {e}", parts.display()))?;
        let list = dir.join("sources.list");
        let (one_line, deb822) = source_lists();
        write(&list, &one_line)?;
        for (name, text) in &deb822 {
            write(&parts.join(name), text)?;
        }
        Apt::new(
            dir,
            vec![
                format!("Dir::Etc::SourceList={}", list.display()),
                format!("Dir::Etc::SourceParts={}", parts.display()),
            ],
        )
    }

    fn new(dir: &Path, extra: Vec<String>) -> Result<Apt, String> {
        for d in [
            dir.join("lists/partial"),
            dir.join("cache/archives/partial"),
        ] {
            fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let status = dir.join("status");
        write(&status, "")?;
        let p = |p: &Path| p.display().to_string();
        let mut options = vec![
            format!("Dir::State={}", p(dir)),
            format!("Dir::State::Lists={}", p(&dir.join("lists"))),
            format!("Dir::State::status={}", p(&status)),
            format!("Dir::Cache={}", p(&dir.join("cache"))),
            // No binary caches: they would only be rebuilt for this one fetch.
            "Dir::Cache::pkgcache=".into(),
            "Dir::Cache::srcpkgcache=".into(),
            // Nothing but the package lists: no translations, no AppStream metadata.
            "Acquire::Languages=none".into(),
            "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false".into(),
        ];
        options.extend(extra);
        if running_as_root() {
            // As root, apt downloads as the unprivileged `_apt` user, who cannot write into
            // a private directory under a user's target/. Root may write there itself.
            options.push("APT::Sandbox::User=root".into());
        }
        Ok(Apt { options })
    }

    /// Runs `tool` (`apt-get` or `apt-cache`) with `args` in `cwd`; its stdout, or why it
    /// failed with the tail of what it said.
    pub(crate) fn run(&self, tool: &str, args: &[&str], cwd: &Path) -> Result<Vec<u8>, String> {
        let mut cmd = Command::new(tool);
        cmd.arg("-q");
        for o in &self.options {
            cmd.arg("-o").arg(o);
        }
        cmd.args(args).current_dir(cwd).env("LC_ALL", "C");
        let out = cmd.output().map_err(|e| {
            format!("cannot run {tool} ({e}): this needs a Debian or Ubuntu host with apt")
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(format!(
            "`{tool} {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            tail(&[out.stdout, out.stderr].concat(), 12)
        ))
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The system's apt sources with `deb` lines and stanzas turned into `deb-src`: (the
/// one-line list, the deb822 `.sources` files by name).
fn source_lists() -> (String, Vec<(String, String)>) {
    let deb_src = |text: &str| -> String {
        text.lines()
            .filter_map(|l| l.trim_start().strip_prefix("deb "))
            .map(|rest| format!("deb-src {rest}\n"))
            .collect()
    };
    let one_line = deb_src(&fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    let mut parts = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            if name.ends_with(".sources") {
                let text: String = text
                    .lines()
                    .map(|l| match l.trim() {
                        "Types: deb" => "Types: deb-src\n".to_string(),
                        _ => format!("{l}\n"),
                    })
                    .collect();
                parts.push((name, text));
            } else if name.ends_with(".list") {
                parts.push((format!("{name}.list"), deb_src(&text)));
            }
        }
    }
    (one_line, parts)
}

/// Removes the temporary trees `.{name}.{pid}.tmp` in `target` that fetches killed before
/// they finished left behind (the caller holds the fetch's lock, so none is in use).
pub(crate) fn remove_stale_temporaries(target: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(target) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Makes `target/{name}` once, however many test binaries and threads ask at the same time:
/// unless `done()` says it is there, under the lock `target/{name}.lock`, `build` makes it
/// in a temporary directory `.{name}.{pid}.tmp` and returns the tree to install there,
/// which is renamed into place (replacing an incomplete one). `announce` goes to stderr
/// first, since a fetch takes a while.
pub(crate) fn make_once(
    name: &str,
    done: impl Fn() -> bool,
    announce: &str,
    build: impl FnOnce(&Path) -> Result<std::path::PathBuf, String>,
) -> Result<(), String> {
    if done() {
        return Ok(());
    }
    let target = crate::target_dir();
    fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let _lock = crate::lock::FileLock::exclusive(&target.join(format!("{name}.lock")))
        .map_err(|e| format!("cannot lock in {}: {e}", target.display()))?;
    // Someone else may have made it while we waited.
    if done() {
        return Ok(());
    }
    remove_stale_temporaries(&target, name);
    let tmp = target.join(format!(".{name}.{}.tmp", std::process::id()));
    eprintln!("{announce}");
    let dest = target.join(name);
    let result = build(&tmp).and_then(|tree| {
        if dest.exists() {
            fs::remove_dir_all(&dest)
                .map_err(|e| format!("cannot remove the incomplete {}: {e}", dest.display()))?;
        }
        fs::rename(&tree, &dest)
            .map_err(|e| format!("cannot move {} to {}: {e}", tree.display(), dest.display()))
    });
    let _ = fs::remove_dir_all(&tmp);
    result
}
