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

pub use rustix::fs::FileType;
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// Where a mount's walk starts: a directory descriptor opened when the mount was made, and
/// for a file mount the file's name in it.
#[derive(Clone, Debug)]
struct Anchor {
    dir: Arc<OwnedFd>,
    /// `Some` for a file mount: the file's name in `dir`.
    file: Option<OsString>,
}

impl Anchor {
    /// Opens the canonical host path `host`. The guest has not run yet, so nothing can race.
    fn open(host: &Path) -> io::Result<Anchor> {
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if std::fs::metadata(host)?.is_dir() {
            let dir = rfs::open(host, dir_flags, Mode::empty())?;
            return Ok(Anchor {
                dir: Arc::new(dir),
                file: None,
            });
        }
        let parent = host.parent().unwrap_or(Path::new("/"));
        let name = host.file_name().unwrap_or_default().to_os_string();
        let dir = rfs::open(parent, dir_flags, Mode::empty())?;
        Ok(Anchor {
            dir: Arc::new(dir),
            file: Some(name),
        })
    }
}

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
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

/// Why a sandbox could not be built.
#[derive(Debug)]
pub enum SandboxError {
    /// A host path could not be resolved or opened.
    Host {
        /// The path as given.
        path: PathBuf,
        /// What the host said.
        error: io::Error,
    },
    /// A writable directory lies outside every mount.
    NotVisible(PathBuf),
    /// A writable path is not a directory.
    NotADirectory(PathBuf),
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
            SandboxError::NotADirectory(p) => write!(f, "{}: not a directory", p.display()),
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
    /// An ordinary error from the host (the path does not exist, a component is not a
    /// directory, too many links, ...): its errno, which Linux numbers the same for every
    /// architecture vmkit runs on and emulates.
    Host(i32),
    /// The path, or where its links lead, is outside every mount.
    Outside,
    /// The access would write where no `--allow-write` directory permits it.
    ReadOnly,
}

impl PathError {
    /// The errno the guest sees: the host's, or `EACCES` for a refusal.
    pub fn errno(self) -> i32 {
        match self {
            PathError::Host(e) => e,
            PathError::Outside | PathError::ReadOnly => EACCES,
        }
    }

    /// The explanation `--strace` adds to the errno, for sandbox refusals.
    pub fn note(self) -> Option<&'static str> {
        match self {
            PathError::Host(_) => None,
            PathError::Outside => Some("outside the sandbox"),
            PathError::ReadOnly => Some("read-only in the sandbox"),
        }
    }

    /// Whether the sandbox refused (rather than the host failing).
    pub fn is_refusal(self) -> bool {
        self.note().is_some()
    }
}

impl From<Errno> for PathError {
    fn from(e: Errno) -> PathError {
        PathError::Host(e.raw_os_error())
    }
}

impl From<io::Error> for PathError {
    fn from(e: io::Error) -> PathError {
        PathError::Host(e.raw_os_error().unwrap_or(libc_eio()))
    }
}

/// `EIO`, for host errors that carry no errno.
fn libc_eio() -> i32 {
    Errno::IO.raw_os_error()
}

/// Where a guest path leads.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// A host file system object (which may not exist yet).
    Host(HostEntry),
    /// A directory above some mount point, listing only the way to the mounts.
    Virtual,
    /// A device served by the sandbox.
    Device(Device),
}

/// A resolved host object: a descriptor of its directory and its name there. All
/// operations go through this pair without following a final link, so they act on exactly
/// what the walk checked.
#[derive(Clone, Debug)]
pub struct HostEntry {
    dir: Arc<OwnedFd>,
    /// The name in `dir`; `.` when the path ended at a directory (a mount's root, or a link
    /// target ending in `..`).
    name: OsString,
    host: PathBuf,
    exists: bool,
}

/// One entry of a host directory, from [`HostEntry::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirItem {
    /// The entry's name.
    pub name: OsString,
    /// Its inode number.
    pub ino: u64,
    /// Its type, as the directory records it.
    pub kind: FileType,
}

