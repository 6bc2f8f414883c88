//! System calls on descriptors: `read`/`write` and their vector and positioned forms,
//! `sendfile`, `lseek`, `fstat`, `getdents`, `fcntl`, `dup`, `pipe`, `ioctl`, `ftruncate`,
//! `fsync`, `close`.

use super::fd::{flags::*, DirEntry, FdTable, Node, OpenFile, Shared};
use super::sandbox::Device;
use super::stat::{dirent_kind, mode, FileStat};
use crate::linux::errno::Errno;
use crate::linux::{fs, guest, Linux};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use vmkit_mem::{page, Memory, PAGE_SIZE};

/// Largest transfer in one call; a shorter count is a legal partial transfer.
const MAX_IO: u32 = 1 << 20;

/// `Err(EFAULT)` unless every page of `[addr, addr + len)` is writable by the guest. Checked
/// before consuming input, so a bad buffer does not lose data.
fn check_writable(mem: &Memory, addr: u32, len: u32) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    let end = addr as u64 + len as u64;
    if end > mem.size() {
        return Err(Errno::EFAULT);
    }
    let mut at = addr as u64 & !(PAGE_SIZE - 1);
    while at < end {
        if mem.perms_at(at) & page::W == 0 {
            return Err(Errno::EFAULT);
        }
        at += PAGE_SIZE;
    }
    Ok(())
}

/// The status of a host descriptor (the standard streams when not redirected).
fn host_fd_stat(fd: i32) -> Result<FileStat, Errno> {
    // SAFETY: `st` is a plain C struct that fstat fills; all-zero bytes are a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `struct stat` for the duration of the call.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(FileStat {
        dev: st.st_dev,
        ino: st.st_ino,
        mode: st.st_mode,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev,
        size: st.st_size,
        blksize: st.st_blksize as u32,
        blocks: st.st_blocks as u64,
        atime: (st.st_atime, st.st_atime_nsec as u32),
        mtime: (st.st_mtime, st.st_mtime_nsec as u32),
        ctime: (st.st_ctime, st.st_ctime_nsec as u32),
        btime: None,
    })
}

/// A pipe's made-up status.
fn fifo_stat(ino: u64) -> FileStat {
    FileStat::synthetic(mode::S_IFIFO | 0o600, ino, 0)
}

impl Linux {
    /// The host descriptor behind a standard stream, when the stream is the host's own.
    fn host_stream_fd(&self, node: &Node) -> Option<i32> {
        match node {
            Node::Stdin => self.stdio.stdin.host_fd(),
            Node::Stdout => self.stdio.stdout.host_fd(),
            Node::Stderr => self.stdio.stderr.host_fd(),
            Node::File(f) | Node::PipeRead(f) | Node::PipeWrite(f) => Some(f.as_raw_fd()),
            _ => None,
        }
    }

    fn next_random(&mut self) -> u8 {
        self.random_state ^= self.random_state << 13;
        self.random_state ^= self.random_state >> 7;
        self.random_state ^= self.random_state << 17;
        (self.random_state >> 24) as u8
    }

