//! The Linux i386 system-call personality (`int 0x80`): process state and the calls. Anything
//! not implemented stops the guest with "unsupported system call N (name)", never silently.
//!
//! | module | owns |
//! |---|---|
//! | `names` | system-call numbers and names |
//! | `errno` | error numbers, names and messages |
//! | `guest` | checked access to arguments in guest memory (`EFAULT`) |
//! | `sandbox` | which host files are visible and writable, at which guest paths (shared with the native machine: `vmkit_vm::sandbox`) |
//! | `fd` | the descriptor table, open files, pipes |
//! | `stat` | `stat64` / `statx` layouts |
//! | `fs` | calls that take paths (`open`, `stat`, `mkdir`, `rename`, ...) |
//! | `io` | calls on descriptors (`read`, `lseek`, `getdents`, `fcntl`, `ioctl`, ...) |
//! | `memory` | `brk`, `mmap2`, `munmap`, `mprotect`, `mremap` |
//! | `process` | identity, time, limits, signals, TLS |
//! | `strace` | the `--strace` log |

mod errno;
mod fd;
mod fs;
mod guest;
mod io;
mod memory;
mod names;
mod process;
mod sandbox;
mod stat;
mod strace;

pub use errno::Errno;
pub use memory::{MMAP_MIN_ADDR, TASK_SIZE};
pub use names::syscall_name;
pub use sandbox::{normalize, Device, Mount, PathError, Resolved, Sandbox, SandboxError};
pub use stat::FileStat;

use crate::cpu::{Cpu, EAX, EBP, EBX, ECX, EDI, EDX, ESI};
use crate::linux_process::MMAP_BASE;
use fd::FdTable;
use std::path::PathBuf;
use vmkit_mem::Memory;

/// The guest's user and group id (also in the auxiliary vector).
pub const GUEST_UID: u32 = 1000;
/// The guest's process (and thread) id.
pub const GUEST_PID: u32 = 1000;

/// What a system call asks of the run loop.
#[derive(Debug, PartialEq, Eq)]
pub enum SysOutcome {
    /// Continue; the result is in eax.
    Continue,
    /// The process exits with this status (128 + signal when a signal ended it).
    Exit(i32),
    /// The call is not implemented.
    Unsupported(u32),
}

/// The guest's standard streams.
pub struct Streams {
    /// Guest stdout; `None` writes to the host's stdout.
    pub stdout: Option<Vec<u8>>,
    /// Guest stdin bytes; `None` reads the host's stdin.
    pub stdin: Option<std::collections::VecDeque<u8>>,
}

/// How a call ended, before it becomes eax or a [`SysOutcome`].
enum Handled {
    /// A result or an error number.
    Value(Result<u32, Errno>),
    /// exit / exit_group.
    Exit(i32),
    /// A signal whose default action ends the process.
    Killed(i32),
    /// Not implemented (with a reason for `--strace`).
    Unsupported,
}

/// Signal dispositions and the blocked mask. Signals are recorded, not delivered: a handler
/// is never run (a call that would need to run one is unsupported).
#[derive(Clone, Debug)]
struct Signals {
    /// The kernel `sigaction` of each signal 1..=64: handler, flags, restorer, mask.
    actions: [[u8; 20]; 65],
    /// Blocked signals.
    mask: u64,
    /// Signals sent while blocked.
    pending: u64,
    /// `stack_t` of the alternate signal stack.
    altstack: [u8; 12],
}

impl Default for Signals {
    fn default() -> Signals {
        let mut altstack = [0u8; 12];
        altstack[4] = 2; // SS_DISABLE
        Signals {
            actions: [[0; 20]; 65],
            mask: 0,
            pending: 0,
            altstack,
        }
    }
}

/// The kernel-side state of the guest process.
pub struct Linux {
    /// Standard streams.
    pub streams: Streams,
    /// Start of the heap (end of the loaded data).
    pub brk_start: u32,
    /// Current program break.
    pub brk: u32,
    /// Where the search for free address space for the next mapping starts (just after
    /// the last one placed, or lower once something below it was unmapped).
    pub mmap_next: u32,
    /// The address-space limit (`RLIMIT_AS`, `--memory-limit`) in bytes: the soft limit,
    /// enforced, and the hard one, which the guest may only lower.
    memory_limit: Option<u64>,
    memory_limit_hard: Option<u64>,
    /// Set when a call changed page protections: decoded code must be dropped.
    pub flush_code: bool,
    /// Log every call to stderr, as strace does.
    pub strace: bool,
    /// Print one hint on stderr the first time the sandbox refuses an access the user
    /// probably meant (a write into a visible directory, or a file named on the command
    /// line): which path, and which flag allows it. On by default.
    pub hints: bool,
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
    /// Why the last call was refused, when the sandbox refused it (for `--strace`).
    note: Option<&'static str>,
    random_state: u64,
}

