//! The file-system sandbox: which host files the guest may see and change, and at which guest
//! paths.
//!
//! A guest path is resolved in three steps:
//!
//! 1. **Lexically**: joined to the guest's working directory (or a directory descriptor),
//!    `.` and `..` removed, never above `/`. `a/link/..` is therefore `a`, whatever `link`
//!    points to (POSIX would follow the link first).
//! 2. **Mapped**: the mount with the longest guest prefix gives the host path. A path that is
//!    not under any mount but lies above one (`/`, or `/work` when `/work/project` is mounted)
//!    is a *virtual directory* that lists only the way down to the mounts. Anything else is
//!    outside the sandbox.
//! 3. **Checked on the host**: the host path is canonicalized (every symbolic link followed
//!    by the host kernel), and the result must lie inside the host tree of some mount. A link
//!    that leads outside is refused as outside the sandbox. For calls that do not follow a
//!    final link (`lstat`, `readlink`, `unlink`, `rename`), only the parent directory is
//!    canonicalized and checked.
//!
//! Writing needs more: changing a file's contents or metadata requires the canonical file to
//! lie under an `--allow-write` directory; creating, removing or renaming an entry requires
//! the canonical parent directory to lie under one (so the allowed directory itself cannot be
//! removed or renamed). Every refusal is `EACCES`; the caller adds a note for `--strace`.
//!
//! A few character devices exist in every sandbox without touching the host: `/dev/null`,
//! `/dev/zero`, `/dev/random` and `/dev/urandom` (the last two from a deterministic generator).
//!
//! **Limits.** The check and the use are two steps: a *host* process that replaces a checked
//! directory by a symbolic link between them can redirect the access (the final component is
//! opened with `O_NOFOLLOW`, so only intermediate directories are exposed). The guest itself
//! cannot race, as it is single-threaded and cannot create links. Hard links into the
//! sandbox that already exist on the host are followed like any file.

use super::errno::Errno;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A device node served by the sandbox itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// `/dev/null`: reads end at once, writes vanish.
    Null,
    /// `/dev/zero`: reads give zeros, writes vanish.
    Zero,
    /// `/dev/random` and `/dev/urandom`: reads give pseudo-random bytes.
    Random,
}

/// The devices every sandbox provides, by guest path.
const DEVICES: [(&str, Device); 4] = [
    ("/dev/null", Device::Null),
    ("/dev/zero", Device::Zero),
    ("/dev/random", Device::Random),
    ("/dev/urandom", Device::Random),
];

/// One host file or directory visible to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where the guest sees it (absolute, normalized).
    pub guest: PathBuf,
    /// The canonical host path.
    pub host: PathBuf,
}

/// What the file-system policy allows: mounts (read-only) and writable host directories.
///
/// ```
/// use vmkit_x86::linux::Sandbox;
/// let dir = std::env::temp_dir();
/// let sandbox = Sandbox::new()
///     .mount(&dir, Some("/data"))
///     .unwrap()
///     .allow_write(&dir)
///     .unwrap()
///     .working_dir("/data");
/// assert_eq!(sandbox.mounts().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    mounts: Vec<Mount>,
    writable: Vec<PathBuf>,
    working_dir: PathBuf,
}

/// Why a sandbox could not be built.
#[derive(Debug)]
pub enum SandboxError {
    /// A host path could not be resolved.
    Host {
        /// The path as given.
        path: PathBuf,
        /// What the host said.
        error: io::Error,
    },
    /// A writable directory lies outside every mount.
    NotVisible(PathBuf),
    /// A guest mount point is not an absolute path.
    RelativeGuestPath(String),
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxError::Host { path, error } => write!(f, "{}: {error}", path.display()),
            SandboxError::NotVisible(p) => write!(
                f,
                "{}: not visible to the guest (add --mount or --host-fs)",
                p.display()
            ),
            SandboxError::RelativeGuestPath(g) => {
                write!(f, "{g}: the guest path must be absolute")
            }
        }
    }
}

impl std::error::Error for SandboxError {}

/// Why a guest path cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// An ordinary error (the path does not exist, a component is not a directory, ...).
    Errno(Errno),
    /// The path, or where its links lead, is outside every mount.
    Outside,
    /// The access would write where no `--allow-write` directory permits it.
    ReadOnly,
}

impl PathError {
    /// The errno the guest sees.
    pub fn errno(self) -> Errno {
        match self {
            PathError::Errno(e) => e,
            PathError::Outside | PathError::ReadOnly => Errno::EACCES,
        }
    }

    /// The explanation `--strace` adds to the errno, for sandbox refusals.
    pub fn note(self) -> Option<&'static str> {
        match self {
            PathError::Errno(_) => None,
            PathError::Outside => Some("outside the sandbox"),
            PathError::ReadOnly => Some("read-only in the sandbox"),
        }
    }
}

