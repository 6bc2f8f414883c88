//! The Linux i386 personality (`int 0x80`): the process the guest runs in, behind the
//! [`Kernel`] seam that the facade calls. A call vmkit does not implement returns `-ENOSYS`,
//! as Linux does for a call it lacks, and `--strace` marks it; with
//! [`Linux::set_strict_syscalls`] it stops the guest with "unsupported system call N
//! (name)" instead.
//!
//! | module | owns |
//! |---|---|
//! | `kernel` | the seam: [`Kernel`], [`SyscallOutcome`], [`FaultDelivery`] |
//! | `syscalls` | the one system-call table (number, name, strace signature, handler) |
//! | `loader` | loading an ELF executable and building the initial stack |
//! | `process` | guest processes: the shared process table, `fork`, `execve`, `wait4`, groups, `kill` |
//! | `task` | the process and its threads' state: identity, time, limits, TLS, how it ended |
//! | `thread` | threads: `clone` of a thread, the scheduler, `futex`, robust lists, `exit` of one thread, `tgkill` |
//! | `signal` | signals: dispositions, masks, delivery to guest handlers (`sigframe`/`rt_sigframe`), `sigreturn`, timers, the host-signal bridge |
//! | `fs` | descriptors, open files, pipes, path calls over the sandbox, `stat` layouts |
//! | `mm` | the memory map: `brk`, `mmap2`, `munmap`, `mprotect`, `mremap` |
//! | `ldt` | `modify_ldt`: the local descriptor table |
//! | `net` | sockets: the network closed, `AF_UNIX` socket pairs |
//! | `errno` | error numbers, names and messages |
//! | `guest` | checked access to arguments in guest memory (`EFAULT`) |
//! | `strace` | the `--strace` log |

mod errno;
mod fs;
mod guest;
mod kernel;
mod ldt;
pub mod loader;
mod mm;
mod net;
pub mod process;
pub(crate) mod signal;
mod strace;
mod syscalls;
mod task;
mod thread;

pub use errno::Errno;
pub use fs::sandbox::{
    normalize, Device, Mount, PathError, Resolved, Sandbox, SandboxError, HOST_I386_LIBRARIES,
};
pub use fs::stat::FileStat;
pub use kernel::{Boundary, FaultDelivery, FaultSignal, Kernel, SyscallOutcome, TIME_SLICE};
pub use mm::{MMAP_BASE, MMAP_MIN_ADDR, STACK_LIMIT, STACK_SIZE, STACK_TOP, TASK_SIZE};
pub use signal::host::forward_host_signals;
pub use syscalls::syscall_name;
pub use thread::DEADLOCK_STATUS;

use fs::fd::FdTable;
use signal::Signals;
use std::ops::Range;
use std::path::PathBuf;
use task::Task;
use vmkit_vm::stdio::{Sink, Stdio};

/// The guest's user and group id (also in the auxiliary vector).
pub const GUEST_UID: u32 = 1000;
/// The guest's process (and thread) id.
pub const GUEST_PID: u32 = 1000;

/// How a system call's handler ended. Produced by the handlers of the table
/// ([`syscalls`]); consumed by [`Kernel::syscall`], which turns it into eax or a
/// [`SyscallOutcome`], and by `--strace`.
#[derive(Debug, PartialEq, Eq)]
enum Completion {
    /// The call returned: a result or an error number (for eax).
    Returned(Result<u32, Errno>),
    /// `exit` / `exit_group` with this status.
    Exited(i32),
    /// A signal whose default action ends the process.
    Killed(i32),
    /// `execve` replaced the program: memory and registers are new.
    NewImage,
    /// Not implemented (with a reason for `--strace` in [`Linux`]'s note): the guest stops.
    Unsupported,
    /// A call with no handler in the table: `-ENOSYS` (marked by `--strace`), or a stop
    /// under [`Linux::set_strict_syscalls`].
    NotImplemented,
}

