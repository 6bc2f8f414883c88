//! The machine's environment outside the CPU: constant-pool base, stack limit, host
//! functions, the guest's standard streams and its sandboxed files.

use crate::host::HostFn;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use vmkit_vm::sandbox::Sandbox;

/// Where guest output goes.
pub enum Sink {
    /// The host process's stdout.
    Stdout,
    /// The host process's stderr.
    Stderr,
    /// Kept in memory; read it with [`Machine::output`](crate::Machine::output).
    Buffer(Vec<u8>),
    /// Any writer.
    Writer(Box<dyn Write>),
}

impl Sink {
    pub(crate) fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(data)?;
                out.flush()
            }
            Sink::Stderr => std::io::stderr().write_all(data),
            Sink::Buffer(b) => {
                b.extend_from_slice(data);
                Ok(())
            }
            Sink::Writer(w) => w.write_all(data),
        }
    }
}

/// Where guest input comes from.
pub enum Source {
    /// The host process's stdin.
    Stdin,
    /// These bytes, then end of file.
    Bytes(std::collections::VecDeque<u8>),
}

impl Source {
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Stdin => std::io::stdin().read(buf),
            Source::Bytes(q) => {
                let n = buf.len().min(q.len());
                for (i, b) in q.drain(..n).enumerate() {
                    buf[i] = b;
                }
                Ok(n)
            }
        }
    }
}

/// Everything a running program can reach besides CPU and memory.
pub struct Env {
    /// Load address of the constant pool (`[cp + off]`).
    pub(crate) const_base: u64,
    /// Lowest address a push may reach.
    pub(crate) stack_limit: u64,
    /// Names of imported host functions, indexed by `hcall n`.
    pub(crate) imports: Vec<String>,
    /// Registered host functions by name.
    pub(crate) hosts: HashMap<String, HostFn>,
    pub(crate) stdout: Sink,
    pub(crate) stderr: Sink,
    pub(crate) stdin: Source,
    /// The directory `sys open` is confined to, as the user named it; `None` denies every
    /// open.
    pub(crate) fs_root: Option<PathBuf>,
    /// The sandbox over `fs_root` (or why it could not be built).
    pub(crate) sandbox: Option<Result<Sandbox, String>>,
    /// Print one hint on stderr at the first refused `sys open`.
    pub(crate) hints: bool,
    /// Whether that hint was printed.
    pub(crate) hinted: bool,
    /// Open files; guest fd = index + 3.
    pub(crate) files: Vec<Option<File>>,
    /// Set when a write to stdout or stderr found the reading end of a pipe closed.
    pub(crate) broken_pipe: bool,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            const_base: 0,
            stack_limit: 0,
            imports: Vec::new(),
            hosts: HashMap::new(),
            stdout: Sink::Stdout,
            stderr: Sink::Stderr,
            stdin: Source::Stdin,
            fs_root: None,
            sandbox: None,
            hints: true,
            hinted: false,
            files: Vec::new(),
            broken_pipe: false,
        }
    }
}

/// The sandbox for a `--grant` directory: the directory itself, writable, at guest `/`, with
/// no built-in devices (a native `dev/null` is a file in the directory).
pub(crate) fn grant_sandbox(dir: &Path) -> Result<Sandbox, String> {
    Sandbox::new()
        .without_devices()
        .mount(dir, Some("/"))
        .and_then(|s| s.allow_write(dir))
        .map_err(|e| e.to_string())
}
