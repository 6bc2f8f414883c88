//! The file system: descriptors and open files (`fd`), calls on descriptors (`io`), `stat`
//! layouts (`stat`), `statfs64`/`fstatfs64` (`statfs`), the sandbox every path goes through
//! (`sandbox`), and here the system calls that take paths: `open`, `stat`, `access`,
//! `readlink`, `getcwd`/`chdir`, `mkdir`, `unlink`/`rmdir`, `rename`, `chmod`, `utimensat`,
//! `truncate`, `chown`, `symlink`, `link`. Every path goes through [`Sandbox::resolve`](super::Sandbox::resolve), which walks
//! it without letting the host follow links; every operation then acts on the
//! [`HostEntry`] it returned (directory descriptor and name, final link never followed), so
//! the object changed is the object checked. Writes also go through the write checks.

pub(super) mod fd;
pub(super) mod io;
pub mod sandbox;
pub mod stat;
mod statfs;

use super::errno::Errno;
use super::{guest, Linux};
use fd::{flags::*, DirStream, Node, OpenFile};
use sandbox::{normalize, set_file_times, HostEntry, OpenHow, PathError, Resolved, Sandbox};
use stat::{mode, FileStat};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use vmkit_mem::Memory;

/// `AT_FDCWD` as the guest passes it.
pub const AT_FDCWD: u32 = -100i32 as u32;
/// `*at` flag: do not follow a final symbolic link.
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// `unlinkat` flag: remove a directory.
pub const AT_REMOVEDIR: u32 = 0x200;
/// `faccessat2` flag: check with the effective ids.
pub const AT_EACCESS: u32 = 0x200;
/// `*at` flag: an empty path means the descriptor itself.
pub const AT_EMPTY_PATH: u32 = 0x1000;
/// `creat(path, mode)` is `open(path, CREAT_FLAGS, mode)`.
pub const CREAT_FLAGS: u32 = O_CREAT | O_WRONLY | O_TRUNC;

/// A 64-bit value passed in two 32-bit registers, low word first.
pub fn join64(lo: u32, hi: u32) -> i64 {
    ((hi as u64) << 32 | lo as u64) as i64
}

/// A guest path after lookup.
pub(super) struct Lookup {
    /// The normalized guest path.
    pub guest: PathBuf,
    /// Where it leads.
    pub target: Resolved,
}

/// Synthetic inode numbers for objects the sandbox makes up. They fit in 32 bits, or
/// programs using the 32-bit `readdir`/`stat` get `EOVERFLOW`.
fn synthetic_ino(guest: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    guest.hash(&mut h);
    (h.finish() & 0x3fff_ffff) | 0x4000_0000
}

/// The status of a device served by the sandbox (`/dev/null` is 1:3, as on Linux).
pub(super) fn device_stat(dev: super::Device) -> FileStat {
    let minor = match dev {
        super::Device::Null => 3,
        super::Device::Zero => 5,
        super::Device::Random => 9,
    };
    FileStat::synthetic(mode::S_IFCHR | 0o666, 0x1000 + minor, 0x100 | minor)
}

/// The status of a virtual directory.
pub(super) fn virtual_dir_stat(guest: &Path) -> FileStat {
    FileStat::synthetic(mode::S_IFDIR | 0o555, synthetic_ino(guest), 0)
}

/// What a metadata change through a descriptor acts on.
enum FdObject {
    /// The open host file itself (its own descriptor, duplicated).
    File(std::fs::File),
    /// A directory or `O_PATH` handle, found again through the sandbox by its guest path.
    Entry(HostEntry),
}