impl From<Result<u32, Errno>> for Completion {
    fn from(result: Result<u32, Errno>) -> Completion {
        Completion::Returned(result)
    }
}

/// The kernel-side state of the guest process.
pub struct Linux {
    /// Standard streams (descriptors 0, 1, 2): the host's own by default.
    stdio: Stdio,
    /// Start of the heap (end of the loaded data).
    brk_start: u32,
    /// Current program break.
    brk: u32,
    /// Where the search for free address space for the next mapping starts (just after
    /// the last one placed, or lower once something below it was unmapped).
    mmap_next: u32,
    /// The address-space limit (`RLIMIT_AS`, `--memory-limit`) in bytes: the soft limit,
    /// enforced, and the hard one, which the guest may only lower.
    memory_limit: Option<u64>,
    memory_limit_hard: Option<u64>,
    /// The pages whose mapping or protection the current call changed: decoded code there
    /// must be dropped ([`SyscallOutcome::InvalidateCode`]).
    code_changed: Option<Range<u64>>,
    /// Log every call to stderr, as strace does.
    strace: bool,
    /// Stop on a call vmkit does not implement instead of returning `-ENOSYS`.
    strict_syscalls: bool,
    /// Print one hint on stderr the first time the sandbox refuses an access the user
    /// probably meant (a write into a visible directory, or a file named on the command
    /// line): which path, and which flag allows it. On by default.
    hints: bool,
    /// Whether the hint was printed.
    hinted: bool,
    /// The guest paths of the program's arguments (see [`Linux::set_command_line`]).
    named: Vec<PathBuf>,
    /// The guest path of the last lookup, for the hint.
    last_path: Option<PathBuf>,
    sandbox: Sandbox,
    fds: FdTable,
    cwd: PathBuf,
    umask: u32,
    exe: PathBuf,
    signals: Signals,
    task: Task,
    /// This process among the guest's processes (pid, parent, the shared table).
    process: process::Process,
    /// Why the last call was refused, when the sandbox refused it (for `--strace`).
    note: Option<&'static str>,
    random_state: u64,
}

