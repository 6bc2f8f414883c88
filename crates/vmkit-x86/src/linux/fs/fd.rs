//! The guest's file-descriptor table. A descriptor points to an open file description
//! ([`OpenFile`]: what is open, its status flags and position), shared by `dup` as in Linux;
//! the close-on-exec flag belongs to the descriptor.

use super::sandbox::Device;
use crate::linux::errno::Errno;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// Most descriptors a guest may hold (`RLIMIT_NOFILE`).
pub const MAX_FDS: usize = 1024;

/// Open-flag bits (i386 values).
pub mod flags {
    /// Mask of the access mode.
    pub const O_ACCMODE: u32 = 3;
    /// Read only.
    pub const O_RDONLY: u32 = 0;
    /// Write only.
    pub const O_WRONLY: u32 = 1;
    /// Read and write.
    pub const O_RDWR: u32 = 2;
    /// Create if missing.
    pub const O_CREAT: u32 = 0o100;
    /// With `O_CREAT`: fail if it exists.
    pub const O_EXCL: u32 = 0o200;
    /// Do not become the controlling terminal.
    pub const O_NOCTTY: u32 = 0o400;
    /// Truncate to length 0.
    pub const O_TRUNC: u32 = 0o1000;
    /// Every write goes to the end.
    pub const O_APPEND: u32 = 0o2000;
    /// Non-blocking I/O.
    pub const O_NONBLOCK: u32 = 0o4000;
    /// Synchronized data writes.
    pub const O_DSYNC: u32 = 0o10000;
    /// Direct I/O.
    pub const O_DIRECT: u32 = 0o40000;
    /// Large-file offsets (always on for this emulator).
    pub const O_LARGEFILE: u32 = 0o100000;
    /// Fail unless a directory.
    pub const O_DIRECTORY: u32 = 0o200000;
    /// Do not follow a final symbolic link.
    pub const O_NOFOLLOW: u32 = 0o400000;
    /// Do not update access times.
    pub const O_NOATIME: u32 = 0o1000000;
    /// Close on exec.
    pub const O_CLOEXEC: u32 = 0o2000000;
    /// Synchronized writes (with `O_DSYNC`).
    pub const O_SYNC: u32 = 0o4010000;
    /// A handle for path operations only.
    pub const O_PATH: u32 = 0o10000000;
    /// An unnamed temporary file (with `O_DIRECTORY`).
    pub const O_TMPFILE: u32 = 0o20000000;
    /// The status flags `F_SETFL` may change.
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;
}

/// One directory entry as `getdents` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u64,
    /// `DT_*` type.
    pub kind: u8,
    /// The name.
    pub name: Vec<u8>,
}

/// A directory being read: entries are taken when the first `getdents` runs.
#[derive(Debug, Default)]
pub struct DirStream {
    /// The listing, once read.
    entries: Option<Vec<DirEntry>>,
    /// The next entry to report.
    pos: usize,
}

impl DirStream {
    /// Whether the listing is still to be read (first `getdents`, or after a rewind).
    pub fn needs_listing(&self) -> bool {
        self.entries.is_none()
    }

    /// Keeps `entries` as the listing.
    pub fn set_listing(&mut self, entries: Vec<DirEntry>) {
        self.entries = Some(entries);
    }

    /// The index of the next entry to report (what `getdents` reports in `d_off`).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next entry to report, if any is left.
    pub fn next_entry(&self) -> Option<&DirEntry> {
        self.entries.as_deref().unwrap_or(&[]).get(self.pos)
    }

    /// Moves past the entry [`DirStream::next_entry`] gave.
    pub fn advance(&mut self) {
        self.pos += 1;
    }

    /// Moves to entry `pos`; moving back to 0 rereads the directory at the next `getdents`.
    pub fn seek(&mut self, pos: usize) {
        if pos == 0 {
            self.entries = None;
        }
        self.pos = pos;
    }
}