impl From<Errno> for PathError {
    fn from(e: Errno) -> PathError {
        PathError::Errno(e)
    }
}

impl From<io::Error> for PathError {
    fn from(e: io::Error) -> PathError {
        PathError::Errno(Errno::from_io(&e))
    }
}

/// Where a guest path leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A host file system object (which may not exist yet).
    Host {
        /// The host path: canonical when `exists` and links were followed; otherwise the
        /// canonical parent joined with the final name.
        host: PathBuf,
        /// Whether the object exists.
        exists: bool,
    },
    /// A directory above some mount point, listing only the way to the mounts.
    Virtual,
    /// A device served by the sandbox.
    Device(Device),
}

/// The guest path `path` seen from the directory `base`: absolute, without `.`, `..` or
/// repeated slashes, never above `/`.
pub fn normalize(base: &Path, path: &[u8]) -> PathBuf {
    let mut parts: Vec<&[u8]> = Vec::new();
    if path.first() != Some(&b'/') {
        parts.extend(
            base.as_os_str()
                .as_bytes()
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty()),
        );
    }
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

fn canonical(path: &Path) -> Result<PathBuf, SandboxError> {
    std::fs::canonicalize(path).map_err(|error| SandboxError::Host {
        path: path.to_path_buf(),
        error,
    })
}

/// `path` relative to `prefix` when it lies inside it (component-wise), as a list of names.
fn below<'a>(path: &'a Path, prefix: &Path) -> Option<&'a Path> {
    path.strip_prefix(prefix).ok()
}

impl Sandbox {
    /// A sandbox in which nothing on the host is visible (only the built-in devices); the
    /// guest's working directory is `/`.
    pub fn new() -> Sandbox {
        Sandbox {
            mounts: Vec::new(),
            writable: Vec::new(),
            working_dir: PathBuf::from("/"),
        }
    }

    /// The command line's default: the host's current directory tree, read-only, at its own
    /// (canonical) path, which is also the guest's working directory.
    pub fn current_dir() -> Result<Sandbox, SandboxError> {
        let cwd = std::env::current_dir().map_err(|error| SandboxError::Host {
            path: PathBuf::from("."),
            error,
        })?;
        let cwd = canonical(&cwd)?;
        let working_dir = cwd.clone();
        Ok(Sandbox::new().mount(&cwd, None)?.working_dir(working_dir))
    }