impl Linux {
    /// The guest directory a `*at` call starts from.
    fn base_dir(&self, dirfd: u32) -> Result<PathBuf, Errno> {
        if dirfd == AT_FDCWD {
            return Ok(self.cwd.clone());
        }
        let file = self.fds.get(dirfd)?;
        let file = file.borrow();
        match (&file.node, &file.guest_path) {
            (Node::Dir(_) | Node::Path, Some(g)) => Ok(g.clone()),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The guest path of a path argument relative to `dirfd`, normalized.
    pub(super) fn guest_path(
        &self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
    ) -> Result<(PathBuf, Vec<u8>), Errno> {
        let raw = guest::path(mem, path)?;
        if raw.is_empty() {
            return Err(Errno::ENOENT);
        }
        let base = if raw[0] == b'/' {
            PathBuf::from("/")
        } else {
            self.base_dir(dirfd)?
        };
        Ok((normalize(&base, &raw), raw))
    }

    /// Reads a path argument and resolves it in the sandbox. A trailing slash asks for a
    /// directory (and follows a final link).
    pub(super) fn lookup(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        follow: bool,
    ) -> Result<Lookup, Errno> {
        let (guest, raw) = self.guest_path(mem, dirfd, path)?;
        let trailing_slash = raw.len() > 1 && raw.ends_with(b"/");
        self.last_path = Some(guest.clone());
        let target = self
            .sandbox
            .resolve(&guest, follow || trailing_slash)
            .map_err(|e| self.refuse(e))?;
        if trailing_slash {
            if let Resolved::Host(e) = &target {
                if e.exists() && !e.metadata()?.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
            }
        }
        Ok(Lookup { guest, target })
    }

    /// The existing host object an open directory or `O_PATH` handle was opened by, found
    /// again through the sandbox by its guest path (never by host path, which a rename
    /// and a link could redirect).
    pub(super) fn host_entry(&self, guest: &Path) -> Result<HostEntry, Errno> {
        match self.sandbox.resolve(guest, false) {
            Ok(Resolved::Host(e)) if e.exists() => Ok(e),
            Ok(_) => Err(Errno::ENOENT),
            Err(e) => Err(Errno(e.errno())),
        }
    }

    /// The guest path at which the canonical host path `host` is visible, if any (the mount
    /// with the longest host prefix wins).
    fn guest_of_host(&self, host: &Path) -> Option<PathBuf> {
        self.sandbox
            .mounts()
            .iter()
            .filter(|m| host.starts_with(&m.host))
            .max_by_key(|m| m.host.as_os_str().len())
            .map(|m| match host.strip_prefix(&m.host) {
                Ok(rest) if !rest.as_os_str().is_empty() => m.guest.join(rest),
                _ => m.guest.clone(),
            })
    }

    /// `open`, `openat`, `creat`.
    pub(super) fn open(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        flags: u32,
        mode: u32,
    ) -> Result<u32, Errno> {
        if flags & O_TMPFILE == O_TMPFILE {
            return Err(Errno::EOPNOTSUPP);
        }
        let follow = flags & O_NOFOLLOW == 0 && flags & (O_CREAT | O_EXCL) != O_CREAT | O_EXCL;
        let look = self.lookup(mem, dirfd, path, follow)?;
        let access = flags & O_ACCMODE;
        let wants_write = access != O_RDONLY || flags & O_TRUNC != 0;
        let status =
            flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW);
        let cloexec = flags & O_CLOEXEC != 0;
        let mut file = match look.target {
            Resolved::Device(dev) => {
                if flags & O_DIRECTORY != 0 {
                    return Err(Errno::ENOTDIR);
                }
                OpenFile::new(Node::Device(dev), status)
            }
            Resolved::Virtual => {
                if flags & O_CREAT != 0 || access != O_RDONLY {
                    return Err(Errno::EISDIR);
                }
                let node = if flags & O_PATH != 0 {
                    Node::Path
                } else {
                    Node::Dir(DirStream::default())
                };
                OpenFile::new(node, status)
            }
            Resolved::Host(entry) => {
                let node = self.open_host(&entry, flags, mode, wants_write)?;
                // A directory reached through links is found again (getdents, fchdir, *at)
                // by where the links led, as the kernel's descriptor would.
                let guest = match node {
                    Node::Dir(_) => self.guest_of_host(entry.host()),
                    _ => None,
                };
                let mut file = OpenFile::new(node, status);
                file.host_path = Some(entry.host().to_path_buf());
                file.guest_path = guest;
                file
            }
        };
        file.guest_path = file.guest_path.take().or(Some(look.guest));
        self.fds.open(file, cloexec)
    }

    /// Opens (or creates) the host object `entry` for `open`. The open itself never
    /// blocks (a FIFO without a writer); `O_NONBLOCK` stays only if the guest asked.
    fn open_host(
        &mut self,
        entry: &HostEntry,
        flags: u32,
        mode: u32,
        wants_write: bool,
    ) -> Result<Node, Errno> {
        let access = flags & O_ACCMODE;
        let how = OpenHow {
            read: access != O_WRONLY,
            write: access != O_RDONLY,
            append: flags & O_APPEND != 0,
            nonblocking: flags & O_NONBLOCK != 0,
            ..OpenHow::default()
        };
        if !entry.exists() {
            if flags & O_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
            if flags & O_DIRECTORY != 0 {
                return Err(Errno::EINVAL);
            }
            self.sandbox
                .check_write_entry(entry.host())
                .map_err(|e| self.refuse_write(e))?;
            let file = entry.open(&OpenHow {
                create: Some(mode & 0o7777 & !self.umask),
                ..how
            })?;
            return Ok(Node::File(file));
        }
        if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
            return Err(Errno::EEXIST);
        }
        let meta = entry.metadata()?;
        if meta.file_type().is_symlink() {
            // Only reached without following: O_NOFOLLOW on a link.
            return if flags & O_PATH != 0 {
                Ok(Node::Path)
            } else {
                Err(Errno::ELOOP)
            };
        }
        if flags & O_PATH != 0 {
            if flags & O_DIRECTORY != 0 && !meta.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            return Ok(Node::Path);
        }
        if meta.is_dir() {
            if wants_write || flags & O_CREAT != 0 {
                return Err(Errno::EISDIR);
            }
            return Ok(Node::Dir(DirStream::default()));
        }
        if flags & O_DIRECTORY != 0 {
            return Err(Errno::ENOTDIR);
        }
        if wants_write {
            self.sandbox
                .check_write_object(entry.host())
                .map_err(|e| self.refuse_write(e))?;
        }
        let file = entry.open(&OpenHow {
            truncate: flags & O_TRUNC != 0 && access != O_RDONLY,
            ..how
        })?;
        if flags & O_TRUNC != 0 && access == O_RDONLY && meta.is_file() {
            // Linux truncates even for O_RDONLY; the write check above allowed it.
            file.set_len(0).or_else(|_| entry.set_len(0))?;
        }
        Ok(Node::File(file))
    }