/// How [`HostEntry::open`] opens: the parts of `open(2)`'s flags the guests use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenHow {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Every write goes to the end.
    pub append: bool,
    /// Truncate an existing regular file (the caller checked that writing is allowed).
    pub truncate: bool,
    /// Create the file, which must not exist, with these permission bits (`O_CREAT |
    /// O_EXCL`; the caller applies its umask).
    pub create: Option<u32>,
    /// Must be a directory (`O_DIRECTORY`).
    pub directory: bool,
    /// Keep `O_NONBLOCK` on the descriptor after opening (the guest asked for it).
    pub nonblocking: bool,
}

impl HostEntry {
    /// The host path (the canonical directory joined with the name).
    pub fn host(&self) -> &Path {
        &self.host
    }

    /// An `O_PATH` descriptor of the object itself (a final link is the link): what the
    /// calls that must not follow a link swapped in by a host process act on.
    fn pin(&self) -> io::Result<OwnedFd> {
        Ok(rfs::openat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Whether the object existed when the path was resolved.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The object's status; a final symbolic link is not followed (a resolution that
    /// followed links never ends at one).
    pub fn metadata(&self) -> io::Result<Metadata> {
        let fd = self.pin()?;
        File::from(fd).metadata()
    }

    /// Opens (or, with [`OpenHow::create`], creates) the object. A final link gives
    /// `ELOOP`; opening never blocks (see the module documentation).
    pub fn open(&self, how: &OpenHow) -> io::Result<File> {
        let mut flags = OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        flags |= match (how.read, how.write) {
            (_, false) => OFlags::RDONLY,
            (false, true) => OFlags::WRONLY,
            (true, true) => OFlags::RDWR,
        };
        if how.append {
            flags |= OFlags::APPEND;
        }
        if how.truncate {
            flags |= OFlags::TRUNC;
        }
        if how.directory {
            flags |= OFlags::DIRECTORY;
        }
        let mode = match how.create {
            Some(mode) => {
                flags |= OFlags::CREATE | OFlags::EXCL;
                Mode::from_raw_mode(mode & 0o7777)
            }
            None => Mode::empty(),
        };
        let fd = rfs::openat(self.dir.as_fd(), self.name.as_os_str(), flags, mode)?;
        if !how.nonblocking {
            // O_NONBLOCK only kept the open itself from blocking; reads block as asked.
            let now = rfs::fcntl_getfl(&fd)?;
            rfs::fcntl_setfl(&fd, now - OFlags::NONBLOCK)?;
        }
        Ok(File::from(fd))
    }

    /// The entries of this directory (without `.` and `..`), in the host's order, read
    /// through a descriptor opened without following links.
    pub fn list(&self) -> io::Result<Vec<DirItem>> {
        let fd = self.open(&OpenHow {
            read: true,
            directory: true,
            ..OpenHow::default()
        })?;
        let mut out = Vec::new();
        for item in rfs::Dir::read_from(&fd)? {
            let item = item?;
            let name = item.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            out.push(DirItem {
                name: OsStr::from_bytes(name).to_os_string(),
                ino: item.ino(),
                kind: item.file_type(),
            });
        }
        Ok(out)
    }

    /// The target of the symbolic link this entry names.
    pub fn read_link(&self) -> io::Result<PathBuf> {
        let target = rfs::readlinkat(self.dir.as_fd(), self.name.as_os_str(), Vec::new())?;
        Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }

    /// Creates this entry as a directory with permission bits `mode`.
    pub fn create_dir(&self, mode: u32) -> io::Result<()> {
        rfs::mkdirat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            Mode::from_raw_mode(mode & 0o7777),
        )?;
        Ok(())
    }

    /// Removes this entry: a directory with `dir`, anything else without.
    pub fn remove(&self, dir: bool) -> io::Result<()> {
        let flags = if dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rfs::unlinkat(self.dir.as_fd(), self.name.as_os_str(), flags)?;
        Ok(())
    }

    /// Renames this entry to `to`; with `no_replace`, an existing `to` is an error.
    pub fn rename_to(&self, to: &HostEntry, no_replace: bool) -> io::Result<()> {
        let flags = if no_replace {
            rfs::RenameFlags::NOREPLACE
        } else {
            rfs::RenameFlags::empty()
        };
        rfs::renameat_with(
            self.dir.as_fd(),
            self.name.as_os_str(),
            to.dir.as_fd(),
            to.name.as_os_str(),
            flags,
        )?;
        Ok(())
    }

    /// Makes `to` a new hard link to this entry (a final link is linked, not followed).
    pub fn hard_link_to(&self, to: &HostEntry) -> io::Result<()> {
        rfs::linkat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            to.dir.as_fd(),
            to.name.as_os_str(),
            AtFlags::empty(),
        )?;
        Ok(())
    }

