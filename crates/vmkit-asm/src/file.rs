//! Reading input files with a bound on their size.
//!
//! An input file is read whole, so a path that names something other than a plain file
//! could make a reader wait or read forever: `/dev/zero` never ends, a FIFO without a writer
//! blocks the open itself, a directory has no contents. [`read_limited`] accepts only
//! regular files, opens them without blocking, and stops at a limit instead of trusting the
//! size the file system reports (a file can grow while it is read, and `/proc` files say
//! they are empty). The assembler reads its main file and every `.include` with it, and
//! the `vmkit` command line reads every program, image and profile with it.

use std::fmt;
use std::fs::{File, FileType};
use std::io::Read;
use std::path::Path;

/// The largest source file the assembler reads, main file or `.include`: 16 MiB. Far more
/// than any program written by hand; the limit is low because every value in the source
/// becomes a node of the syntax tree, which costs up to thirty times the text.
pub const MAX_SOURCE_FILE_BYTES: u64 = 16 << 20;

/// Why [`read_limited`] refused or failed to read a file.
#[derive(Debug)]
pub enum ReadError {
    /// The path names something other than a regular file (after following symbolic links).
    NotAFile {
        /// What it is: "a directory", "a FIFO", "a character device", ...
        kind: &'static str,
    },
    /// The file holds more than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Opening or reading failed.
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotAFile { kind } => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge { limit } => {
                write!(f, "it is larger than the limit of {}", show_size(*limit))
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// `64 MiB` for whole mebibytes, else the number of bytes.
pub(crate) fn show_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn kind_of(t: FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // If the path is swapped for a FIFO between the check and the open, the open must
        // not wait for a writer; for a regular file the flag changes nothing.
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Reads the regular file at `path` whole, refusing anything else and anything larger than
/// `limit` bytes. Symbolic links are followed.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Checked before opening: opening a device can have effects of its own.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(ReadError::NotAFile { kind });
    }
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    // And again on what was opened, which is what will be read.
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(ReadError::NotAFile { kind });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let e = read_limited(Path::new("/"), 100).unwrap_err();
        assert_eq!(e.to_string(), "it is a directory, not a regular file");
        #[cfg(unix)]
        {
            let e = read_limited(Path::new("/dev/zero"), 100).unwrap_err();
            assert_eq!(
                e.to_string(),
                "it is a character device, not a regular file"
            );
        }
    }

    #[test]
    fn stops_at_the_limit() {
        let dir = std::env::temp_dir().join(format!("vmkit-asm-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ten");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_limited(&path, 10).unwrap(), b"0123456789");
        let e = read_limited(&path, 9).unwrap_err();
        assert_eq!(e.to_string(), "it is larger than the limit of 9 bytes");
        assert_eq!(show_size(64 << 20), "64 MiB");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