    /// The status of a looked-up path.
    fn stat_of(&self, look: &Lookup) -> Result<FileStat, Errno> {
        match &look.target {
            Resolved::Host(e) if !e.exists() => Err(Errno::ENOENT),
            // A resolution that followed links ends at a non-link: the entry's own status.
            Resolved::Host(e) => Ok(FileStat::from_metadata(&e.metadata()?)),
            Resolved::Virtual => Ok(virtual_dir_stat(&look.guest)),
            Resolved::Device(d) => Ok(device_stat(*d)),
        }
    }

    /// `stat64`, `lstat64`, `fstatat64` and (with `statx`) `statx`.
    pub(super) fn stat_path(
        &mut self,
        mem: &mut Memory,
        dirfd: u32,
        path: u32,
        buf: u32,
        flags: u32,
        statx: bool,
    ) -> Result<u32, Errno> {
        let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
        // Linux 6.11 accepts a null path with AT_EMPTY_PATH.
        let empty = flags & AT_EMPTY_PATH != 0 && (path == 0 || guest::path(mem, path)?.is_empty());
        let st = if empty {
            if dirfd == AT_FDCWD {
                let cwd = self.cwd.clone();
                let target = self
                    .sandbox
                    .resolve(&cwd, true)
                    .map_err(|e| self.refuse(e))?;
                self.stat_of(&Lookup { guest: cwd, target })?
            } else {
                self.fd_stat(dirfd)?
            }
        } else {
            let look = self.lookup(mem, dirfd, path, follow)?;
            self.stat_of(&look)?
        };
        if statx {
            guest::store(mem, buf, &st.statx_bytes())?;
        } else {
            guest::store(mem, buf, &st.stat64_bytes())?;
        }
        Ok(0)
    }