impl Default for Linux {
    /// A process with an empty sandbox (nothing on the host visible), working directory `/`.
    fn default() -> Self {
        Linux {
            streams: Streams {
                stdout: None,
                stdin: None,
            },
            brk_start: 0,
            brk: 0,
            mmap_next: MMAP_BASE,
            memory_limit: None,
            memory_limit_hard: None,
            flush_code: false,
            strace: false,
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

    /// Runs the system call in eax with arguments in ebx, ecx, edx, esi, edi, ebp.
    pub fn syscall(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> SysOutcome {
        let nr = cpu.regs[EAX];
        let args = [
            cpu.regs[EBX],
            cpu.regs[ECX],
            cpu.regs[EDX],
            cpu.regs[ESI],
            cpu.regs[EDI],
            cpu.regs[EBP],
        ];
        self.note = None;
        let handled = self.dispatch(nr, args, cpu, mem);
        if self.strace {
            strace::log(self, nr, args, &handled, mem);
        }
        match handled {
            Handled::Value(r) => {
                cpu.regs[EAX] = match r {
                    Ok(v) => v,
                    Err(e) => (-e.0) as u32,
                };
                SysOutcome::Continue
            }
            Handled::Exit(code) => SysOutcome::Exit(code),
            Handled::Killed(sig) => {
                // A shell says nothing of a SIGPIPE death (`| head`); neither does vmkit.
                if sig as u32 != process::SIGPIPE {
                    eprintln!("vmkit: killed by {}", process::signal_name(sig as u32));
                }
                SysOutcome::Exit(128 + sig)
            }
            Handled::Unsupported => SysOutcome::Unsupported(nr),
        }
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

    fn dispatch(&mut self, nr: u32, a: [u32; 6], cpu: &mut Cpu, mem: &mut Memory) -> Handled {
        let r = match nr {
            1 | 252 => return Handled::Exit(a[0] as i32),
            // Files and directories by path.
            5 => self.open(mem, fs::AT_FDCWD, a[0], a[1], a[2]),
            8 => self.open(mem, fs::AT_FDCWD, a[0], fs::CREAT_FLAGS, a[1]),
            295 => self.open(mem, a[0], a[1], a[2], a[3]),
            195 => self.stat_path(mem, fs::AT_FDCWD, a[0], a[1], 0, false),
            196 => self.stat_path(
                mem,
                fs::AT_FDCWD,
                a[0],
                a[1],
                fs::AT_SYMLINK_NOFOLLOW,
                false,
            ),
            300 => self.stat_path(mem, a[0], a[1], a[2], a[3], false),
            383 => self.stat_path(mem, a[0], a[1], a[4], a[2], true),
            33 => self.access(mem, fs::AT_FDCWD, a[0], a[1], 0),
            307 => self.access(mem, a[0], a[1], a[2], 0),
            439 => self.access(mem, a[0], a[1], a[2], a[3]),
            85 => self.readlink(mem, fs::AT_FDCWD, a[0], a[1], a[2]),
            305 => self.readlink(mem, a[0], a[1], a[2], a[3]),
            183 => self.getcwd(mem, a[0], a[1]),
            12 => self.chdir(mem, a[0]),
            133 => self.fchdir(a[0]),
            39 => self.mkdir(mem, fs::AT_FDCWD, a[0], a[1]),
            296 => self.mkdir(mem, a[0], a[1], a[2]),
            40 => self.unlink(mem, fs::AT_FDCWD, a[0], fs::AT_REMOVEDIR),
            10 => self.unlink(mem, fs::AT_FDCWD, a[0], 0),
            301 => self.unlink(mem, a[0], a[1], a[2]),
            38 => self.rename(mem, fs::AT_FDCWD, a[0], fs::AT_FDCWD, a[1], 0),
            302 => self.rename(mem, a[0], a[1], a[2], a[3], 0),
            353 => self.rename(mem, a[0], a[1], a[2], a[3], a[4]),
            15 => self.chmod(mem, fs::AT_FDCWD, a[0], a[1]),
            306 | 452 => self.chmod(mem, a[0], a[1], a[2]),
            94 => self.fchmod(a[0], a[1]),
            320 => self.utimensat(mem, a[0], a[1], a[2], a[3], false),
            412 => self.utimensat(mem, a[0], a[1], a[2], a[3], true),
            92 => self.truncate(mem, a[0], a[1] as i32 as i64),
            193 => self.truncate(mem, a[0], fs::join64(a[1], a[2])),
            60 => Ok(std::mem::replace(&mut self.umask, a[0] & 0o777)),
            182 | 212 => self.chown(
                mem,
                fs::ChownTarget::Path {
                    dirfd: fs::AT_FDCWD,
                    path: a[0],
                    follow: true,
                },
                a[1],
                a[2],
            ),
            16 | 198 => self.chown(
                mem,
                fs::ChownTarget::Path {
                    dirfd: fs::AT_FDCWD,
                    path: a[0],
                    follow: false,
                },
                a[1],
                a[2],
            ),
            95 | 207 => self.chown(mem, fs::ChownTarget::Fd(a[0]), a[1], a[2]),
            298 => self.chown(
                mem,
                fs::ChownTarget::Path {
                    dirfd: a[0],
                    path: a[1],
                    follow: a[4] & fs::AT_SYMLINK_NOFOLLOW == 0,
                },
                a[2],
                a[3],
            ),
            83 => self.symlink(mem, a[0], fs::AT_FDCWD, a[1]),
            304 => self.symlink(mem, a[0], a[1], a[2]),
            9 => self.link(mem, fs::AT_FDCWD, a[0], fs::AT_FDCWD, a[1], 0),
            303 => self.link(mem, a[0], a[1], a[2], a[3], a[4]),
            // Descriptors.
            3 => self.read(mem, a[0], a[1], a[2]),
            4 => self.write(mem, a[0], a[1], a[2]),
            145 => self.readv(mem, a[0], a[1], a[2]),
            146 => self.writev(mem, a[0], a[1], a[2]),
            180 => self.pread(mem, a[0], a[1], a[2], fs::join64(a[3], a[4])),
            181 => self.pwrite(mem, a[0], a[1], a[2], fs::join64(a[3], a[4])),
            187 => self.sendfile(mem, a[0], a[1], a[2], a[3], false),
            239 => self.sendfile(mem, a[0], a[1], a[2], a[3], true),
            6 => self.close(a[0]),
            19 => self.lseek(a[0], a[1] as i32 as i64, a[2]).and_then(|off| {
                u32::try_from(off)
                    .ok()
                    .filter(|o| *o <= i32::MAX as u32)
                    .ok_or(Errno::EOVERFLOW)
            }),
            140 => self.llseek(mem, a[0], fs::join64(a[2], a[1]), a[3], a[4]),
            197 => self.fstat(mem, a[0], a[1]),
            220 => self.getdents(mem, a[0], a[1], a[2], true),
            141 => self.getdents(mem, a[0], a[1], a[2], false),
            55 | 221 => self.fcntl(mem, a[0], a[1], a[2]),
            41 => self.dup(a[0]),
            63 => self.dup2(a[0], a[1]),
            330 => self.dup3(a[0], a[1], a[2]),
            42 => self.pipe(mem, a[0], 0),
            331 => self.pipe(mem, a[0], a[1]),
            54 => self.ioctl(mem, a[0], a[1], a[2]),
            168 | 309 | 414 => self.poll(mem, a[0], a[1]),
            93 => self.ftruncate(a[0], a[1] as i32 as i64),
            194 => self.ftruncate(a[0], fs::join64(a[1], a[2])),
            118 | 148 => self.fsync(a[0], nr == 148),
            // The guest's writes are already the host kernel's to write back.
            36 => Ok(0),
            344 => self.fds.get(a[0]).map(|_| 0),
            143 => self.fds.get(a[0]).map(|_| 0),
            250 | 272 => self.fds.get(a[0]).map(|_| 0),
            // Memory.
            45 => Ok(self.brk(mem, a[0])),
            90 => self.old_mmap(mem, a[0]),
            192 => self.mmap2(mem, a),
            91 => self.munmap(mem, a[0], a[1]),
            125 => self.mprotect(mem, a[0], a[1], a[2]),
            163 => self.mremap(mem, a[0], a[1], a[2], a[3], a[4]),
            219 => self.madvise(mem, a[0], a[1], a[2]),
            // Process, time, limits, signals.
            20 | 224 => Ok(GUEST_PID),
            258 => Ok(GUEST_PID),
            64 => Ok(1),
            24 | 47 | 49 | 50 | 199..=202 => Ok(GUEST_UID),
            205 | 80 => self.getgroups(mem, a[0], a[1]),
            // The guest may "change" to its own ids and to nothing else.
            23 | 46 | 213 | 214 => {
                if a[0] == GUEST_UID {
                    Ok(0)
                } else {
                    Err(Errno::EPERM)
                }
            }
            13 => self.time(mem, a[0]),
            78 => self.gettimeofday(mem, a[0], a[1]),
            265 => self.clock_gettime(mem, a[0], a[1], false),
            403 => self.clock_gettime(mem, a[0], a[1], true),
            266 => self.clock_getres(mem, a[0], a[1], false),
            406 => self.clock_getres(mem, a[0], a[1], true),
            162 => self.clock_nanosleep(mem, 0, 0, a[0], a[1], false),
            267 => self.clock_nanosleep(mem, a[0], a[1], a[2], a[3], false),
            407 => self.clock_nanosleep(mem, a[0], a[1], a[2], a[3], true),
            158 => Ok(0),
            116 => self.sysinfo(mem, a[0]),
            76 | 191 => self.getrlimit(mem, a[0], a[1]),
            75 => self.setrlimit(mem, a[0], a[1]),
            340 => self.prlimit64(mem, a[0], a[1], a[2], a[3]),
            242 => self.sched_getaffinity(mem, a[0], a[1], a[2]),
            96 => Ok(20),
            97 => Ok(0),
            122 => process::uname(mem, a[0]),
            355 => self.getrandom(mem, a[0], a[1]),
            172 => match a[0] {
                // PR_SET_NAME / PR_GET_NAME are harmless; nothing else is offered.
                15 => Ok(0),
                16 => guest::store(mem, a[1], b"vmkit\0").map(|_| 0),
                _ => Err(Errno::EINVAL),
            },
            243 => process::set_thread_area(cpu, mem, a[0]),
            174 => self.rt_sigaction(mem, a[0], a[1], a[2], a[3]),
            175 => return self.rt_sigprocmask(mem, a[0], a[1], a[2], a[3]),
            186 => self.sigaltstack(mem, a[0], a[1]),
            37 => return self.kill(a[0], a[1]),
            238 => return self.kill(a[0], a[1]),
            270 => return self.kill(a[1], a[2]),
            // glibc falls back without these (robust futex lists, restartable sequences).
            311 | 386 => Err(Errno::ENOSYS),
            _ => return Handled::Unsupported,
        };
        // Linux sends SIGPIPE to a writer whose pipe has no reader left (a guest pipe, or
        // the host's stdout after `| head` exits); by default it ends the process. Blocked
        // or ignored, the write fails with EPIPE.
        const WRITES: [u32; 5] = [4, 146, 181, 187, 239];
        if r == Err(Errno::EPIPE) && WRITES.contains(&nr) {
            if let killed @ (Handled::Killed(_) | Handled::Unsupported) =
                self.kill(GUEST_PID, process::SIGPIPE)
            {
                return killed;
            }
        }
        Handled::Value(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

        fn call(&mut self, nr: u32, args: &[u32]) -> (SysOutcome, i32) {
            self.cpu.regs[EAX] = nr;
            for (reg, v) in [EBX, ECX, EDX, ESI, EDI, EBP].into_iter().zip(args) {
                self.cpu.regs[reg] = *v;
            }
            let outcome = self.os.syscall(&mut self.cpu, &mut self.mem);
            (outcome, self.cpu.regs[EAX] as i32)
        }

        fn ok(&mut self, nr: u32, args: &[u32]) -> i32 {
            let (outcome, r) = self.call(nr, args);
            assert_eq!(outcome, SysOutcome::Continue);
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
        assert_eq!(r.call(252, &[3]).0, SysOutcome::Exit(3));
        assert_eq!(r.call(2, &[]).0, SysOutcome::Unsupported(2));
        assert_eq!(syscall_name(2), "fork");
        assert_eq!(r.call(999, &[]).0, SysOutcome::Unsupported(999));
        assert_eq!(r.ok(37, &[GUEST_PID, 0]), 0);
        assert_eq!(r.ok(37, &[4242, 15]), -Errno::ESRCH.0);
        // SIGTERM blocked: pending; unblocking it delivers it and the default action ends
        // the process.
        r.mem.poke(BUF as u64, &(1u64 << 14).to_le_bytes()).unwrap();
        assert_eq!(r.ok(175, &[0, BUF, 0, 8]), 0);
        assert_eq!(r.ok(37, &[GUEST_PID, 15]), 0);
        assert_eq!(r.call(175, &[1, BUF, 0, 8]).0, SysOutcome::Exit(128 + 15));
    }
}