    /// Creates this entry as a symbolic link to `target` (not checked: following it later
    /// is, so a link out of the sandbox leads nowhere).
    pub fn symlink(&self, target: &OsStr) -> io::Result<()> {
        rfs::symlinkat(target, self.dir.as_fd(), self.name.as_os_str())?;
        Ok(())
    }

    /// Sets the permission bits. `fchmodat` would follow a final link swapped in by a host
    /// process, so the object is pinned with an `O_PATH` descriptor first and changed
    /// through `/proc/self/fd`, as the C library does for `AT_SYMLINK_NOFOLLOW`.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        let mode = Mode::from_raw_mode(mode & 0o7777);
        let fd = self.pin()?;
        if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) == FileType::Symlink {
            // Links have no permissions of their own on Linux.
            return Err(Errno::OPNOTSUPP.into());
        }
        match rfs::chmod(format!("/proc/self/fd/{}", fd.as_raw_fd()), mode) {
            Err(Errno::NOENT) if !Path::new("/proc/self/fd").is_dir() => {
                // No /proc: only a host process racing the final name can tell.
                rfs::chmodat(
                    self.dir.as_fd(),
                    self.name.as_os_str(),
                    mode,
                    AtFlags::empty(),
                )?;
                Ok(())
            }
            r => Ok(r?),
        }
    }

    /// Sets the access and modification times (seconds, nanoseconds; the nanoseconds may be
    /// `UTIME_NOW` or `UTIME_OMIT`). A final link's own times are set.
    pub fn set_times(&self, access: (i64, i64), modification: (i64, i64)) -> io::Result<()> {
        rfs::utimensat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            &timestamps(access, modification),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    /// Truncates or extends the regular file to `len` bytes.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        let file = self.open(&OpenHow {
            write: true,
            ..OpenHow::default()
        })?;
        file.set_len(len)
    }

    /// The host's answer to `access(how)` (`R_OK` 4, `W_OK` 2, `X_OK` 1, `F_OK` 0) for this
    /// object itself.
    pub fn access(&self, how: u32) -> io::Result<()> {
        let access = rfs::Access::from_bits_truncate(how & 7);
        rfs::accessat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            access,
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }
}

/// Sets an open file's access and modification times (seconds, nanoseconds; the nanoseconds
/// may be `UTIME_NOW` or `UTIME_OMIT`), through its descriptor.
pub fn set_file_times(file: &File, access: (i64, i64), modification: (i64, i64)) -> io::Result<()> {
    rfs::futimens(file, &timestamps(access, modification))?;
    Ok(())
}

fn timestamps(access: (i64, i64), modification: (i64, i64)) -> rfs::Timestamps {
    let ts = |(tv_sec, tv_nsec): (i64, i64)| rfs::Timespec {
        tv_sec,
        tv_nsec: tv_nsec as _,
    };
    rfs::Timestamps {
        last_access: ts(access),
        last_modification: ts(modification),
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

/// Whether `openat2` may be tried (cleared when the kernel lacks it, before Linux 5.6).
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// The common case in one system call: when no component of the guest path `rest` below a
/// directory mount is a symbolic link (except a final one that is not to be followed), the
/// parent directory is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from the
/// mount's descriptor, and the entry is the walk's answer. `None` hands the path to the
/// walk: a link on the way, a missing directory, an old kernel, a rename race (`EAGAIN`). The
/// walk decides every error, so both ways give the same results.
fn direct(
    anchor: &Anchor,
    host: &Path,
    rest: &Path,
    follow: bool,
) -> Option<Result<Resolved, PathError>> {
    let name = rest.file_name()?;
    let parent = rest.parent()?;
    let dir = if parent.as_os_str().is_empty() {
        anchor.dir.clone()
    } else {
        if !OPENAT2.load(Ordering::Relaxed) {
            return None;
        }
        let resolve = rfs::ResolveFlags::BENEATH
            | rfs::ResolveFlags::NO_SYMLINKS
            | rfs::ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rfs::openat2(anchor.dir.as_fd(), parent, flags, Mode::empty(), resolve) {
            Ok(fd) => Arc::new(fd),
            Err(Errno::NOSYS) => {
                OPENAT2.store(false, Ordering::Relaxed);
                return None;
            }
            Err(_) => return None,
        }
    };
    let exists = match rfs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if follow && FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            return None
        }
        Ok(_) => true,
        Err(Errno::NOENT) => false,
        Err(_) => return None,
    };
    Some(Ok(Resolved::Host(HostEntry {
        dir,
        name: name.to_os_string(),
        host: host.join(rest),
        exists,
    })))
}