impl Default for Linux {
    /// A process with an empty sandbox (nothing on the host visible), working directory `/`.
    fn default() -> Self {
        Linux {
            stdio: Stdio::default(),
            brk_start: 0,
            brk: 0,
            mmap_next: MMAP_BASE,
            memory_limit: None,
            memory_limit_hard: None,
            code_changed: None,
            strace: false,
            strict_syscalls: false,
            hints: true,
            hinted: false,
            named: Vec::new(),
            last_path: None,
            sandbox: Sandbox::new(),
            fds: FdTable::default(),
            cwd: PathBuf::from("/"),
            umask: 0o022,
            exe: PathBuf::new(),
            signals: Signals::default(),
            task: Task::default(),
            process: process::Process::default(),
            note: None,
            random_state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Linux {
    /// Sets the file-system policy; the working directory becomes the sandbox's initial one.
    pub fn set_sandbox(&mut self, sandbox: Sandbox) {
        self.cwd = sandbox.initial_dir().to_path_buf();
        self.sandbox = sandbox;
    }

    /// The file-system policy in force.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Sets what `readlink("/proc/self/exe")` answers: the program's path.
    pub fn set_exe_path(&mut self, path: impl Into<PathBuf>) {
        self.exe = path.into();
    }

    /// Records the program's arguments, so that a refused access to a file named among
    /// them gets a hint (as the guest sees them from its initial working directory).
    pub fn set_command_line(&mut self, args: &[String]) {
        self.named = args
            .iter()
            .map(|a| normalize(&self.cwd, a.as_bytes()))
            .collect();
    }

    /// The guest's working directory (a guest path).
    pub fn cwd(&self) -> &std::path::Path {
        &self.cwd
    }

    /// Logs every system call to stderr, as strace does (`--strace`).
    pub fn set_strace(&mut self, on: bool) {
        self.strace = on;
    }

    /// Whether system calls are logged.
    pub fn strace(&self) -> bool {
        self.strace
    }

    /// Stops the guest on a system call vmkit does not implement ("unsupported system call
    /// N (name)", exit status 159), as `--strict-syscalls` asks, instead of returning
    /// `-ENOSYS` as Linux does for a call it lacks (the default).
    pub fn set_strict_syscalls(&mut self, on: bool) {
        self.strict_syscalls = on;
    }

    /// Whether an unimplemented system call stops the guest.
    pub fn strict_syscalls(&self) -> bool {
        self.strict_syscalls
    }

    /// Prints (or not) one hint on stderr the first time the sandbox refuses an access the
    /// user probably meant: which path, and which flag allows it. On by default.
    pub fn set_hints(&mut self, on: bool) {
        self.hints = on;
    }

    /// Keeps what the guest writes to stdout (see [`Linux::captured_stdout`]) instead of
    /// writing it to the host's stdout.
    pub fn capture_stdout(&mut self) {
        // Stdout only: stderr stays the host's.
        self.stdio.stdout = Sink::Buffer(Vec::new());
    }

    /// What the guest wrote to stdout since [`Linux::capture_stdout`]; empty if not
    /// capturing.
    pub fn captured_stdout(&self) -> &[u8] {
        self.stdio.output()
    }

    /// Gives the guest `bytes` as its stdin instead of the host's.
    pub fn set_stdin(&mut self, bytes: &[u8]) {
        self.stdio.set_stdin(bytes);
    }

    /// Records that the pages in `[start, start + size)` changed mapping or protection.
    fn note_code_change(&mut self, start: u64, size: u64) {
        let end = start.saturating_add(size);
        self.code_changed = Some(match self.code_changed.take() {
            Some(r) => r.start.min(start)..r.end.max(end),
            None => start..end,
        });
    }

    /// Records a sandbox refusal for `--strace` (and the hint) and gives the guest its
    /// errno.
    fn refuse(&mut self, e: PathError) -> Errno {
        self.refusal(e, false)
    }

    /// [`Linux::refuse`] for an access that wanted to write.
    fn refuse_write(&mut self, e: PathError) -> Errno {
        self.refusal(e, true)
    }

    fn refusal(&mut self, e: PathError, write: bool) -> Errno {
        if let Some(note) = e.note() {
            self.note = Some(note);
            if self.hints && !self.hinted {
                if let Some(path) = &self.last_path {
                    // Programs probe many paths they can do without (locale files,
                    // caches); only writes and files the user named are worth a hint.
                    let meant = (write && e == PathError::ReadOnly) || self.named.contains(path);
                    if let Some(hint) = meant.then(|| self.sandbox.hint(path, e, write)).flatten() {
                        eprintln!("vmkit: hint: {hint}");
                        self.hinted = true;
                    }
                }
            }
        }
        Errno(e.errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Cpu, EAX, EBP, EBX, ECX, EDI, EDX, ESI};
    use vmkit_mem::Memory;
    use vmkit_mem::{page, PAGE_SIZE};

    /// A small machine: 64 KiB of read-write memory, page 15 read-only, page 14 unmapped;
    /// a sandbox with a temporary directory mounted at `/w` (holding `f.txt` = "hello").
    struct Rig {
        os: Linux,
        cpu: Cpu,
        mem: Memory,
        dir: PathBuf,
    }

    const RO_PAGE: u32 = 15 * PAGE_SIZE as u32;
    const UNMAPPED: u32 = 14 * PAGE_SIZE as u32;
    const BUF: u32 = 0x2000;

    impl Rig {
        fn new(tag: &str) -> Rig {
            let dir =
                std::env::temp_dir().join(format!("vmkit-linux-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("f.txt"), "hello").unwrap();
            let mut mem = Memory::new(16 * PAGE_SIZE);
            mem.protect(RO_PAGE as u64, PAGE_SIZE, page::R);
            mem.protect(UNMAPPED as u64, PAGE_SIZE, 0);
            let mut os = Linux::default();
            os.set_sandbox(
                Sandbox::new()
                    .mount(&dir, Some("/w"))
                    .unwrap()
                    .working_dir("/w"),
            );
            Rig {
                os,
                cpu: Cpu::default(),
                mem,
                dir,
            }
        }

        /// Puts a NUL-terminated string at `at` and returns `at`.
        fn string(&mut self, at: u32, s: &str) -> u32 {
            self.mem
                .poke(at as u64, &[s.as_bytes(), b"\0"].concat())
                .unwrap();
            at
        }

        fn call(&mut self, nr: u32, args: &[u32]) -> (SyscallOutcome, i32) {
            self.cpu.regs[EAX] = nr;
            for (reg, v) in [EBX, ECX, EDX, ESI, EDI, EBP].into_iter().zip(args) {
                self.cpu.regs[reg] = *v;
            }
            let outcome = self.os.syscall(&mut self.cpu, &mut self.mem);
            (outcome, self.cpu.regs[EAX] as i32)
        }

        fn ok(&mut self, nr: u32, args: &[u32]) -> i32 {
            let (outcome, r) = self.call(nr, args);
            assert_eq!(outcome, SyscallOutcome::Resume);
            r
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn files_open_read_seek_close() {
        let mut r = Rig::new("files");
        let path = r.string(0x1000, "f.txt");
        let fd = r.ok(5, &[path, 0, 0]);
        assert_eq!(fd, 3);
        assert_eq!(r.ok(3, &[3, BUF, 100]), 5);
        assert_eq!(r.mem.peek(BUF as u64, 5).unwrap(), b"hello");
        assert_eq!(r.ok(19, &[3, 1, 0]), 1);
        // _llseek(fd, high, low, &result, SEEK_END)
        assert_eq!(r.ok(140, &[3, u32::MAX, (-2i32) as u32, BUF, 2]), 0);
        assert_eq!(r.mem.peek(BUF as u64, 8).unwrap(), &3u64.to_le_bytes());
        assert_eq!(r.ok(6, &[3]), 0);
        assert_eq!(r.ok(6, &[3]), -Errno::EBADF.0);
        assert_eq!(r.ok(3, &[3, BUF, 1]), -Errno::EBADF.0);
    }

    #[test]
    fn bad_pointers_are_efault_and_lose_no_data() {
        let mut r = Rig::new("efault");
        assert_eq!(r.ok(5, &[UNMAPPED, 0, 0]), -Errno::EFAULT.0);
        let path = r.string(0x1000, "f.txt");
        let fd = r.ok(5, &[path, 0, 0]) as u32;
        assert_eq!(r.ok(3, &[fd, RO_PAGE, 5]), -Errno::EFAULT.0);
        assert_eq!(
            r.ok(3, &[fd, BUF - 2, 5]),
            5,
            "nothing was consumed by the failed read"
        );
        assert_eq!(r.ok(4, &[1, UNMAPPED, 4]), -Errno::EFAULT.0);
        // A buffer running off the end of guest memory.
        assert_eq!(
            r.ok(3, &[fd, 16 * PAGE_SIZE as u32 - 2, 5]),
            -Errno::EFAULT.0
        );
    }

    #[test]
    fn the_sandbox_refuses_with_eacces_and_says_why() {
        let mut r = Rig::new("refuse");
        let path = r.string(0x1000, "/etc/passwd");
        assert_eq!(r.ok(5, &[path, 0, 0]), -Errno::EACCES.0);
        assert_eq!(r.os.note, Some("outside the sandbox"));
        let path = r.string(0x1000, "new.txt");
        assert_eq!(r.ok(5, &[path, 0o101, 0o644]), -Errno::EACCES.0);
        assert_eq!(r.os.note, Some("read-only in the sandbox"));
        assert!(!r.dir.join("new.txt").exists());
        let path = r.string(0x1000, "../../w/f.txt");
        assert_eq!(r.ok(5, &[path, 0, 0]), 3, "`..` stops at /");
        assert_eq!(r.os.note, None);

        let dir = r.dir.clone();
        r.os.set_sandbox(
            Sandbox::new()
                .mount(&dir, Some("/w"))
                .unwrap()
                .allow_write(&dir)
                .unwrap()
                .working_dir("/w"),
        );
        let path = r.string(0x1000, "new.txt");
        let fd = r.ok(5, &[path, 0o101, 0o644]) as u32;
        r.mem.poke(BUF as u64, b"data").unwrap();
        assert_eq!(r.ok(4, &[fd, BUF, 4]), 4);
        assert_eq!(std::fs::read(r.dir.join("new.txt")).unwrap(), b"data");
    }

    #[test]
    fn getcwd_and_virtual_directories() {
        let mut r = Rig::new("cwd");
        assert_eq!(r.ok(183, &[BUF, 100]), 3);
        assert_eq!(r.mem.peek(BUF as u64, 3).unwrap(), b"/w\0");
        assert_eq!(r.ok(183, &[BUF, 2]), -Errno::ERANGE.0);
        let root = r.string(0x1000, "/");
        let fd = r.ok(5, &[root, 0o200000, 0]) as u32;
        let n = r.ok(220, &[fd, BUF, 4096]) as u64;
        let listing = r.mem.peek(BUF as u64, n).unwrap().to_vec();
        let mut names = Vec::new();
        let mut at = 0;
        while at < listing.len() {
            let len = u16::from_le_bytes([listing[at + 16], listing[at + 17]]) as usize;
            let name = &listing[at + 19..at + len];
            names.push(
                String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap()])
                    .into_owned(),
            );
            at += len;
        }
        assert_eq!(names, [".", "..", "dev", "w"]);
        assert_eq!(r.ok(220, &[fd, BUF, 4096]), 0);
        assert_eq!(r.ok(12, &[root]), 0);
        assert_eq!(r.ok(183, &[BUF, 100]), 2);
    }

    #[test]
    fn exits_signals_and_unknown_calls() {
        let mut r = Rig::new("exit");
        assert_eq!(r.call(252, &[3]).0, SyscallOutcome::Exit(3));
        // A call without a handler is ENOSYS, unless strict.
        assert_eq!(r.ok(14, &[]), -Errno::ENOSYS.0, "mknod");
        assert_eq!(r.ok(999, &[]), -Errno::ENOSYS.0);
        assert_eq!(r.ok(103, &[]), -Errno::ENOSYS.0, "syslog");
        r.os.set_strict_syscalls(true);
        assert_eq!(r.call(14, &[]).0, SyscallOutcome::Unsupported(14));
        assert_eq!(syscall_name(14), "mknod");
        assert_eq!(r.call(999, &[]).0, SyscallOutcome::Unsupported(999));
        assert_eq!(r.call(103, &[]).0, SyscallOutcome::Unsupported(103));
        r.os.set_strict_syscalls(false);
        assert_eq!(r.ok(37, &[GUEST_PID, 0]), 0);
        assert_eq!(r.ok(37, &[4242, 15]), -Errno::ESRCH.0);
        // SIGTERM blocked: pending; once unblocked, the next interruption point delivers it
        // and the default action ends the process.
        let mut r = Rig::new("exit-signal");
        r.mem.poke(BUF as u64, &(1u64 << 14).to_le_bytes()).unwrap();
        assert_eq!(r.ok(175, &[0, BUF, 0, 8]), 0);
        assert_eq!(r.ok(37, &[GUEST_PID, 15]), 0);
        assert_eq!(r.os.at_boundary(&mut r.cpu, &mut r.mem), Boundary::Continue);
        assert_eq!(r.ok(175, &[1, BUF, 0, 8]), 0);
        assert_eq!(
            r.os.at_boundary(&mut r.cpu, &mut r.mem),
            Boundary::Exit(128 + 15)
        );
    }
}
