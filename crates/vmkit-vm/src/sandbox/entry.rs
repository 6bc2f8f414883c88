//! The operations on a resolved host object ([`HostEntry`]): open, stat, list, create,
//! remove, rename, link, and metadata changes, each through the entry's directory
//! descriptor and name without following a final link.

use rfs::{AtFlags, Mode, OFlags};
use rustix::fs as rfs;
use rustix::fs::FileType;
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A resolved host object: a descriptor of its directory and its name there. All
/// operations go through this pair without following a final link, so they act on exactly
/// what the walk checked.
#[derive(Clone, Debug)]
pub struct HostEntry {
    pub(super) dir: Arc<OwnedFd>,
    /// The name in `dir`; `.` when the path ended at a directory (a mount's root, or a link
    /// target ending in `..`).
    pub(super) name: OsString,
    pub(super) host: PathBuf,
    pub(super) exists: bool,
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

    /// The status of the file system holding the object (`fstatfs` on a descriptor of the
    /// object itself; a final link is the link).
    pub fn statfs(&self) -> io::Result<rfs::StatFs> {
        let fd = self.pin()?;
        Ok(rfs::fstatfs(&fd)?)
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

/// The status of the file system holding an open file (`fstatfs`).
pub fn file_statfs(file: &File) -> io::Result<rfs::StatFs> {
    Ok(rfs::fstatfs(file)?)
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