    /// Fills `buf` with pseudo-random bytes (deterministic: runs are reproducible).
    pub(in crate::linux) fn fill_random(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_random();
        }
    }

    /// Reads from an open file into `buf` at its current position.
    fn read_file(&mut self, file: &mut OpenFile, buf: &mut [u8]) -> Result<usize, Errno> {
        if !file.readable() {
            return Err(Errno::EBADF);
        }
        match &mut file.node {
            Node::Stdin => Ok(self.stdio.stdin.read(buf)?),
            Node::Stdout | Node::Stderr => Err(Errno::EBADF),
            Node::File(f) => Ok(f.read(buf)?),
            Node::Dir(_) => Err(Errno::EISDIR),
            Node::Device(Device::Null) => Ok(0),
            Node::Device(Device::Zero) => {
                buf.fill(0);
                Ok(buf.len())
            }
            Node::Device(Device::Random) => {
                self.fill_random(buf);
                Ok(buf.len())
            }
            // A blocking read the host interrupted (a signal) is restarted or fails with
            // EINTR, as the guest's signal disposition says.
            Node::PipeRead(p) => p.read(buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::Interrupted => Errno::ERESTARTSYS,
                _ => Errno::from(e),
            }),
            Node::PipeWrite(_) | Node::Path => Err(Errno::EBADF),
        }
    }

    /// Writes `data` to an open file at its current position (or its end with `O_APPEND`).
    fn write_file(&mut self, file: &mut OpenFile, data: &[u8]) -> Result<usize, Errno> {
        if !file.writable() {
            return Err(Errno::EBADF);
        }
        let res = match &mut file.node {
            Node::Stdout => self.stdio.stdout.write_all(data),
            Node::Stderr => self.stdio.stderr.write_all(data),
            Node::File(f) => return Ok(f.write(data)?),
            Node::Device(_) => Ok(()),
            Node::PipeWrite(p) => {
                return p.write(data).map_err(|e| match e.kind() {
                    std::io::ErrorKind::Interrupted => Errno::ERESTARTSYS,
                    _ => Errno::from(e),
                })
            }
            Node::Stdin | Node::Dir(_) | Node::PipeRead(_) | Node::Path => {
                return Err(Errno::EBADF)
            }
        };
        res.map(|_| data.len()).map_err(Errno::from)
    }

    /// `read`.
    pub(in crate::linux) fn read(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        buf: u32,
        len: u32,
    ) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let len = len.min(MAX_IO);
        check_writable(mem, buf, len)?;
        let mut tmp = vec![0u8; len as usize];
        let n = self.read_file(&mut file.borrow_mut(), &mut tmp)?;
        guest::store(mem, buf, &tmp[..n])?;
        Ok(n as u32)
    }

    /// `write`.
    pub(in crate::linux) fn write(
        &mut self,
        mem: &Memory,
        fd: u32,
        buf: u32,
        len: u32,
    ) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let data = guest::bytes(mem, buf, len)?;
        let n = self.write_file(&mut file.borrow_mut(), data)?;
        Ok(n as u32)
    }

    /// `readv`: fills the buffers in order, stopping at a short read.
    pub(in crate::linux) fn readv(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        iov: u32,
        count: u32,
    ) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let mut total = 0u32;
        for (base, len) in guest::iovecs(mem, iov, count)? {
            let len = len.min(MAX_IO);
            check_writable(mem, base, len)?;
            let mut tmp = vec![0u8; len as usize];
            let n = match self.read_file(&mut file.borrow_mut(), &mut tmp) {
                Ok(n) => n,
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            };
            guest::store(mem, base, &tmp[..n])?;
            total += n as u32;
            if n < len as usize {
                break;
            }
        }
        Ok(total)
    }

    /// `writev`.
    pub(in crate::linux) fn writev(
        &mut self,
        mem: &Memory,
        fd: u32,
        iov: u32,
        count: u32,
    ) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let mut total = 0u32;
        for (base, len) in guest::iovecs(mem, iov, count)? {
            let data = match guest::bytes(mem, base, len) {
                Ok(d) => d,
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            };
            match self.write_file(&mut file.borrow_mut(), data) {
                Ok(n) => total = total.wrapping_add(n as u32),
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total)
    }

    /// The host file behind `fd` for positioned I/O (`ESPIPE` for anything else).
    fn positioned(&self, fd: u32) -> Result<Shared, Errno> {
        let file = self.fds.get(fd)?;
        match &file.borrow().node {
            Node::File(_) => {}
            Node::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::ESPIPE),
        }
        Ok(file)
    }

    /// `pread64`.
    pub(in crate::linux) fn pread(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        buf: u32,
        len: u32,
        offset: i64,
    ) -> Result<u32, Errno> {
        let file = self.positioned(fd)?;
        let file = file.borrow();
        check_positioned(&file, offset, OpenFile::readable)?;
        let len = len.min(MAX_IO);
        check_writable(mem, buf, len)?;
        let Node::File(f) = &file.node else {
            return Err(Errno::ESPIPE);
        };
        let mut tmp = vec![0u8; len as usize];
        let n = f.read_at(&mut tmp, offset as u64)?;
        guest::store(mem, buf, &tmp[..n])?;
        Ok(n as u32)
    }

    /// `pwrite64`.
    pub(in crate::linux) fn pwrite(
        &mut self,
        mem: &Memory,
        fd: u32,
        buf: u32,
        len: u32,
        offset: i64,
    ) -> Result<u32, Errno> {
        let file = self.positioned(fd)?;
        let file = file.borrow();
        check_positioned(&file, offset, OpenFile::writable)?;
        let data = guest::bytes(mem, buf, len)?;
        let Node::File(f) = &file.node else {
            return Err(Errno::ESPIPE);
        };
        Ok(f.write_at(data, offset as u64)? as u32)
    }

    /// `sendfile`, `sendfile64`: copies between descriptors through the emulator (from a
    /// given offset without moving the input's position, when `offset` is not null).
    pub(in crate::linux) fn sendfile(
        &mut self,
        mem: &mut Memory,
        out_fd: u32,
        in_fd: u32,
        offset: u32,
        count: u32,
        wide: bool,
    ) -> Result<u32, Errno> {
        let input = self.fds.get(in_fd)?;
        let output = self.fds.get(out_fd)?;
        let count = count.min(MAX_IO) as usize;
        let mut tmp = vec![0u8; count];
        let n = if offset != 0 {
            let at = if wide {
                guest::u64_at(mem, offset)? as i64
            } else {
                guest::u32_at(mem, offset)? as i32 as i64
            };
            if at < 0 {
                return Err(Errno::EINVAL);
            }
            let inp = input.borrow();
            let Node::File(f) = &inp.node else {
                return Err(Errno::ESPIPE);
            };
            let n = f.read_at(&mut tmp, at as u64)?;
            let end = at + n as i64;
            if wide {
                guest::store_u64(mem, offset, end as u64)?;
            } else {
                guest::store_u32(mem, offset, end as u32)?;
            }
            n
        } else {
            if Shared::ptr_eq(&input, &output) {
                return Err(Errno::EINVAL);
            }
            self.read_file(&mut input.borrow_mut(), &mut tmp)?
        };
        let written = self.write_file(&mut output.borrow_mut(), &tmp[..n])?;
        Ok(written as u32)
    }

    /// `close`.
    pub(in crate::linux) fn close(&mut self, fd: u32) -> Result<u32, Errno> {
        self.fds.close(fd).map(|_| 0)
    }

    /// `lseek`: [`Linux::lseek`] with the 32-bit result the call returns (`EOVERFLOW`
    /// beyond 2 GiB).
    pub(in crate::linux) fn lseek32(
        &mut self,
        fd: u32,
        offset: i64,
        whence: u32,
    ) -> Result<u32, Errno> {
        self.lseek(fd, offset, whence).and_then(|off| {
            u32::try_from(off)
                .ok()
                .filter(|o| *o <= i32::MAX as u32)
                .ok_or(Errno::EOVERFLOW)
        })
    }

    /// Calls that only need `fd` to be open (`syncfs`, `flock`, `fadvise64`, ...): 0 or
    /// `EBADF`. The guest's writes are already the host kernel's to write back.
    pub(in crate::linux) fn check_fd(&self, fd: u32) -> Result<u32, Errno> {
        self.fds.get(fd).map(|_| 0)
    }

    /// Moves the position of `fd`; returns the new offset.
    pub(in crate::linux) fn lseek(
        &mut self,
        fd: u32,
        offset: i64,
        whence: u32,
    ) -> Result<i64, Errno> {
        let file = self.fds.get(fd)?;
        let mut file = file.borrow_mut();
        let pos = match whence {
            0 if offset < 0 => return Err(Errno::EINVAL),
            0 => SeekFrom::Start(offset as u64),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(Errno::EINVAL),
        };
        match &mut file.node {
            Node::File(f) => Ok(f.seek(pos)? as i64),
            Node::Dir(d) => {
                // Positions are entry indexes (what getdents reports in d_off).
                let new = match whence {
                    0 => offset,
                    1 => d.pos() as i64 + offset,
                    _ => return Err(Errno::EINVAL),
                };
                if new < 0 {
                    return Err(Errno::EINVAL);
                }
                d.seek(new as usize);
                Ok(new)
            }
            Node::Device(_) => Ok(0),
            _ => Err(Errno::ESPIPE),
        }
    }

    /// `_llseek(fd, offset_high, offset_low, result, whence)`.
    pub(in crate::linux) fn llseek(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        offset: i64,
        result: u32,
        whence: u32,
    ) -> Result<u32, Errno> {
        guest::bytes(mem, result, 8)?;
        let pos = self.lseek(fd, offset, whence)?;
        guest::store_u64(mem, result, pos as u64)?;
        Ok(0)
    }

    /// The status behind a descriptor.
    pub(in crate::linux) fn fd_stat(&self, fd: u32) -> Result<FileStat, Errno> {
        let file = self.fds.get(fd)?;
        let file = file.borrow();
        let ino = file.as_ptr_ino();
        if let Some(host) = self.host_stream_fd(&file.node) {
            return host_fd_stat(host);
        }
        match &file.node {
            Node::Stdin | Node::Stdout => Ok(fifo_stat(ino)),
            Node::Device(d) => Ok(fs::device_stat(*d)),
            Node::Dir(_) | Node::Path => match (&file.host_path, &file.guest_path) {
                (Some(_), Some(g)) => {
                    let entry = self.host_entry(g)?;
                    Ok(FileStat::from_metadata(&entry.metadata()?))
                }
                (None, Some(g)) => Ok(fs::virtual_dir_stat(g)),
                (_, None) => Err(Errno::EBADF),
            },
            Node::Stderr | Node::File(_) | Node::PipeRead(_) | Node::PipeWrite(_) => {
                Err(Errno::EBADF)
            }
        }
    }

    /// `fstat64`.
    pub(in crate::linux) fn fstat(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        buf: u32,
    ) -> Result<u32, Errno> {
        let st = self.fd_stat(fd)?;
        guest::store(mem, buf, &st.stat64_bytes())?;
        Ok(0)
    }

    /// The entries of an open directory: `.`, `..`, the host's entries in the host's order,
    /// and mount points below it that the host directory does not have.
    fn list_dir(&self, file: &OpenFile) -> Result<Vec<DirEntry>, Errno> {
        let guest = file.guest_path.clone().unwrap_or_default();
        // `.` and `..` by guest path through the sandbox (a host path could be redirected
        // by links); a parent outside every mount gets the virtual directory's number.
        let dot_ino = |g: &std::path::Path| -> u64 {
            use std::os::unix::fs::MetadataExt;
            match self.sandbox.resolve(g, true) {
                Ok(crate::linux::Resolved::Host(e)) => e.metadata().map(|m| m.ino()).ok(),
                _ => None,
            }
            .unwrap_or_else(|| fs::virtual_dir_stat(g).ino)
        };
        let mut out = Vec::new();
        let parent = guest.parent().unwrap_or(&guest).to_path_buf();
        let (here, parent) = (dot_ino(&guest), dot_ino(&parent));
        out.push(DirEntry {
            ino: here,
            kind: 4,
            name: b".".to_vec(),
        });
        out.push(DirEntry {
            ino: parent,
            kind: 4,
            name: b"..".to_vec(),
        });
        if file.host_path.is_some() {
            for item in self.host_entry(&guest)?.list()? {
                out.push(DirEntry {
                    ino: item.ino,
                    kind: dirent_kind(item.kind),
                    name: item.name.as_bytes().to_vec(),
                });
            }
        }
        for name in self.sandbox.children_of_virtual(&guest) {
            if !out.iter().any(|e| e.name == name) {
                let child = guest.join(std::ffi::OsStr::from_bytes(&name));
                let dev = self.sandbox.resolve(&child, false);
                let kind = if matches!(dev, Ok(crate::linux::Resolved::Device(_))) {
                    2
                } else {
                    4
                };
                out.push(DirEntry {
                    ino: fs::virtual_dir_stat(&child).ino,
                    kind,
                    name,
                });
            }
        }
        Ok(out)
    }

    /// `getdents64` (`wide`) and `getdents`.
    pub(in crate::linux) fn getdents(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        buf: u32,
        count: u32,
        wide: bool,
    ) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let mut file = file.borrow_mut();
        if !matches!(file.node, Node::Dir(_)) {
            return Err(Errno::ENOTDIR);
        }
        let listing = match &file.node {
            Node::Dir(d) if d.needs_listing() => Some(self.list_dir(&file)?),
            _ => None,
        };
        let Node::Dir(dir) = &mut file.node else {
            return Err(Errno::ENOTDIR);
        };
        if let Some(l) = listing {
            dir.set_listing(l);
        }
        let mut out: Vec<u8> = Vec::new();
        while let Some(e) = dir.next_entry() {
            let next_off = (dir.pos() + 1) as u64;
            let rec = if wide {
                let len = (19 + e.name.len() + 1).next_multiple_of(8);
                let mut r = vec![0u8; len];
                r[0..8].copy_from_slice(&e.ino.to_le_bytes());
                r[8..16].copy_from_slice(&next_off.to_le_bytes());
                r[16..18].copy_from_slice(&(len as u16).to_le_bytes());
                r[18] = e.kind;
                r[19..19 + e.name.len()].copy_from_slice(&e.name);
                r
            } else {
                let len = (10 + e.name.len() + 2).next_multiple_of(4);
                let ino = u32::try_from(e.ino).map_err(|_| Errno::EOVERFLOW)?;
                let mut r = vec![0u8; len];
                r[0..4].copy_from_slice(&ino.to_le_bytes());
                r[4..8].copy_from_slice(&(next_off as u32).to_le_bytes());
                r[8..10].copy_from_slice(&(len as u16).to_le_bytes());
                r[10..10 + e.name.len()].copy_from_slice(&e.name);
                r[len - 1] = e.kind;
                r
            };
            if out.len() + rec.len() > count as usize {
                if out.is_empty() {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            out.extend_from_slice(&rec);
            dir.advance();
        }
        guest::store(mem, buf, &out)?;
        Ok(out.len() as u32)
    }

    /// `fcntl`, `fcntl64`.
    pub(in crate::linux) fn fcntl(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        cmd: u32,
        arg: u32,
    ) -> Result<u32, Errno> {
        const F_DUPFD: u32 = 0;
        const F_GETFD: u32 = 1;
        const F_SETFD: u32 = 2;
        const F_GETFL: u32 = 3;
        const F_SETFL: u32 = 4;
        const F_GETLK: u32 = 5;
        const F_SETLK: u32 = 6;
        const F_SETLKW: u32 = 7;
        const F_GETLK64: u32 = 12;
        const F_SETLK64: u32 = 13;
        const F_SETLKW64: u32 = 14;
        const F_DUPFD_CLOEXEC: u32 = 1030;
        const F_GETPIPE_SZ: u32 = 1032;
        const F_UNLCK: u16 = 2;
        let file = self.fds.get(fd)?;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => self.fds.insert_from(arg, file, cmd == F_DUPFD_CLOEXEC),
            F_GETFD => Ok(self.fds.cloexec(fd)? as u32),
            F_SETFD => {
                self.fds.set_cloexec(fd, arg & 1 != 0)?;
                Ok(0)
            }
            F_GETFL => Ok(file.borrow().flags),
            F_SETFL => {
                let mut f = file.borrow_mut();
                f.flags = (f.flags & !SETFL_MASK) | (arg & SETFL_MASK);
                if let Node::File(h) | Node::PipeRead(h) | Node::PipeWrite(h) = &f.node {
                    let host = (if arg & O_APPEND != 0 {
                        libc::O_APPEND
                    } else {
                        0
                    }) | (if arg & O_NONBLOCK != 0 {
                        libc::O_NONBLOCK
                    } else {
                        0
                    });
                    // SAFETY: fcntl on a descriptor owned by `h`; no memory is passed.
                    unsafe { libc::fcntl(h.as_raw_fd(), libc::F_SETFL, host) };
                }
                Ok(0)
            }
            // One process, one thread: every lock is granted and none is ever held by others.
            F_SETLK | F_SETLKW | F_SETLK64 | F_SETLKW64 => Ok(0),
            F_GETLK | F_GETLK64 => {
                guest::store(mem, arg, &F_UNLCK.to_le_bytes())?;
                Ok(0)
            }
            F_GETPIPE_SZ => match file.borrow().node {
                Node::PipeRead(_) | Node::PipeWrite(_) => Ok(65536),
                _ => Err(Errno::EBADF),
            },
            _ => Err(Errno::EINVAL),
        }
    }

    /// `dup`.
    pub(in crate::linux) fn dup(&mut self, fd: u32) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        self.fds.insert_from(0, file, false)
    }

    /// `dup2`.
    pub(in crate::linux) fn dup2(&mut self, old: u32, new: u32) -> Result<u32, Errno> {
        let file = self.fds.get(old)?;
        if old == new {
            return Ok(new);
        }
        self.fds.put(new, file, false)?;
        Ok(new)
    }

    /// `dup3`.
    pub(in crate::linux) fn dup3(&mut self, old: u32, new: u32, flags: u32) -> Result<u32, Errno> {
        if old == new || flags & !O_CLOEXEC != 0 {
            return Err(Errno::EINVAL);
        }
        let file = self.fds.get(old)?;
        self.fds.put(new, file, flags & O_CLOEXEC != 0)?;
        Ok(new)
    }

    /// `pipe`, `pipe2`.
    pub(in crate::linux) fn pipe(
        &mut self,
        mem: &mut Memory,
        fds: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
            return Err(Errno::EINVAL);
        }
        check_writable(mem, fds, 8)?;
        let (mut r, mut w) = FdTable::pipe(flags & O_NONBLOCK != 0)?;
        r.flags |= flags & O_NONBLOCK;
        w.flags |= flags & O_NONBLOCK;
        let cloexec = flags & O_CLOEXEC != 0;
        let rfd = self.fds.open(r, cloexec)?;
        let wfd = self.fds.open(w, cloexec);
        self.store_fd_pair(mem, fds, rfd, wfd)
    }

    /// Gives the guest a new pair of descriptors (`pipe2`, `socketpair`) in the 8 bytes at
    /// `at`, which the caller checked are writable: `first`, and `second` if it could be
    /// opened; if not, `first` is closed again and the call fails with `second`'s error.
    pub(in crate::linux) fn store_fd_pair(
        &mut self,
        mem: &mut Memory,
        at: u32,
        first: u32,
        second: Result<u32, Errno>,
    ) -> Result<u32, Errno> {
        let second = match second {
            Ok(fd) => fd,
            Err(e) => {
                self.fds.close(first)?;
                return Err(e);
            }
        };
        guest::store_u32(mem, at, first)?;
        guest::store_u32(mem, at.wrapping_add(4), second)?;
        Ok(0)
    }

    /// `poll`/`ppoll`: the readiness of each descriptor. Descriptors backed by a host
    /// descriptor (pipes, files, the host's own standard streams) are asked of the host;
    /// the others (devices, virtual directories, redirected streams) are always ready for
    /// the access their mode allows. When nothing is ready the call waits, up to
    /// `timeout` (`None`: forever), for a host descriptor to become ready (a pipe another
    /// process writes, as on Linux).
    pub(in crate::linux) fn poll(
        &mut self,
        mem: &mut Memory,
        fds: u32,
        nfds: u32,
        timeout: Option<std::time::Duration>,
    ) -> Result<u32, Errno> {
        const POLLIN: u32 = 0x1;
        const POLLOUT: u32 = 0x4;
        const POLLERR: u32 = 0x8;
        const POLLHUP: u32 = 0x10;
        const POLLNVAL: u32 = 0x20;
        if nfds > 1 << 16 {
            return Err(Errno::EINVAL);
        }
        // (guest entry address, host pollfd, or the readiness without the host).
        let mut entries = Vec::new();
        for i in 0..nfds {
            let at = fds.wrapping_add(8 * i);
            let fd = guest::u32_at(mem, at)? as i32;
            let events = guest::u32_at(mem, at.wrapping_add(4))? & 0xFFFF;
            let mut revents = 0;
            let mut host = None;
            if fd >= 0 {
                match self.fds.get(fd as u32) {
                    Err(_) => revents = POLLNVAL,
                    Ok(file) => {
                        let file = file.borrow();
                        match self.host_stream_fd(&file.node) {
                            Some(h) => host = Some(h),
                            None => {
                                if file.readable() {
                                    revents |= POLLIN;
                                }
                                if file.writable() {
                                    revents |= POLLOUT;
                                }
                                revents &= events | POLLERR | POLLHUP;
                            }
                        }
                    }
                }
            }
            entries.push((at, events, host, revents));
        }
        let mut host_fds: Vec<libc::pollfd> = entries
            .iter()
            .filter_map(|&(_, events, host, _)| {
                host.map(|fd| libc::pollfd {
                    fd,
                    events: events as i16,
                    revents: 0,
                })
            })
            .collect();
        let ready_elsewhere = entries.iter().any(|e| e.3 != 0);
        let wait_ms = match timeout {
            _ if ready_elsewhere => 0,
            None => -1,
            Some(t) => t.as_millis().min(i32::MAX as u128) as i32,
        };
        if !host_fds.is_empty() || wait_ms != 0 {
            // SAFETY: `host_fds` is a valid array of that many pollfds.
            let r = unsafe { libc::poll(host_fds.as_mut_ptr(), host_fds.len() as _, wait_ms) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EINTR) => Errno::ERESTARTSYS,
                    _ => Errno::from_io(&e),
                });
            }
        }
        let mut host_results = host_fds.iter();
        let mut ready = 0;
        for (at, _, host, mut revents) in entries {
            if host.is_some() {
                revents = host_results.next().map_or(0, |p| p.revents as u16 as u32);
            }
            guest::store(mem, at.wrapping_add(6), &(revents as u16).to_le_bytes())?;
            if revents != 0 {
                ready += 1;
            }
        }
        Ok(ready)
    }

    /// `poll`'s timeout in milliseconds (negative: forever).
    pub(in crate::linux) fn poll_timeout_ms(ms: u32) -> Option<std::time::Duration> {
        (ms as i32 >= 0).then(|| std::time::Duration::from_millis(ms as u64))
    }

    /// `ppoll`'s timeout: a `timespec` (32- or 64-bit seconds), null for forever.
    pub(in crate::linux) fn ppoll_timeout(
        mem: &Memory,
        at: u32,
        time64: bool,
    ) -> Result<Option<std::time::Duration>, Errno> {
        if at == 0 {
            return Ok(None);
        }
        let (s, ns) = if time64 {
            (
                guest::u64_at(mem, at)? as i64,
                guest::u32_at(mem, at.wrapping_add(8))?,
            )
        } else {
            (
                guest::u32_at(mem, at)? as i32 as i64,
                guest::u32_at(mem, at.wrapping_add(4))?,
            )
        };
        if s < 0 || ns >= 1_000_000_000 {
            return Err(Errno::EINVAL);
        }
        Ok(Some(std::time::Duration::new(s as u64, ns)))
    }

    /// `ioctl`: terminal queries get the host terminal's answer for the host's own streams
    /// and files that are terminals; everything else is `ENOTTY`. The guest may not change
    /// the host terminal's settings (`EPERM`).
    pub(in crate::linux) fn ioctl(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        req: u32,
        arg: u32,
    ) -> Result<u32, Errno> {
        const TCGETS: u32 = 0x5401;
        const TCSETS: u32 = 0x5402;
        const TCSETSF: u32 = 0x5404;
        const TIOCGPGRP: u32 = 0x540F;
        const TIOCGWINSZ: u32 = 0x5413;
        const FIONREAD: u32 = 0x541B;
        let file = self.fds.get(fd)?;
        let file = file.borrow();
        if req == FIONREAD {
            let n = match &file.node {
                Node::PipeRead(p) => {
                    let mut n: libc::c_int = 0;
                    // SAFETY: FIONREAD writes one int to `n`.
                    if unsafe { libc::ioctl(p.as_raw_fd(), libc::FIONREAD, &mut n) } != 0 {
                        return Err(Errno::from_io(&std::io::Error::last_os_error()));
                    }
                    n as usize
                }
                Node::Stdin => match self.stdio.stdin.pending() {
                    Some(n) => n,
                    None => return Err(Errno::ENOTTY),
                },
                _ => return Err(Errno::ENOTTY),
            };
            guest::store_u32(mem, arg, n as u32)?;
            return Ok(0);
        }
        let Some(host) = self.host_stream_fd(&file.node) else {
            return Err(Errno::ENOTTY);
        };
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(host) } != 1 {
            return Err(Errno::ENOTTY);
        }
        let (size, request) = match req {
            // The kernel's struct termios is the same 36 bytes on i386 and x86-64.
            TCGETS => (36, libc::TCGETS),
            TIOCGWINSZ => (8, libc::TIOCGWINSZ),
            TIOCGPGRP => (4, libc::TIOCGPGRP),
            TCSETS..=TCSETSF => return Err(Errno::EPERM),
            _ => return Err(Errno::ENOTTY),
        };
        let mut raw = [0u8; 64];
        // SAFETY: `raw` is larger than what these three requests write.
        if unsafe { libc::ioctl(host, request, raw.as_mut_ptr()) } != 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        if req == TIOCGPGRP {
            // The guest is its own process group.
            raw[..4].copy_from_slice(&crate::linux::GUEST_PID.to_le_bytes());
        }
        guest::store(mem, arg, &raw[..size])?;
        Ok(0)
    }

    /// `ftruncate`, `ftruncate64`: the descriptor must be open for writing.
    pub(in crate::linux) fn ftruncate(&mut self, fd: u32, len: i64) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let file = file.borrow();
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        match &file.node {
            Node::File(f) if file.writable() => {
                f.set_len(len as u64)?;
                Ok(0)
            }
            Node::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `fsync`, `fdatasync`.
    pub(in crate::linux) fn fsync(&mut self, fd: u32, data_only: bool) -> Result<u32, Errno> {
        let file = self.fds.get(fd)?;
        let file = file.borrow();
        match &file.node {
            Node::File(f) if data_only => f.sync_data().map(|_| 0).map_err(Errno::from),
            Node::File(f) => f.sync_all().map(|_| 0).map_err(Errno::from),
            Node::Dir(_) | Node::Device(_) => Ok(0),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl OpenFile {
    /// A made-up inode number for objects without one (the redirected standard streams).
    fn as_ptr_ino(&self) -> u64 {
        0x2000
    }
}

/// What `pread64`/`pwrite64` check before touching the buffer: a non-negative offset, and
/// the access mode (`allowed`: [`OpenFile::readable`] or [`OpenFile::writable`]).
fn check_positioned(
    file: &OpenFile,
    offset: i64,
    allowed: fn(&OpenFile) -> bool,
) -> Result<(), Errno> {
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    if !allowed(file) {
        return Err(Errno::EBADF);
    }
    Ok(())
}
