//! The file sandbox: which host files a guest may see and change, and at which guest paths.
//! Both guests use it: the x86 Linux personality for every path system call, the native
//! machine for `sys open` (its `--grant` directory is one writable mount at `/`).
//!
//! A guest path is resolved in three steps:
//!
//! 1. **Lexically** (by the caller, with [`normalize`]): joined to the guest's working
//!    directory, `.` and `..` removed, never above `/`. `a/link/..` is therefore `a`,
//!    whatever `link` points to (POSIX would follow the link first).
//! 2. **Mapped**: the mount with the longest guest prefix gives the host tree. A path that is
//!    not under any mount but lies above one (`/`, or `/work` when `/work/project` is
//!    mounted) is a *virtual directory* that lists only the way down to the mounts. Anything
//!    else is outside the sandbox.
//! 3. **Walked on the host, one component at a time**, starting from a descriptor of the
//!    mount's host tree that was opened when the sandbox was built. Each directory is opened
//!    with `openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW)` relative to the one before,
//!    so the host kernel never follows a link on the sandbox's behalf. A symbolic link is
//!    read (`readlinkat`) and its target walked the same way: a relative target from the
//!    link's directory, an absolute one from the host's `/`. Host paths outside every mount
//!    lead nowhere (*outside the sandbox*), except a link that the host itself placed there
//!    (a guest can only write inside mounts), which is followed again. `..` in a link target
//!    is physical, as in Linux. After 40 links the walk gives `ELOOP`, as Linux does.
//!
//! The result is a [`HostEntry`]: a descriptor of the final object's directory and its
//! name. Every operation ([`HostEntry::open`], [`HostEntry::metadata`],
//! [`HostEntry::remove`], ...) uses that pair with `O_NOFOLLOW` or `AT_SYMLINK_NOFOLLOW`,
//! so what is opened is what was checked, at the moment of the call: a link swapped in by a
//! host process between the walk and the use gives `ELOOP` instead of an escape. This is
//! the semantics of `openat2(RESOLVE_BENEATH)`, generalized to several mounts and to links
//! that lead from one mount into another (which `RESOLVE_BENEATH` refuses). When a path has
//! no link on the way, the kernel's `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` opens
//! its directory in one call instead; any other outcome, or a kernel without `openat2`,
//! falls back to the walk, which decides every error, so both give the same answers.
//!
//! Writing needs more: changing a file's contents or metadata requires the file to lie
//! *below* an `--allow-write` directory ([`Sandbox::check_write_object`]); creating,
//! removing or renaming an entry requires its directory to be an allowed directory or to lie
//! below one ([`Sandbox::check_write_entry`]). So the allowed directory itself can be
//! filled and emptied, but not removed, renamed, `chmod`ed, `chown`ed or given new times:
//! it belongs to the user who allowed it. Every refusal is `EACCES` for the guest;
//! [`PathError::note`] says why (for `--strace`) and [`Sandbox::hint`] says which flag would
//! have allowed it.
//!
//! A few character devices exist in the x86 guest's sandbox without touching the host:
//! `/dev/null`, `/dev/zero`, `/dev/random` and `/dev/urandom` (see [`Device`]).
//!
//! Opening never blocks: [`HostEntry::open`] opens with `O_NONBLOCK` (so a FIFO without a
//! writer, or a device that waits for carrier, cannot hang the guest where no step limit
//! reaches it) and then clears it unless the guest asked for it. Sockets give `ENXIO`.
//!
//! **Limits.** Hard links that already exist on the host are followed like any file: a hard
//! link inside a mount to a file outside it is not detectable by path. Directory descriptors
//! held during a walk follow their directory if a host process moves it elsewhere.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the [`Sandbox`] policy: mounts, writable directories, devices, write checks, [`normalize`] |
//! | `walk.rs` | step 3: the `openat2` fast path and the component walk, giving a [`Resolved`] |
//! | `entry.rs` | the operations on a resolved [`HostEntry`] |
//! | `hint.rs` | the one-line hint for a refusal ([`Sandbox::hint`]) |
//! | `error.rs` | [`SandboxError`] and [`PathError`] |

mod entry;
mod error;
mod hint;
mod walk;

pub use entry::{file_statfs, set_file_times, DirItem, HostEntry, OpenHow};
pub use error::{PathError, SandboxError};
pub use rustix::fs::{FileType, StatFs};
pub use walk::Resolved;

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use walk::Anchor;

