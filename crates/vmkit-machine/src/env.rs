//! The machine's environment outside the CPU: constant-pool base, stack limit, host
//! functions, the guest's standard streams and its sandboxed files.

use crate::host::HostFunctions;
use std::fs::File;
use std::path::{Path, PathBuf};
use vmkit_vm::sandbox::Sandbox;
use vmkit_vm::stdio::Stdio;

/// Everything a running program can reach besides CPU and memory.
pub(crate) struct Env {
    /// Load address of the constant pool (`[cp + off]`).
    pub(crate) const_base: u64,
    /// Lowest address a push may reach.
    pub(crate) stack_limit: u64,
    /// The import table and the registered host functions.
    pub(crate) host_functions: HostFunctions,
    /// The guest's standard streams (fds 0, 1, 2).
    pub(crate) stdio: Stdio,
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
            host_functions: HostFunctions::default(),
            stdio: Stdio::default(),
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