/// What a descriptor refers to.
#[derive(Debug)]
pub enum Node {
    /// The guest's standard input stream.
    Stdin,
    /// The guest's standard output stream (captured or the host's).
    Stdout,
    /// The host's standard error.
    Stderr,
    /// A host file (regular or special).
    File(std::fs::File),
    /// A directory (host or virtual).
    Dir(DirStream),
    /// A device served by the sandbox.
    Device(Device),
    /// The read end of a pipe: a host pipe, so that it works across the host processes
    /// that guest processes are (`fork`).
    PipeRead(std::fs::File),
    /// The write end of a host pipe.
    PipeWrite(std::fs::File),
    /// An `O_PATH` handle: usable as a directory for `*at` calls and for `fstat`, nothing
    /// else.
    Path,
}

/// An open file description.
#[derive(Debug)]
pub struct OpenFile {
    /// What is open.
    pub node: Node,
    /// Access mode and status flags (`O_ACCMODE | O_APPEND | O_NONBLOCK ...`).
    pub flags: u32,
    /// The guest path it was opened by, when it has one.
    pub guest_path: Option<PathBuf>,
    /// The host path it was opened by (canonical), when it is a host object.
    pub host_path: Option<PathBuf>,
}

impl OpenFile {
    /// An open file description without paths.
    pub fn new(node: Node, flags: u32) -> OpenFile {
        OpenFile {
            node,
            flags,
            guest_path: None,
            host_path: None,
        }
    }

    /// What is open.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Whether reading is allowed by the access mode.
    pub fn readable(&self) -> bool {
        matches!(
            self.flags & flags::O_ACCMODE,
            flags::O_RDONLY | flags::O_RDWR
        ) && !matches!(self.node, Node::Path)
    }

    /// Whether writing is allowed by the access mode.
    pub fn writable(&self) -> bool {
        matches!(
            self.flags & flags::O_ACCMODE,
            flags::O_WRONLY | flags::O_RDWR
        ) && !matches!(self.node, Node::Path)
    }
}

/// A shared open file description.
pub type Shared = Rc<RefCell<OpenFile>>;

/// A descriptor slot.
#[derive(Clone, Debug)]
struct Fd {
    /// The open file description.
    file: Shared,
    /// `FD_CLOEXEC`.
    cloexec: bool,
}

/// The descriptor table.
#[derive(Debug)]
pub struct FdTable {
    slots: Vec<Option<Fd>>,
}

impl Default for FdTable {
    /// 0, 1 and 2 open on the standard streams.
    fn default() -> FdTable {
        let stream = |node, mode| {
            Some(Fd {
                file: Rc::new(RefCell::new(OpenFile::new(node, mode))),
                cloexec: false,
            })
        };
        FdTable {
            slots: vec![
                stream(Node::Stdin, flags::O_RDONLY),
                stream(Node::Stdout, flags::O_WRONLY),
                stream(Node::Stderr, flags::O_WRONLY),
            ],
        }
    }
}

impl FdTable {
    /// The open file behind `fd`, or `EBADF`.
    pub fn get(&self, fd: u32) -> Result<Shared, Errno> {
        self.slots
            .get(fd as usize)
            .and_then(|s| s.as_ref())
            .map(|s| s.file.clone())
            .ok_or(Errno::EBADF)
    }

    /// The descriptor slot, or `EBADF`.
    fn slot_mut(&mut self, fd: u32) -> Result<&mut Fd, Errno> {
        self.slots
            .get_mut(fd as usize)
            .and_then(|s| s.as_mut())
            .ok_or(Errno::EBADF)
    }

    /// Whether `fd` has `FD_CLOEXEC`, or `EBADF`.
    pub fn cloexec(&mut self, fd: u32) -> Result<bool, Errno> {
        Ok(self.slot_mut(fd)?.cloexec)
    }

