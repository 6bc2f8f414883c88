//! An exclusive advisory lock on a file (`flock`), held until dropped. It serialises work
//! between test binaries (separate processes) and between threads of one binary, since each
//! holder opens the file itself and `flock` locks conflict across open file descriptions.
//! The kernel releases it when the holder exits, however it exits, so a killed test leaves
//! no stale lock behind.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Holds the lock while alive.
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits until the lock on `path` (created if missing) is ours.
    pub(crate) fn exclusive(path: &Path) -> io::Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        loop {
            // SAFETY: the descriptor is open for as long as `file` lives; flock only reads it.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}