/// Where a walk stands.
enum Pos {
    /// Inside a mount: the directories entered, each with its host path. Never empty.
    In(Vec<(Arc<OwnedFd>, PathBuf)>),
    /// At a canonical host directory outside every mount (only on the way to one, or after
    /// a link or `..` led out).
    Outside(PathBuf),
}

/// The components of a link target or a path below a mount, for the walk's queue.
fn components(path: &Path) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Puts `path`'s components in front of the walk's queue.
fn prepend(queue: &mut VecDeque<OsString>, path: &Path) {
    for c in components(path).rev() {
        queue.push_front(c);
    }
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
        }
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

    /// Where the normalized guest path `guest` leads. With `follow`, a final symbolic link is
    /// followed (as `open` and `stat` do); without, it is the object itself (`lstat`).
    pub fn resolve(&self, guest: &Path, follow: bool) -> Result<Resolved, PathError> {
        if self.devices {
            if let Some((_, dev)) = DEVICES.iter().find(|(p, _)| Path::new(p) == guest) {
                return Ok(Resolved::Device(*dev));
            }
        }
        let Some(mount) = self.mount_of(guest) else {
            if !self.children_of_virtual(guest).is_empty() {
                return Ok(Resolved::Virtual);
            }
            return Err(PathError::Outside);
        };
        let rest = guest.strip_prefix(&mount.guest).unwrap_or(Path::new(""));
        let mut queue = VecDeque::new();
        prepend(&mut queue, rest);
        let anchor = mount.anchor()?;
        if let Some(name) = &anchor.file {
            return self.file_mount(anchor, name, &mount.host, queue.is_empty());
        }
        if let Some(done) = direct(anchor, &mount.host, rest, follow) {
            return done;
        }
        let start = Pos::In(vec![(anchor.dir.clone(), mount.host.clone())]);
        self.walk(start, queue, follow)
    }

    /// The entry for a file mount reached with `rest_is_empty` (anything after a file is
    /// `ENOTDIR`, as on Linux).
    fn file_mount(
        &self,
        anchor: &Anchor,
        name: &OsStr,
        host: &Path,
        rest_is_empty: bool,
    ) -> Result<Resolved, PathError> {
        if !rest_is_empty {
            return Err(Errno::NOTDIR.into());
        }
        let exists = match rfs::statat(anchor.dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(Resolved::Host(HostEntry {
            dir: anchor.dir.clone(),
            name: name.to_os_string(),
            host: host.to_path_buf(),
            exists,
        }))
    }

    /// Walks `queue` from `pos` (see the module documentation).
    fn walk(
        &self,
        mut pos: Pos,
        mut queue: VecDeque<OsString>,
        follow: bool,
    ) -> Result<Resolved, PathError> {
        let mut links = 0u32;
        let mut follow_link = |queue: &mut VecDeque<OsString>, target: &Path| {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(PathError::from(Errno::LOOP));
            }
            prepend(queue, target);
            Ok(())
        };
        loop {
            // Outside the mounts, the walk enters one as soon as its host path does.
            if let Pos::Outside(cur) = &pos {
                if let Some(m) = self.mount_holding(cur) {
                    let anchor = m.anchor()?;
                    let rest = cur.strip_prefix(&m.host).unwrap_or(Path::new(""));
                    if let Some(name) = &anchor.file {
                        return self.file_mount(anchor, name, &m.host, queue.is_empty());
                    }
                    prepend(&mut queue, rest);
                    pos = Pos::In(vec![(anchor.dir.clone(), m.host.clone())]);
                }
            }
            let Some(c) = queue.pop_front() else { break };
            let last = queue.is_empty();
            match &mut pos {
                Pos::Outside(cur) => {
                    if c == ".." {
                        cur.pop();
                        continue;
                    }
                    let next = cur.join(&c);
                    if self.mounts.iter().any(|m| m.host.starts_with(&next)) {
                        *cur = next;
                        continue;
                    }
                    // Not on the way to a mount. The guest cannot write here, so a link
                    // here was made on the host (`/home -> /var/home`): follow it.
                    let target = match std::fs::symlink_metadata(&next) {
                        Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&next)?,
                        _ => return Err(PathError::Outside),
                    };
                    follow_link(&mut queue, &target)?;
                    if target.is_absolute() {
                        *cur = PathBuf::from("/");
                    }
                }
                Pos::In(stack) => {
                    let Some((dir, host)) = stack.last().cloned() else {
                        return Err(PathError::Outside);
                    };
                    if c == ".." {
                        if stack.len() > 1 {
                            stack.pop();
                        } else {
                            let up = host.parent().unwrap_or(Path::new("/")).to_path_buf();
                            pos = Pos::Outside(up);
                        }
                        continue;
                    }
                    let st =
                        match rfs::statat(dir.as_fd(), c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                            Ok(st) => st,
                            Err(Errno::NOENT) if last => {
                                return Ok(Resolved::Host(HostEntry {
                                    host: host.join(&c),
                                    dir,
                                    name: c,
                                    exists: false,
                                }))
                            }
                            Err(e) => return Err(e.into()),
                        };
                    let kind = FileType::from_raw_mode(st.st_mode);
                    if kind == FileType::Symlink && (follow || !last) {
                        let target = rfs::readlinkat(dir.as_fd(), c.as_os_str(), Vec::new())?;
                        let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                        follow_link(&mut queue, &target)?;
                        if target.is_absolute() {
                            pos = Pos::Outside(PathBuf::from("/"));
                        }
                        continue;
                    }
                    if last {
                        return Ok(Resolved::Host(HostEntry {
                            host: host.join(&c),
                            dir,
                            name: c,
                            exists: true,
                        }));
                    }
                    if kind != FileType::Directory {
                        return Err(Errno::NOTDIR.into());
                    }
                    // O_NOFOLLOW: a directory replaced by a link since the stat gives ELOOP.
                    let sub = rfs::openat(
                        dir.as_fd(),
                        c.as_os_str(),
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    stack.push((Arc::new(sub), host.join(&c)));
                }
            }
        }
        // The path ended at a directory: a mount's root, or a link target ending in `..`.
        match pos {
            Pos::In(mut stack) => match stack.pop() {
                Some((dir, host)) => Ok(Resolved::Host(HostEntry {
                    dir,
                    name: OsString::from("."),
                    host,
                    exists: true,
                })),
                None => Err(PathError::Outside),
            },
            Pos::Outside(_) => Err(PathError::Outside),
        }
    }

    /// The names directly below the guest directory `dir` that lead to mounts or devices
    /// (empty when `dir` is not above any).
    pub fn children_of_virtual(&self, dir: &Path) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let devices = if self.devices { &DEVICES[..] } else { &[] };
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

    /// The one-line hint for a refusal of the guest path `guest` that the user probably
    /// meant to allow: which path, and which flag allows it. `write` says whether the
    /// access wanted to write. `None` for errors that are not refusals.
    pub fn hint(&self, guest: &Path, error: PathError, write: bool) -> Option<String> {
        let host = self.host_of(guest);
        match (error, host) {
            (PathError::ReadOnly, Some(host)) => {
                let dir = host.parent().unwrap_or(&host);
                Some(format!(
                    "the sandbox refused to write {}: add --allow-write {} to allow it",
                    guest.display(),
                    dir.display()
                ))
            }
            (PathError::ReadOnly | PathError::Outside, _) => {
                let dir = guest.parent().unwrap_or(guest);
                let also = if write {
                    format!(" and --allow-write {}", dir.display())
                } else {
                    String::new()
                };
                Some(format!(
                    "{} is outside the sandbox: add --mount {}{also} (or --host-fs) to make it visible",
                    guest.display(),
                    dir.display()
                ))
            }
            (PathError::Host(_), _) => None,
        }
    }
}

#[cfg(test)]
mod tests;