    /// Sets or clears `FD_CLOEXEC` on `fd`, or `EBADF`.
    pub fn set_cloexec(&mut self, fd: u32, cloexec: bool) -> Result<(), Errno> {
        self.slot_mut(fd)?.cloexec = cloexec;
        Ok(())
    }

    /// Installs `file` at the lowest free descriptor not below `min`.
    pub fn insert_from(&mut self, min: u32, file: Shared, cloexec: bool) -> Result<u32, Errno> {
        let min = min as usize;
        if min >= MAX_FDS {
            return Err(Errno::EINVAL);
        }
        let free = (min..MAX_FDS).find(|&k| self.slots.get(k).is_none_or(|s| s.is_none()));
        let Some(k) = free else {
            return Err(Errno::EMFILE);
        };
        self.put(k as u32, file, cloexec)?;
        Ok(k as u32)
    }

    /// Installs a new open file at the lowest free descriptor.
    pub fn open(&mut self, file: OpenFile, cloexec: bool) -> Result<u32, Errno> {
        self.insert_from(0, Rc::new(RefCell::new(file)), cloexec)
    }

    /// Puts `file` at `fd`, closing what was there.
    pub fn put(&mut self, fd: u32, file: Shared, cloexec: bool) -> Result<(), Errno> {
        let k = fd as usize;
        if k >= MAX_FDS {
            return Err(Errno::EBADF);
        }
        if self.slots.len() <= k {
            self.slots.resize(k + 1, None);
        }
        self.slots[k] = Some(Fd { file, cloexec });
        Ok(())
    }

    /// Closes `fd`.
    pub fn close(&mut self, fd: u32) -> Result<(), Errno> {
        match self.slots.get_mut(fd as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => Err(Errno::EBADF),
        }
    }

    /// A new host pipe: (read end, write end), non-blocking if `nonblocking`. Host pipes,
    /// not buffers in vmkit, so that a pipe works between guest processes (each is a host
    /// process) and a read waits for a writer in another process as on Linux.
    pub fn pipe(nonblocking: bool) -> Result<(OpenFile, OpenFile), Errno> {
        use std::os::fd::FromRawFd;
        let mut ends = [0i32; 2];
        let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
        // SAFETY: `ends` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), flags) } != 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        // SAFETY: pipe2 succeeded: both descriptors are new and owned by nothing else.
        let (r, w) = unsafe {
            (
                std::fs::File::from_raw_fd(ends[0]),
                std::fs::File::from_raw_fd(ends[1]),
            )
        };
        Ok((
            OpenFile::new(Node::PipeRead(r), flags::O_RDONLY),
            OpenFile::new(Node::PipeWrite(w), flags::O_WRONLY),
        ))
    }

    /// Closes every descriptor marked close-on-exec (`execve`).
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_descriptor_and_shared_descriptions() {
        use std::io::{Read, Write};
        let mut t = FdTable::default();
        let (r, w) = FdTable::pipe(false).unwrap();
        assert_eq!(t.open(r, false), Ok(3));
        assert_eq!(t.open(w, true), Ok(4));
        t.close(0).unwrap();
        let dup = t.get(3).unwrap();
        assert_eq!(t.insert_from(0, dup, false), Ok(0));
        assert_eq!(t.close(7), Err(Errno::EBADF));
        assert!(t.get(9).is_err());
        // The pipe's read end is still open through descriptor 0 after closing 3.
        t.close(3).unwrap();
        if let Node::PipeWrite(w) = &mut t.get(4).unwrap().borrow_mut().node {
            w.write_all(b"hi").unwrap();
        }
        t.close_on_exec();
        assert!(t.get(4).is_err(), "close-on-exec");
        let read_end = t.get(0).unwrap();
        let mut got = Vec::new();
        match &mut read_end.borrow_mut().node {
            Node::PipeRead(r) => r.read_to_end(&mut got).unwrap(),
            other => panic!("not a pipe: {other:?}"),
        };
        assert_eq!(got, b"hi", "end of file once the last writer closed");
    }
}