    /// `access`, `faccessat`, `faccessat2`: existence, then the sandbox for `W_OK`, then the
    /// host's own answer.
    pub(super) fn access(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        how: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        const W_OK: u32 = 2;
        if how & !7 != 0 || flags & !(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        let look = self.lookup(mem, dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        match look.target {
            Resolved::Host(e) if !e.exists() => Err(Errno::ENOENT),
            Resolved::Device(_) => Ok(0),
            Resolved::Virtual if how & W_OK != 0 => Err(self.refuse(PathError::Outside)),
            Resolved::Virtual => Ok(0),
            Resolved::Host(e) => {
                if how & W_OK != 0 {
                    // W_OK on a directory asks whether entries can be made in it.
                    let check = if e.metadata()?.is_dir() {
                        Sandbox::check_write_in
                    } else {
                        Sandbox::check_write_object
                    };
                    check(&self.sandbox, e.host()).map_err(|err| self.refuse(err))?;
                }
                e.access(how)?;
                Ok(0)
            }
        }
    }

    /// `readlink`, `readlinkat`; `/proc/self/exe` is the guest program.
    pub(super) fn readlink(
        &mut self,
        mem: &mut Memory,
        dirfd: u32,
        path: u32,
        buf: u32,
        size: u32,
    ) -> Result<u32, Errno> {
        if (size as i32) <= 0 {
            return Err(Errno::EINVAL);
        }
        let (guest, _) = self.guest_path(mem, dirfd, path)?;
        let target: Vec<u8> = if guest == Path::new("/proc/self/exe") {
            self.exe.as_os_str().as_bytes().to_vec()
        } else {
            let look = self.lookup(mem, dirfd, path, false)?;
            match look.target {
                Resolved::Host(e) if !e.exists() => return Err(Errno::ENOENT),
                Resolved::Host(e) => e
                    .read_link()
                    .map_err(|e| {
                        if e.raw_os_error() == Some(libc::EINVAL) {
                            Errno::EINVAL
                        } else {
                            Errno::from_io(&e)
                        }
                    })?
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
                Resolved::Virtual | Resolved::Device(_) => return Err(Errno::EINVAL),
            }
        };
        let n = target.len().min(size as usize);
        guest::store(mem, buf, &target[..n])?;
        Ok(n as u32)
    }

    /// `umask`: sets the file-creation mask and answers the old one.
    pub(super) fn set_umask(&mut self, mask: u32) -> Result<u32, Errno> {
        Ok(std::mem::replace(&mut self.umask, mask & 0o777))
    }

    /// `getcwd`: the guest's working directory (the kernel's return value counts the NUL).
    pub(super) fn getcwd(&mut self, mem: &mut Memory, buf: u32, size: u32) -> Result<u32, Errno> {
        let mut bytes = self.cwd.as_os_str().as_bytes().to_vec();
        bytes.push(0);
        if bytes.len() > size as usize {
            return Err(Errno::ERANGE);
        }
        guest::store(mem, buf, &bytes)?;
        Ok(bytes.len() as u32)
    }

    /// Makes `look` the working directory if it is one.
    fn enter_dir(&mut self, look: Lookup) -> Result<u32, Errno> {
        match look.target {
            Resolved::Host(e) if !e.exists() => Err(Errno::ENOENT),
            Resolved::Host(e) => {
                if !e.metadata()?.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                // Followed links: the working directory is where they led, as in Linux.
                self.cwd = self.guest_of_host(e.host()).unwrap_or(look.guest);
                Ok(0)
            }
            Resolved::Virtual => {
                self.cwd = look.guest;
                Ok(0)
            }
            Resolved::Device(_) => Err(Errno::ENOTDIR),
        }
    }

    /// `chdir`.
    pub(super) fn chdir(&mut self, mem: &Memory, path: u32) -> Result<u32, Errno> {
        let look = self.lookup(mem, AT_FDCWD, path, true)?;
        self.enter_dir(look)
    }

    /// `fchdir`.
    pub(super) fn fchdir(&mut self, fd: u32) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let guest = file.borrow().guest_path.clone().ok_or(Errno::ENOTDIR)?;
        let target = self
            .sandbox
            .resolve(&guest, true)
            .map_err(|e| self.refuse(e))?;
        self.enter_dir(Lookup { guest, target })
    }

    /// A new directory entry, after the sandbox's write check.
    fn new_entry(&mut self, look: &Lookup) -> Result<HostEntry, Errno> {
        match &look.target {
            Resolved::Host(e) if !e.exists() => {
                self.sandbox
                    .check_write_entry(e.host())
                    .map_err(|err| self.refuse_write(err))?;
                Ok(e.clone())
            }
            _ => Err(Errno::EEXIST),
        }
    }

    /// An existing directory entry to remove or rename, after the write check.
    fn old_entry(&mut self, look: &Lookup) -> Result<HostEntry, Errno> {
        self.existing_host(look, Sandbox::check_write_entry)
    }

    /// An existing host object, after `check` allowed writing it.
    fn existing_host(
        &mut self,
        look: &Lookup,
        check: fn(&Sandbox, &Path) -> Result<(), PathError>,
    ) -> Result<HostEntry, Errno> {
        match &look.target {
            Resolved::Host(e) if !e.exists() => Err(Errno::ENOENT),
            Resolved::Host(e) => {
                check(&self.sandbox, e.host()).map_err(|err| self.refuse_write(err))?;
                Ok(e.clone())
            }
            Resolved::Virtual | Resolved::Device(_) => Err(self.refuse_write(PathError::ReadOnly)),
        }
    }

    /// `mkdir`, `mkdirat`.
    pub(super) fn mkdir(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        mode: u32,
    ) -> Result<u32, Errno> {
        let look = self.lookup(mem, dirfd, path, false)?;
        let entry = self.new_entry(&look)?;
        entry.create_dir(mode & 0o7777 & !self.umask)?;
        Ok(0)
    }

    /// `unlink`, `rmdir`, `unlinkat`.
    pub(super) fn unlink(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        if flags & !AT_REMOVEDIR != 0 {
            return Err(Errno::EINVAL);
        }
        let (_, raw) = self.guest_path(mem, dirfd, path)?;
        if flags & AT_REMOVEDIR != 0 && (raw.ends_with(b"/.") || raw == b".") {
            return Err(Errno::EINVAL);
        }
        let look = self.lookup(mem, dirfd, path, false)?;
        self.old_entry(&look)?.remove(flags & AT_REMOVEDIR != 0)?;
        Ok(0)
    }

    /// `rename`, `renameat`, `renameat2` (flag `RENAME_NOREPLACE` only).
    pub(super) fn rename(
        &mut self,
        mem: &Memory,
        olddir: u32,
        old: u32,
        newdir: u32,
        new: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        const RENAME_NOREPLACE: u32 = 1;
        if flags & !RENAME_NOREPLACE != 0 {
            return Err(Errno::EINVAL);
        }
        let from = self.lookup(mem, olddir, old, false)?;
        let to = self.lookup(mem, newdir, new, false)?;
        // A refusal of the source is hinted under its own name.
        self.last_path = Some(from.guest.clone());
        let from_entry = self.old_entry(&from)?;
        self.last_path = Some(to.guest.clone());
        let to_entry = match &to.target {
            Resolved::Host(e) if e.exists() => {
                if flags & RENAME_NOREPLACE != 0 {
                    return Err(Errno::EEXIST);
                }
                self.old_entry(&to)?
            }
            _ => self.new_entry(&to)?,
        };
        from_entry.rename_to(&to_entry, flags & RENAME_NOREPLACE != 0)?;
        Ok(0)
    }

    /// An existing object whose contents or metadata are to change.
    fn existing_for_write(&mut self, look: &Lookup) -> Result<HostEntry, Errno> {
        self.existing_host(look, Sandbox::check_write_object)
    }

    /// `chmod`, `fchmodat`.
    pub(super) fn chmod(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        mode: u32,
    ) -> Result<u32, Errno> {
        let look = self.lookup(mem, dirfd, path, true)?;
        self.existing_for_write(&look)?.set_mode(mode)?;
        Ok(0)
    }

    /// The object behind a descriptor, checked for metadata writes. An open host file is
    /// changed through its own descriptor (never by path, which a rename and a link could
    /// redirect); a directory or `O_PATH` handle is found again through the sandbox.
    fn fd_object_for_write(&mut self, fd: u32) -> Result<FdObject, Errno> {
        let file = self.fds.get(fd)?;
        let (host, guest, own) = {
            let file = file.borrow();
            let own = match &file.node {
                Node::File(f) => Some(f.try_clone()?),
                _ => None,
            };
            (file.host_path.clone(), file.guest_path.clone(), own)
        };
        self.last_path = guest.clone();
        let Some(host) = host else {
            return Err(self.refuse_write(PathError::ReadOnly));
        };
        self.sandbox
            .check_write_object(&host)
            .map_err(|e| self.refuse_write(e))?;
        if let Some(f) = own {
            return Ok(FdObject::File(f));
        }
        let guest = guest.ok_or(Errno::EBADF)?;
        match self
            .sandbox
            .resolve(&guest, false)
            .map_err(|e| self.refuse(e))?
        {
            Resolved::Host(e) if e.exists() && e.host() == host => Ok(FdObject::Entry(e)),
            // Moved or replaced since it was opened: nothing safe to act on.
            _ => Err(Errno::ENOENT),
        }
    }

    /// `fchmod`.
    pub(super) fn fchmod(&mut self, fd: u32, mode: u32) -> Result<u32, Errno> {
        match self.fd_object_for_write(fd)? {
            FdObject::File(f) => {
                f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?
            }
            FdObject::Entry(e) => e.set_mode(mode)?,
        }
        Ok(0)
    }

    /// `utimensat` (32- or 64-bit `timespec`); a null path changes the descriptor's file.
    pub(super) fn utimensat(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        times: u32,
        flags: u32,
        time64: bool,
    ) -> Result<u32, Errno> {
        const UTIME_NOW: i64 = (1 << 30) - 1;
        const UTIME_OMIT: i64 = (1 << 30) - 2;
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        // (seconds, nanoseconds) for access and modification; no argument means "now".
        let mut ts = [(0i64, UTIME_NOW); 2];
        if times != 0 {
            for (k, t) in ts.iter_mut().enumerate() {
                let (sec, nsec) = if time64 {
                    let at = times + 16 * k as u32;
                    (
                        guest::u64_at(mem, at)? as i64,
                        guest::u32_at(mem, at + 8)? as i32 as i64,
                    )
                } else {
                    let at = times + 8 * k as u32;
                    (
                        guest::u32_at(mem, at)? as i32 as i64,
                        guest::u32_at(mem, at + 4)? as i32 as i64,
                    )
                };
                if nsec != UTIME_NOW && nsec != UTIME_OMIT && !(0..1_000_000_000).contains(&nsec) {
                    return Err(Errno::EINVAL);
                }
                *t = (sec, nsec);
            }
        }
        let object = if path == 0 {
            self.fd_object_for_write(dirfd)?
        } else {
            let look = self.lookup(mem, dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
            FdObject::Entry(self.existing_for_write(&look)?)
        };
        match object {
            FdObject::Entry(e) => e.set_times(ts[0], ts[1])?,
            FdObject::File(f) => set_file_times(&f, ts[0], ts[1])?,
        }
        Ok(0)
    }

    /// `truncate`, `truncate64`.
    pub(super) fn truncate(&mut self, mem: &Memory, path: u32, len: i64) -> Result<u32, Errno> {
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        let look = self.lookup(mem, AT_FDCWD, path, true)?;
        let entry = self.existing_for_write(&look)?;
        if entry.metadata()?.is_dir() {
            return Err(Errno::EISDIR);
        }
        entry.set_len(len as u64)?;
        Ok(0)
    }

    /// `chown32`, `lchown32`, `fchownat`, and (with a descriptor) `fchown32`: the guest is
    /// not privileged, so only "changes" to the current owner and group (or -1, keep) are
    /// allowed, on files it may write.
    pub(super) fn chown(
        &mut self,
        mem: &Memory,
        target: ChownTarget,
        uid: u32,
        gid: u32,
    ) -> Result<u32, Errno> {
        let object = match target {
            ChownTarget::Fd(fd) => self.fd_object_for_write(fd)?,
            ChownTarget::Path {
                dirfd,
                path,
                follow,
            } => {
                let look = self.lookup(mem, dirfd, path, follow)?;
                FdObject::Entry(self.existing_for_write(&look)?)
            }
        };
        let meta = match object {
            FdObject::File(f) => f.metadata()?,
            FdObject::Entry(e) => e.metadata()?,
        };
        use std::os::unix::fs::MetadataExt;
        let keeps = |want: u32, now: u32| want == u32::MAX || want == now;
        if keeps(uid, meta.uid()) && keeps(gid, meta.gid()) {
            Ok(0)
        } else {
            Err(Errno::EPERM)
        }
    }

    /// `symlink`, `symlinkat`: a new link in a writable directory. Its target is not
    /// checked here; following it later is (a link out of the sandbox leads nowhere).
    pub(super) fn symlink(
        &mut self,
        mem: &Memory,
        target: u32,
        dirfd: u32,
        path: u32,
    ) -> Result<u32, Errno> {
        let text = guest::path(mem, target)?;
        if text.is_empty() {
            return Err(Errno::ENOENT);
        }
        let look = self.lookup(mem, dirfd, path, false)?;
        self.new_entry(&look)?
            .symlink(std::ffi::OsStr::from_bytes(&text))?;
        Ok(0)
    }

    /// `link`, `linkat`: a new name for a file. The file itself must be writable in the
    /// sandbox too, or a read-only file could be changed through its new name.
    pub(super) fn link(
        &mut self,
        mem: &Memory,
        olddir: u32,
        old: u32,
        newdir: u32,
        new: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        const AT_SYMLINK_FOLLOW: u32 = 0x400;
        if flags & !AT_SYMLINK_FOLLOW != 0 {
            return Err(Errno::EINVAL);
        }
        let from = self.lookup(mem, olddir, old, flags & AT_SYMLINK_FOLLOW != 0)?;
        let from_entry = self.existing_for_write(&from)?;
        if from_entry.metadata()?.is_dir() {
            return Err(Errno::EPERM);
        }
        let to = self.lookup(mem, newdir, new, false)?;
        let to_entry = self.new_entry(&to)?;
        from_entry.hard_link_to(&to_entry)?;
        Ok(0)
    }
}

/// What `chown` changes.
pub(super) enum ChownTarget {
    /// The file behind a descriptor.
    Fd(u32),
    /// A path.
    Path {
        /// Directory descriptor for a relative path.
        dirfd: u32,
        /// The path argument.
        path: u32,
        /// Whether a final symbolic link is followed.
        follow: bool,
    },
}

impl ChownTarget {
    /// The object at `path` (relative to `dirfd`), its final link followed or not.
    pub(super) fn path(dirfd: u32, path: u32, follow: bool) -> ChownTarget {
        ChownTarget::Path {
            dirfd,
            path,
            follow,
        }
    }
}
