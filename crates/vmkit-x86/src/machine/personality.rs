//! Settings of the Linux personality an embedder chooses before a run: `--strace`,
//! `--strict-syscalls`, the file
//! sandbox, the program's path and arguments, the address-space limit.

use super::X86Machine;
use crate::linux::Sandbox;
use std::path::PathBuf;

impl X86Machine {
    /// Limits the guest's address space, as `RLIMIT_AS` does: a `mmap`, `mremap` or `brk`
    /// that would leave more than `bytes` mapped (the program and its stack included) fails
    /// with `ENOMEM`. `None` removes the limit.
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // mmap2(0, 1 MiB, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) ; exit(-eax)
    /// let code = [0xB8, 192, 0, 0, 0, 0x31, 0xDB, 0xB9, 0, 0, 0x10, 0, 0xBA, 3, 0, 0, 0,
    ///             0xBE, 0x22, 0, 0, 0, 0xBF, 0xFF, 0xFF, 0xFF, 0xFF, 0x31, 0xED, 0xCD, 0x80,
    ///             0xF7, 0xD8, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x10000, &code).unwrap();
    /// vm.set_memory_limit(Some(2 << 20)); // the code's page and a 1 MiB stack are mapped
    /// assert_eq!(vm.run(), X86Exit::Exited(12)); // ENOMEM
    /// ```
    pub fn set_memory_limit(&mut self, bytes: Option<u64>) {
        self.os.set_memory_limit(bytes);
    }

    /// Logs every system call to stderr, as `strace` does.
    pub fn set_strace(&mut self, on: bool) {
        self.os.set_strace(on);
    }

    /// Stops the guest on a system call vmkit does not implement ("unsupported system call
    /// N (name)", exit status 159) instead of returning `-ENOSYS` to it as Linux does for a
    /// call it lacks (the default; `--strace` marks those calls).
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // mov eax, 222 (no such call) ; int 0x80 ; neg eax ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0xB8, 222, 0, 0, 0, 0xCD, 0x80, 0xF7, 0xD8, 0x89, 0xC3,
    ///             0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x10000, &code).unwrap();
    /// assert_eq!(vm.run(), X86Exit::Exited(38)); // ENOSYS
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x10000, &code).unwrap();
    /// vm.set_strict_syscalls(true);
    /// assert_eq!(vm.run().status(), 159); // stopped: SIGSYS
    /// ```
    pub fn set_strict_syscalls(&mut self, on: bool) {
        self.os.set_strict_syscalls(on);
    }

    /// Sets the file-system policy the guest's file calls go through; the working directory
    /// becomes the sandbox's initial one.
    pub fn set_sandbox(&mut self, sandbox: Sandbox) {
        self.os.set_sandbox(sandbox);
    }

    /// Sets what `readlink("/proc/self/exe")` answers: the program's path.
    pub fn set_exe_path(&mut self, path: impl Into<PathBuf>) {
        self.os.set_exe_path(path);
    }

    /// Forwards the host process's signals to the guest (opt-in; the CLI turns it on): Ctrl-C
    /// reaches the guest as SIGINT, a `kill` from another process as that signal, and a
    /// guest blocked in a call (`read`, `pause`, `nanosleep`) is interrupted as a native
    /// process would be. The host handlers are process-wide: one guest per host process.
    /// SIGSEGV and the other fault signals are forwarded only when a process sent them.
    pub fn forward_host_signals(&mut self) -> std::io::Result<()> {
        crate::linux::forward_host_signals()
    }

    /// Records the program's arguments, so that a refused access to a file named among
    /// them gets a hint (which flag allows it).
    pub fn set_command_line(&mut self, args: &[String]) {
        self.os.set_command_line(args);
    }
}
