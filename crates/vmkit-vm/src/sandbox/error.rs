//! Why a sandbox cannot be built ([`SandboxError`]) and why a guest path cannot be used
//! ([`PathError`]), with the errno each gives the guest.

use super::EACCES;
use rustix::io::Errno;
use std::fmt;
use std::io;
use std::path::PathBuf;

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