/// How many symbolic links one resolution may follow (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// `EACCES`, the errno every sandbox refusal gives the guest.
pub const EACCES: i32 = 13;

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

/// The devices a sandbox provides (unless built [`Sandbox::without_devices`]), by guest path.
const DEVICES: [(&str, Device); 4] = [
    ("/dev/null", Device::Null),
    ("/dev/zero", Device::Zero),
    ("/dev/random", Device::Random),
    ("/dev/urandom", Device::Random),
];

/// The host paths [`Sandbox::host_i386_libraries`] makes visible (those that exist): the
/// i386 dynamic loader, the multiarch and biarch library directories, and the loader's cache.
pub const HOST_I386_LIBRARIES: [&str; 6] = [
    "/lib/ld-linux.so.2",
    "/lib/i386-linux-gnu",
    "/usr/lib/i386-linux-gnu",
    "/lib32",
    "/usr/lib32",
    "/etc/ld.so.cache",
];

/// One host file or directory visible to the guest.
#[derive(Clone, Debug)]
pub struct Mount {
    /// Where the guest sees it (absolute, normalized).
    pub guest: PathBuf,
    /// The canonical host path.
    pub host: PathBuf,
    /// The descriptor the walk starts from, or the errno opening it gave.
    anchor: Result<Anchor, i32>,
}

impl PartialEq for Mount {
    fn eq(&self, other: &Mount) -> bool {
        self.guest == other.guest && self.host == other.host
    }
}

impl Eq for Mount {}

impl Mount {
    fn new(guest: PathBuf, host: PathBuf) -> Result<Mount, io::Error> {
        let anchor = Anchor::open(&host)?;
        Ok(Mount {
            guest,
            host,
            anchor: Ok(anchor),
        })
    }

    fn anchor(&self) -> Result<&Anchor, PathError> {
        self.anchor.as_ref().map_err(|&e| PathError::Host(e))
    }
}

/// What the file-system policy allows: mounts (read-only) and writable host directories.
///
/// ```
/// use vmkit_vm::sandbox::Sandbox;
/// let dir = std::env::temp_dir();
/// let sandbox = Sandbox::new()
///     .mount(&dir, Some("/data"))
///     .unwrap()
///     .allow_write(&dir)
///     .unwrap()
///     .working_dir("/data");
/// assert_eq!(sandbox.mounts().len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Sandbox {
    mounts: Vec<Mount>,
    writable: Vec<PathBuf>,
    working_dir: PathBuf,
    devices: bool,
    /// Made by [`Sandbox::root`]: links resolve in the guest's namespace, as in a chroot.
    chroot: bool,
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
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

impl Sandbox {
    /// A sandbox in which nothing on the host is visible (only the built-in devices); the
    /// guest's working directory is `/`.
    pub fn new() -> Sandbox {
        Sandbox {
            mounts: Vec::new(),
            writable: Vec::new(),
            working_dir: PathBuf::from("/"),
            devices: true,
            chroot: false,
        }
    }

    /// A sandbox whose `/` is the host directory `dir`, read-only, as `chroot DIR` or `proot
    /// -r DIR` make it: every guest path resolves inside `dir`, and so do symbolic links,
    /// absolute ones from `dir`, with `..` stopping at `dir` (see [`Sandbox::resolve`]).
    /// Later mounts appear at their guest paths inside it (the directory they cover should
    /// exist in `dir`, as for a real mount); the working directory is `/`.
    pub fn root(dir: impl AsRef<Path>) -> Result<Sandbox, SandboxError> {
        let dir = canonical(dir.as_ref())?;
        if !dir.is_dir() {
            return Err(SandboxError::NotADirectory(dir));
        }
        let mut sandbox = Sandbox::new().mount(&dir, Some("/"))?;
        sandbox.chroot = true;
        Ok(sandbox)
    }

    /// Whether this sandbox was made by [`Sandbox::root`].
    pub fn is_root(&self) -> bool {
        self.chroot
    }

    /// The host's i386 dynamic loader and library directories, read-only at their own guest
    /// paths, where they exist: [`HOST_I386_LIBRARIES`]. This is what a program built with
    /// `gcc -m32` (dynamically linked) needs to start; nothing else of the host is added.
    pub fn host_i386_libraries(mut self) -> Sandbox {
        for path in HOST_I386_LIBRARIES {
            if std::fs::metadata(path).is_ok() {
                // A path that cannot be opened stays invisible, as if it did not exist.
                if let Ok(s) = self.clone().mount(path, Some(path)) {
                    self = s;
                }
            }
        }
        self
    }