    /// Makes the host file or directory `host` visible, read-only, at the guest path `guest`
    /// (default: its canonical host path). A later mount at the same guest path replaces an
    /// earlier one.
    pub fn mount(
        mut self,
        host: impl AsRef<Path>,
        guest: Option<&str>,
    ) -> Result<Sandbox, SandboxError> {
        let host = canonical(host.as_ref())?;
        let guest = match guest {
            Some(g) if !g.starts_with('/') => {
                return Err(SandboxError::RelativeGuestPath(g.to_string()))
            }
            Some(g) => normalize(Path::new("/"), g.as_bytes()),
            None => host.clone(),
        };
        self.mounts.retain(|m| m.guest != guest);
        self.mounts.push(Mount { guest, host });
        // Longest guest prefix first, so the first match is the most specific mount.
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.guest.as_os_str().len()));
        Ok(self)
    }

    /// Makes the whole host file system visible, read-only, at `/`.
    pub fn host_fs(mut self) -> Sandbox {
        // "/" is its own canonical path: nothing to resolve, so nothing can fail.
        let root = PathBuf::from("/");
        self.mounts.retain(|m| m.guest != root);
        self.mounts.push(Mount {
            guest: root.clone(),
            host: root,
        });
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.guest.as_os_str().len()));
        self
    }

    /// Allows creating and changing files below the host directory `dir`, which must already
    /// be visible through a mount.
    pub fn allow_write(mut self, dir: impl AsRef<Path>) -> Result<Sandbox, SandboxError> {
        let dir = canonical(dir.as_ref())?;
        if !self.mounts.iter().any(|m| dir.starts_with(&m.host)) {
            return Err(SandboxError::NotVisible(dir));
        }
        if !self.writable.contains(&dir) {
            self.writable.push(dir);
        }
        Ok(self)
    }

    /// Sets the guest's initial working directory (a guest path).
    pub fn working_dir(mut self, guest: impl AsRef<Path>) -> Sandbox {
        self.working_dir = normalize(Path::new("/"), guest.as_ref().as_os_str().as_bytes());
        self
    }

    /// The guest's initial working directory.
    pub fn initial_dir(&self) -> &Path {
        &self.working_dir
    }

    /// The mounts, most specific guest path first.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The host directories below which writing is allowed.
    pub fn writable(&self) -> &[PathBuf] {
        &self.writable
    }

    /// Whether the canonical host path lies inside some mount.
    fn visible(&self, host: &Path) -> bool {
        self.mounts.iter().any(|m| host.starts_with(&m.host))
    }

    /// Where the normalized guest path `guest` leads. With `follow`, a final symbolic link is
    /// followed (as `open` and `stat` do); without, it is the object itself (`lstat`).
    pub fn resolve(&self, guest: &Path, follow: bool) -> Result<Resolved, PathError> {
        if let Some((_, dev)) = DEVICES.iter().find(|(p, _)| Path::new(p) == guest) {
            return Ok(Resolved::Device(*dev));
        }
        let Some(mount) = self.mounts.iter().find(|m| guest.starts_with(&m.guest)) else {
            if !self.children_of_virtual(guest).is_empty() {
                return Ok(Resolved::Virtual);
            }
            return Err(PathError::Outside);
        };
        let rest = below(guest, &mount.guest).unwrap_or(Path::new(""));
        if rest.as_os_str().is_empty() {
            // The mount point itself: its host path is canonical already.
            return match std::fs::metadata(&mount.host) {
                Ok(_) => Ok(Resolved::Host {
                    host: mount.host.clone(),
                    exists: true,
                }),
                Err(e) => Err(e.into()),
            };
        }
        let lexical = mount.host.join(rest);
        let name = lexical.file_name().unwrap_or_default().to_os_string();
        let parent = lexical.parent().unwrap_or(Path::new("/"));
        let parent = std::fs::canonicalize(parent)?;
        if !self.visible(&parent) {
            return Err(PathError::Outside);
        }
        let entry = parent.join(&name);
        let link = std::fs::symlink_metadata(&entry);
        match link {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Resolved::Host {
                host: entry,
                exists: false,
            }),
            Err(e) => Err(e.into()),
            Ok(meta) if follow && meta.file_type().is_symlink() => {
                let target = std::fs::canonicalize(&entry)?;
                if self.visible(&target) {
                    Ok(Resolved::Host {
                        host: target,
                        exists: true,
                    })
                } else {
                    Err(PathError::Outside)
                }
            }
            Ok(_) => Ok(Resolved::Host {
                host: entry,
                exists: true,
            }),
        }
    }

    /// The names directly below the guest directory `dir` that lead to mounts or devices
    /// (empty when `dir` is not above any).
    pub fn children_of_virtual(&self, dir: &Path) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let points = self
            .mounts
            .iter()
            .map(|m| m.guest.as_path())
            .chain(DEVICES.iter().map(|(p, _)| Path::new(*p)));
        for point in points {
            if let Some(rest) = below(point, dir) {
                if let Some(first) = rest.components().next() {
                    let name = first.as_os_str().as_bytes().to_vec();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// Checks that the contents or metadata of the existing canonical host object `host` may
    /// change.
    pub fn check_write_object(&self, host: &Path) -> Result<(), PathError> {
        if self.writable.iter().any(|w| host.starts_with(w)) {
            Ok(())
        } else {
            Err(PathError::ReadOnly)
        }
    }

    /// Checks that the directory entry `host` (canonical parent joined with a name) may be
    /// created, removed or renamed.
    pub fn check_write_entry(&self, host: &Path) -> Result<(), PathError> {
        let parent = host.parent().unwrap_or(Path::new("/"));
        if host.parent().is_some() && self.writable.iter().any(|w| parent.starts_with(w)) {
            Ok(())
        } else {
            Err(PathError::ReadOnly)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    struct Tree(PathBuf);
    impl Tree {
        fn new(tag: &str) -> Tree {
            let dir =
                std::env::temp_dir().join(format!("vmkit-sandbox-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("inside/sub")).unwrap();
            std::fs::create_dir_all(dir.join("outside")).unwrap();
            std::fs::write(dir.join("inside/a.txt"), b"a").unwrap();
            std::fs::write(dir.join("outside/secret"), b"s").unwrap();
            Tree(std::fs::canonicalize(&dir).unwrap())
        }
    }
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn normalization_is_lexical_and_stays_below_root() {
        assert_eq!(normalize(&p("/a/b"), b"c/./d"), p("/a/b/c/d"));
        assert_eq!(normalize(&p("/a/b"), b"../../../../etc"), p("/etc"));
        assert_eq!(normalize(&p("/a/b"), b"/x//y/"), p("/x/y"));
        assert_eq!(normalize(&p("/a"), b".."), p("/"));
        assert_eq!(normalize(&p("/"), b"."), p("/"));
        assert_eq!(normalize(&p("/a"), b""), p("/a"));
    }

    #[test]
    fn mounts_map_guest_paths_and_dotdot_cannot_leave() {
        let t = Tree::new("mount");
        let s = Sandbox::new()
            .mount(t.0.join("inside"), Some("/data"))
            .unwrap();
        let r = s.resolve(&p("/data/a.txt"), true).unwrap();
        assert_eq!(
            r,
            Resolved::Host {
                host: t.0.join("inside/a.txt"),
                exists: true
            }
        );
        // `..` is lexical: /data/../outside is /outside, which is not mounted.
        let g = normalize(&p("/data"), b"../outside/secret");
        assert_eq!(s.resolve(&g, true), Err(PathError::Outside));
        assert_eq!(s.resolve(&p("/"), true), Ok(Resolved::Virtual));
        assert_eq!(
            s.children_of_virtual(&p("/")),
            vec![b"data".to_vec(), b"dev".to_vec()]
        );
        assert_eq!(
            s.resolve(&p("/data/missing"), true),
            Ok(Resolved::Host {
                host: t.0.join("inside/missing"),
                exists: false
            })
        );
        assert_eq!(
            s.resolve(&p("/data/missing/x"), true),
            Err(PathError::Errno(Errno::ENOENT))
        );
        assert_eq!(
            s.resolve(&p("/data/a.txt/x"), true),
            Err(PathError::Errno(Errno::ENOTDIR))
        );
        assert_eq!(
            s.resolve(&p("/dev/null"), true),
            Ok(Resolved::Device(Device::Null))
        );
    }

    #[test]
    fn symlinks_must_stay_inside_the_mounts() {
        let t = Tree::new("links");
        symlink(t.0.join("outside/secret"), t.0.join("inside/escape")).unwrap();
        symlink(t.0.join("outside"), t.0.join("inside/escape_dir")).unwrap();
        symlink("sub", t.0.join("inside/ok")).unwrap();
        let s = Sandbox::new().mount(t.0.join("inside"), None).unwrap();
        let inside = t.0.join("inside");
        assert_eq!(
            s.resolve(&inside.join("escape"), true),
            Err(PathError::Outside)
        );
        assert_eq!(
            s.resolve(&inside.join("escape_dir/secret"), true),
            Err(PathError::Outside)
        );
        // Not following the final link (lstat, readlink, unlink) is fine: the link itself is
        // inside.
        assert_eq!(
            s.resolve(&inside.join("escape"), false),
            Ok(Resolved::Host {
                host: inside.join("escape"),
                exists: true
            })
        );
        assert_eq!(
            s.resolve(&inside.join("ok"), true),
            Ok(Resolved::Host {
                host: inside.join("sub"),
                exists: true
            })
        );
        // A link elsewhere inside another mount is allowed.
        let both = s.clone().mount(t.0.join("outside"), Some("/o")).unwrap();
        assert_eq!(
            both.resolve(&inside.join("escape"), true),
            Ok(Resolved::Host {
                host: t.0.join("outside/secret"),
                exists: true
            })
        );
    }

    #[test]
    fn writing_needs_an_allowed_directory() {
        let t = Tree::new("write");
        let s = Sandbox::new()
            .mount(&t.0, None)
            .unwrap()
            .allow_write(t.0.join("inside"))
            .unwrap();
        assert!(s.check_write_entry(&t.0.join("inside/new")).is_ok());
        assert!(s.check_write_object(&t.0.join("inside/a.txt")).is_ok());
        assert_eq!(
            s.check_write_entry(&t.0.join("outside/new")),
            Err(PathError::ReadOnly)
        );
        // The allowed directory itself cannot be removed or renamed.
        assert_eq!(
            s.check_write_entry(&t.0.join("inside")),
            Err(PathError::ReadOnly)
        );
        assert!(matches!(
            Sandbox::new().allow_write(&t.0),
            Err(SandboxError::NotVisible(_))
        ));
        assert!(matches!(
            Sandbox::new().mount(&t.0, Some("rel")),
            Err(SandboxError::RelativeGuestPath(_))
        ));
    }

    #[test]
    fn host_fs_sees_everything_and_file_mounts_work() {
        let t = Tree::new("hostfs");
        let s = Sandbox::new().host_fs();
        assert!(matches!(
            s.resolve(&t.0.join("outside/secret"), true),
            Ok(Resolved::Host { exists: true, .. })
        ));
        let f = Sandbox::new()
            .mount(t.0.join("inside/a.txt"), Some("/etc/a"))
            .unwrap();
        assert!(matches!(
            f.resolve(&p("/etc/a"), true),
            Ok(Resolved::Host { exists: true, .. })
        ));
        assert_eq!(f.resolve(&p("/etc/b"), true), Err(PathError::Outside));
        assert_eq!(f.resolve(&p("/etc"), true), Ok(Resolved::Virtual));
    }
}
