//! A guest's standard streams: where its stdout and stderr go (the host's own streams, a
//! buffer an embedder reads back, or any writer) and where its stdin comes from (the host's
//! stdin, or bytes given in advance). Both guests route descriptors 0, 1 and 2 through a
//! [`Stdio`], so capturing output and feeding input work the same for both.
//!
//! ```
//! use vmkit_vm::stdio::Stdio;
//! let mut stdio = Stdio::default();
//! stdio.capture_output();
//! stdio.set_stdin(b"in");
//! stdio.stdout.write_all(b"out").unwrap();
//! let mut buf = [0; 8];
//! assert_eq!(stdio.stdin.read(&mut buf).unwrap(), 2);
//! assert_eq!(stdio.stdout.captured(), b"out");
//! assert_eq!(stdio.take_output(), b"out");
//! assert!(stdio.stdout.captured().is_empty());
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};

/// Where one guest output stream goes.
pub enum Sink {
    /// The host process's stdout (flushed after every write, so guest output interleaves
    /// with the host's in order).
    HostStdout,
    /// The host process's stderr.
    HostStderr,
    /// Kept in memory; read it with [`Sink::captured`].
    Buffer(Vec<u8>),
    /// Any writer.
    Writer(Box<dyn Write>),
}

impl Sink {
    /// Writes all of `data`. A closed host pipe gives [`io::ErrorKind::BrokenPipe`], which the
    /// guests turn into `SIGPIPE` or `EPIPE`.
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::HostStdout => {
                let mut out = io::stdout().lock();
                out.write_all(data)?;
                out.flush()
            }
            Sink::HostStderr => io::stderr().write_all(data),
            Sink::Buffer(b) => {
                b.extend_from_slice(data);
                Ok(())
            }
            Sink::Writer(w) => w.write_all(data),
        }
    }

    /// Writes out whatever the sink holds back (a [`Sink::Writer`]'s own buffer; the host
    /// streams are flushed at every write, a [`Sink::Buffer`] keeps everything). A guest
    /// `fork` calls it first, or both processes would write the same bytes.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::HostStdout => io::stdout().flush(),
            Sink::HostStderr => io::stderr().flush(),
            Sink::Buffer(_) => Ok(()),
            Sink::Writer(w) => w.flush(),
        }
    }

    /// What a [`Sink::Buffer`] holds so far (empty for the other sinks).
    pub fn captured(&self) -> &[u8] {
        match self {
            Sink::Buffer(b) => b,
            _ => &[],
        }
    }

    /// Takes what a [`Sink::Buffer`] holds, leaving it empty (empty for the other sinks).
    pub fn take_captured(&mut self) -> Vec<u8> {
        match self {
            Sink::Buffer(b) => std::mem::take(b),
            _ => Vec::new(),
        }
    }

    /// The host descriptor behind this sink (1 or 2) when it is the host's own stream, for
    /// terminal queries; `None` when redirected.
    pub fn host_fd(&self) -> Option<i32> {
        match self {
            Sink::HostStdout => Some(1),
            Sink::HostStderr => Some(2),
            Sink::Buffer(_) | Sink::Writer(_) => None,
        }
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::HostStdout => f.write_str("HostStdout"),
            Sink::HostStderr => f.write_str("HostStderr"),
            Sink::Buffer(b) => write!(f, "Buffer({} bytes)", b.len()),
            Sink::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// Where guest input comes from.
#[derive(Debug)]
pub enum Source {
    /// The host process's stdin, read without buffering (what one read does not take
    /// stays for whoever reads descriptor 0 next).
    HostStdin,
    /// These bytes, then end of file.
    Bytes(VecDeque<u8>),
}

impl Source {
    /// Reads up to `buf.len()` bytes; 0 at end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            // Unbuffered, as a process's read(0) is: bytes read ahead into a buffer here
            // would be lost to another process sharing the descriptor (a guest's child).
            Source::HostStdin => {
                use std::os::fd::AsFd;
                // A duplicate of descriptor 0 shares its file description (and offset).
                let fd = io::stdin().as_fd().try_clone_to_owned()?;
                std::fs::File::from(fd).read(buf)
            }
            Source::Bytes(q) => {
                let n = buf.len().min(q.len());
                for (dst, src) in buf.iter_mut().zip(q.drain(..n)) {
                    *dst = src;
                }
                Ok(n)
            }
        }
    }

    /// How many bytes a read would get without waiting (`FIONREAD`), when known: the bytes
    /// left for [`Source::Bytes`], `None` for the host's stdin.
    pub fn pending(&self) -> Option<usize> {
        match self {
            Source::HostStdin => None,
            Source::Bytes(q) => Some(q.len()),
        }
    }

    /// The host descriptor (0) when this is the host's own stdin; `None` when redirected.
    pub fn host_fd(&self) -> Option<i32> {
        match self {
            Source::HostStdin => Some(0),
            Source::Bytes(_) => None,
        }
    }
}

/// A guest's three standard streams. The default is the host's own.
#[derive(Debug)]
pub struct Stdio {
    /// Descriptor 0.
    pub stdin: Source,
    /// Descriptor 1.
    pub stdout: Sink,
    /// Descriptor 2.
    pub stderr: Sink,
}

impl Default for Stdio {
    fn default() -> Stdio {
        Stdio {
            stdin: Source::HostStdin,
            stdout: Sink::HostStdout,
            stderr: Sink::HostStderr,
        }
    }
}

impl Stdio {
    /// Keeps stdout and stderr in memory instead of writing them to the host.
    pub fn capture_output(&mut self) {
        self.stdout = Sink::Buffer(Vec::new());
        self.stderr = Sink::Buffer(Vec::new());
    }

    /// Stdin reads these bytes, then end of file.
    pub fn set_stdin(&mut self, bytes: &[u8]) {
        self.stdin = Source::Bytes(bytes.iter().copied().collect());
    }

    /// Sends stdout to `w`.
    pub fn set_stdout(&mut self, w: Box<dyn Write>) {
        self.stdout = Sink::Writer(w);
    }

    /// Captured stdout so far (empty unless captured).
    pub fn output(&self) -> &[u8] {
        self.stdout.captured()
    }

    /// Captured stderr so far (empty unless captured).
    pub fn error_output(&self) -> &[u8] {
        self.stderr.captured()
    }

    /// Takes the captured stdout, leaving the buffer empty.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.stdout.take_captured()
    }

    /// Takes the captured stderr, leaving the buffer empty.
    pub fn take_error_output(&mut self) -> Vec<u8> {
        self.stderr.take_captured()
    }
}