    /// The same sandbox without the built-in devices (the native machine has none: a
    /// `dev/null` there is a file in the granted directory).
    pub fn without_devices(mut self) -> Sandbox {
        self.devices = false;
        self
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

    fn add(&mut self, mount: Mount) {
        self.mounts.retain(|m| m.guest != mount.guest);
        self.mounts.push(mount);
        // Longest guest prefix first, so the first match is the most specific mount.
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.guest.as_os_str().len()));
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
        let mount = Mount::new(guest, host.clone())
            .map_err(|error| SandboxError::Host { path: host, error })?;
        self.add(mount);
        Ok(self)
    }

    /// Makes the whole host file system visible, read-only, at `/`.
    pub fn host_fs(mut self) -> Sandbox {
        let root = PathBuf::from("/");
        // Opening "/" does not fail in practice; if it did, every path below it gives the
        // host's errno when used, rather than this builder failing.
        let anchor = Anchor::open(&root).map_err(|e| e.raw_os_error().unwrap_or(EACCES));
        self.add(Mount {
            guest: root.clone(),
            host: root,
            anchor,
        });
        self
    }

    /// Allows creating and changing files below the host directory `dir`, which must already
    /// be visible through a mount.
    pub fn allow_write(mut self, dir: impl AsRef<Path>) -> Result<Sandbox, SandboxError> {
        let dir = canonical(dir.as_ref())?;
        if !dir.is_dir() {
            return Err(SandboxError::NotADirectory(dir));
        }
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

    /// The mount whose host tree holds the canonical host path `host` (the most specific).
    fn mount_holding(&self, host: &Path) -> Option<&Mount> {
        self.mounts
            .iter()
            .filter(|m| host.starts_with(&m.host))
            .max_by_key(|m| m.host.as_os_str().len())
    }

    /// The mount that serves the normalized guest path `guest`.
    fn mount_of(&self, guest: &Path) -> Option<&Mount> {
        self.mounts.iter().find(|m| guest.starts_with(&m.guest))
    }

    /// The host path the guest path `guest` names, lexically (no link followed): for
    /// messages, never for access.
    pub fn host_of(&self, guest: &Path) -> Option<PathBuf> {
        let m = self.mount_of(guest)?;
        let rest = guest.strip_prefix(&m.guest).ok()?;
        Some(if rest.as_os_str().is_empty() {
            m.host.clone()
        } else {
            m.host.join(rest)
        })
    }
}

impl Sandbox {
    /// The names directly below the guest directory `dir` that lead to mounts or devices
    /// (empty when `dir` is not above any).
    pub fn children_of_virtual(&self, dir: &Path) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        // Under a root, `/dev` is the root's own directory: the devices are served at their
        // paths but not added to its listing (nor `dev` to `/`'s, where the root has none).
        let devices = if self.devices && !self.chroot {
            &DEVICES[..]
        } else {
            &[]
        };
        let points = self
            .mounts
            .iter()
            .map(|m| m.guest.as_path())
            .chain(devices.iter().map(|(p, _)| Path::new(*p)));
        for point in points {
            if let Ok(rest) = point.strip_prefix(dir) {
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

    /// Checks that the contents or metadata of the existing host object `host` may change:
    /// it must lie strictly below an allowed directory (the allowed directory itself keeps
    /// its permissions, owner and times).
    pub fn check_write_object(&self, host: &Path) -> Result<(), PathError> {
        if self
            .writable
            .iter()
            .any(|w| host != w && host.starts_with(w))
        {
            Ok(())
        } else {
            Err(PathError::ReadOnly)
        }
    }

    /// Checks that entries may be created in, or removed from, the host directory `dir`.
    pub fn check_write_in(&self, dir: &Path) -> Result<(), PathError> {
        if self.writable.iter().any(|w| dir.starts_with(w)) {
            Ok(())
        } else {
            Err(PathError::ReadOnly)
        }
    }

    /// Checks that the directory entry `host` (canonical parent joined with a name) may be
    /// created, removed or renamed.
    pub fn check_write_entry(&self, host: &Path) -> Result<(), PathError> {
        match host.parent() {
            Some(parent) => self.check_write_in(parent),
            None => Err(PathError::ReadOnly),
        }
    }
}

#[cfg(test)]
mod tests;
