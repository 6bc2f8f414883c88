//! The Linux i386 system-call personality (`int 0x80`): numbers and names, and the calls
//! implemented so far. Anything else stops the guest with "unsupported system call N
//! (name)", never silently.

use crate::cpu::{Cpu, Seg, EAX, EBP, EBX, ECX, EDI, EDX, ESI};
use crate::linux_process::{MMAP_BASE, STACK_LIMIT};
use std::io::{Read, Write};
use vmkit_mem::{page, Memory, PAGE_SIZE};

/// What a system call asks of the run loop.
#[derive(Debug, PartialEq, Eq)]
pub enum SysOutcome {
    /// Continue; the result is in eax.
    Continue,
    /// The process exits with this status.
    Exit(i32),
    /// The call is not implemented.
    Unsupported(u32),
}

/// Names of i386 system calls, for messages and `--strace` (the common ones).
pub fn syscall_name(nr: u32) -> &'static str {
    match nr {
        1 => "exit",
        2 => "fork",
        3 => "read",
        4 => "write",
        5 => "open",
        6 => "close",
        7 => "waitpid",
        11 => "execve",
        13 => "time",
        19 => "lseek",
        20 => "getpid",
        33 => "access",
        37 => "kill",
        45 => "brk",
        54 => "ioctl",
        63 => "dup2",
        78 => "gettimeofday",
        85 => "readlink",
        90 => "mmap",
        91 => "munmap",
        114 => "wait4",
        120 => "clone",
        122 => "uname",
        125 => "mprotect",
        140 => "_llseek",
        146 => "writev",
        172 => "prctl",
        173 => "rt_sigreturn",
        174 => "rt_sigaction",
        175 => "rt_sigprocmask",
        183 => "getcwd",
        191 => "ugetrlimit",
        192 => "mmap2",
        195 => "stat64",
        197 => "fstat64",
        199 => "getuid32",
        213 => "setuid32",
        214 => "setgid32",
        221 => "fcntl64",
        224 => "gettid",
        243 => "set_thread_area",
        252 => "exit_group",
        258 => "set_tid_address",
        265 => "clock_gettime",
        295 => "openat",
        300 => "fstatat64",
        311 => "set_robust_list",
        355 => "getrandom",
        383 => "statx",
        386 => "rseq",
        _ => "unknown",
    }
}

const ENOENT: i32 = 2;
const EIO: i32 = 5;
const EBADF: i32 = 9;
const ENOMEM: i32 = 12;
const EFAULT: i32 = 14;
const ENODEV: i32 = 19;
const EINVAL: i32 = 22;
const ESRCH: i32 = 3;
const ENOTTY: i32 = 25;
const ENOSYS: i32 = 38;

/// The guest's standard streams.
pub struct Streams {
    /// Guest stdout; `None` writes to the host's stdout.
    pub stdout: Option<Vec<u8>>,
    /// Guest stdin bytes; `None` reads the host's stdin.
    pub stdin: Option<std::collections::VecDeque<u8>>,
}

/// The kernel-side state of the guest process.
pub struct Linux {
    /// Standard streams.
    pub streams: Streams,
    /// Start of the heap (end of the loaded data).
    pub brk_start: u32,
    /// Current program break.
    pub brk: u32,
    /// Next address for an anonymous mapping.
    pub mmap_next: u32,
    /// Set when a call changed page protections: decoded code must be dropped.
    pub flush_code: bool,
    /// Log every call to stderr, as strace does.
    pub strace: bool,
    random_state: u64,
}

impl Default for Linux {
    fn default() -> Self {
        Linux {
            streams: Streams {
                stdout: None,
                stdin: None,
            },
            brk_start: 0,
            brk: 0,
            mmap_next: MMAP_BASE,
            flush_code: false,
            strace: false,
            random_state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

fn page_up(v: u64) -> u64 {
    v.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

impl Linux {
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
        let outcome = self.dispatch(nr, args, cpu, mem);
        if self.strace {
            let shown = match &outcome {
                SysOutcome::Continue => format!("{}", cpu.regs[EAX] as i32),
                SysOutcome::Exit(c) => format!("? (exit {c})"),
                SysOutcome::Unsupported(_) => "unsupported".into(),
            };
            eprintln!(
                "[vmkit] {}({:#x}, {:#x}, {:#x}) = {shown}",
                syscall_name(nr),
                args[0],
                args[1],
                args[2]
            );
        }
        outcome
    }

    fn dispatch(&mut self, nr: u32, a: [u32; 6], cpu: &mut Cpu, mem: &mut Memory) -> SysOutcome {
        let result: i32 = match nr {
            1 | 252 => return SysOutcome::Exit(a[0] as i32),
            3 => self.read(mem, a[0], a[1], a[2]),
            4 => self.write(mem, a[0], a[1], a[2]),
            146 => self.writev(mem, a[0], a[1], a[2]),
            6 => 0,
            13 => {
                let t = now().0 as i32;
                if a[0] != 0 && mem.poke(a[0] as u64, &t.to_le_bytes()).is_err() {
                    -EFAULT
                } else {
                    t
                }
            }
            20 | 224 | 258 => 1000,
            64 => 1,
            199..=202 | 24 | 47 | 49 | 50 => 1000,
            45 => self.brk(mem, a[0]) as i32,
            54 => -ENOTTY,
            78 => {
                let (s, ns) = now();
                let tv = [(s as u32).to_le_bytes(), ((ns / 1000) as u32).to_le_bytes()].concat();
                if mem.poke(a[0] as u64, &tv).is_err() {
                    -EFAULT
                } else {
                    0
                }
            }
            265 => {
                let (s, ns) = now();
                let ts = [(s as u32).to_le_bytes(), (ns as u32).to_le_bytes()].concat();
                if mem.poke(a[1] as u64, &ts).is_err() {
                    -EFAULT
                } else {
                    0
                }
            }
            85 => -ENOENT,
            // The guest is uid/gid 1000; "changing" to that is allowed, anything else is not.
            213 | 214 => {
                if a[0] == 1000 {
                    0
                } else {
                    -1
                }
            }
            // prctl: PR_SET_NAME / PR_GET_NAME are harmless; nothing else is offered.
            172 => match a[0] {
                15 | 16 => 0,
                _ => -EINVAL,
            },
            91 => {
                if a[0] as u64 % PAGE_SIZE != 0 {
                    -EINVAL
                } else {
                    mem.protect(a[0] as u64, a[1] as u64, 0);
                    self.flush_code = true;
                    0
                }
            }
            122 => uname(mem, a[0]),
            125 => {
                if a[0] as u64 % PAGE_SIZE != 0 || a[2] & !7 != 0 {
                    -EINVAL
                } else {
                    mem.protect(a[0] as u64, a[1] as u64, (a[2] & 7) as u8);
                    self.flush_code = true;
                    0
                }
            }
            // rt_sigreturn, rt_sigaction, rt_sigprocmask: accepted; signals are not delivered yet.
            173..=175 => 0,
            191 | 76 => {
                // RLIMIT_STACK is 8 MiB; everything else unlimited.
                let cur = if a[0] == 3 { 8 << 20 } else { u32::MAX };
                let lim = [cur.to_le_bytes(), u32::MAX.to_le_bytes()].concat();
                if mem.poke(a[1] as u64, &lim).is_err() {
                    -EFAULT
                } else {
                    0
                }
            }
            192 => self.mmap2(mem, a),
            197 => fstat64(mem, a[0], a[1]),
            300 => {
                // fstatat64(fd, "", buf, AT_EMPTY_PATH) is how glibc spells fstat.
                const AT_EMPTY_PATH: u32 = 0x1000;
                let empty = mem
                    .read_bytes(a[1] as u64, 1)
                    .map(|b| b[0] == 0)
                    .unwrap_or(false);
                if empty && a[3] & AT_EMPTY_PATH != 0 {
                    fstat64(mem, a[0], a[2])
                } else {
                    -ENOENT
                }
            }
            243 => set_thread_area(cpu, mem, a[0]),
            355 => {
                let mut bytes = vec![0u8; (a[1] as usize).min(1 << 16)];
                for b in bytes.iter_mut() {
                    self.random_state ^= self.random_state << 13;
                    self.random_state ^= self.random_state >> 7;
                    self.random_state ^= self.random_state << 17;
                    *b = self.random_state as u8;
                }
                match mem.write_bytes(a[0] as u64, &bytes) {
                    Ok(()) => bytes.len() as i32,
                    Err(_) => -EFAULT,
                }
            }
            // Not provided: glibc falls back (statx -> fstat64) or does without.
            311 | 383 | 386 => -ENOSYS,
            _ => return SysOutcome::Unsupported(nr),
        };
        cpu.regs[EAX] = result as u32;
        SysOutcome::Continue
    }

    fn write(&mut self, mem: &Memory, fd: u32, buf: u32, len: u32) -> i32 {
        let Ok(data) = mem.read_bytes(buf as u64, len as u64) else {
            return -EFAULT;
        };
        let res = match (fd, &mut self.streams.stdout) {
            (1, Some(out)) => {
                out.extend_from_slice(data);
                Ok(())
            }
            (1, None) => {
                let mut out = std::io::stdout().lock();
                out.write_all(data).and_then(|_| out.flush())
            }
            (2, _) => std::io::stderr().write_all(data),
            _ => return -EBADF,
        };
        match res {
            Ok(()) => len as i32,
            Err(e) => -(e.raw_os_error().unwrap_or(EIO)),
        }
    }

    fn writev(&mut self, mem: &Memory, fd: u32, iov: u32, count: u32) -> i32 {
        let mut total = 0i32;
        for k in 0..count.min(1024) {
            let Ok(entry) = mem.read_bytes(iov as u64 + 8 * k as u64, 8) else {
                return -EFAULT;
            };
            let base = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let len = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            let n = self.write(mem, fd, base, len);
            if n < 0 {
                return if total > 0 { total } else { n };
            }
            total = total.wrapping_add(n);
        }
        total
    }

    fn read(&mut self, mem: &mut Memory, fd: u32, buf: u32, len: u32) -> i32 {
        if fd != 0 {
            return -EBADF;
        }
        let mut tmp = vec![0u8; (len as usize).min(1 << 20)];
        let n = match &mut self.streams.stdin {
            Some(q) => {
                let n = tmp.len().min(q.len());
                for (i, byte) in q.drain(..n).enumerate() {
                    tmp[i] = byte;
                }
                Ok(n)
            }
            None => std::io::stdin().read(&mut tmp),
        };
        match n {
            Ok(n) => match mem.write_bytes(buf as u64, &tmp[..n]) {
                Ok(()) => n as i32,
                Err(_) => -EFAULT,
            },
            Err(e) => -(e.raw_os_error().unwrap_or(EIO)),
        }
    }

    /// `brk`: grows (or reports) the heap; new pages are zeroed and read-write.
    fn brk(&mut self, mem: &mut Memory, want: u32) -> u32 {
        if want < self.brk_start || want as u64 >= MMAP_BASE as u64 {
            return self.brk;
        }
        let old_end = page_up(self.brk as u64);
        let new_end = page_up(want as u64);
        if new_end > old_end {
            mem.protect(old_end, new_end - old_end, page::R | page::W);
            let _ = mem.fill(old_end, new_end - old_end, 0);
        }
        self.brk = want;
        want
    }

    /// `mmap2`: anonymous private mappings (file mappings are refused with ENODEV).
    fn mmap2(&mut self, mem: &mut Memory, a: [u32; 6]) -> i32 {
        const MAP_FIXED: u32 = 0x10;
        const MAP_ANONYMOUS: u32 = 0x20;
        let (addr, len, prot, flags) = (a[0], a[1], a[2], a[3]);
        if len == 0 || prot & !7 != 0 {
            return -EINVAL;
        }
        if flags & MAP_ANONYMOUS == 0 {
            return -ENODEV;
        }
        let size = page_up(len as u64);
        let start = if flags & MAP_FIXED != 0 {
            if addr as u64 % PAGE_SIZE != 0 {
                return -EINVAL;
            }
            addr as u64
        } else {
            let start = self.mmap_next as u64;
            if start + size > STACK_LIMIT as u64 {
                return -ENOMEM;
            }
            self.mmap_next = (start + size) as u32;
            start
        };
        if start + size > 1 << 32 {
            return -ENOMEM;
        }
        mem.protect(start, size, prot as u8);
        let _ = mem.fill(start, size, 0);
        self.flush_code = true;
        start as i32
    }
}

fn now() -> (u64, u64) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_nanos() as u64)
}

fn uname(mem: &mut Memory, buf: u32) -> i32 {
    let mut out = vec![0u8; 6 * 65];
    for (k, field) in [
        "Linux",
        "vmkit",
        "6.1.0-vmkit",
        "#1 vmkit",
        "i686",
        "(none)",
    ]
    .iter()
    .enumerate()
    {
        out[k * 65..k * 65 + field.len()].copy_from_slice(field.as_bytes());
    }
    match mem.write_bytes(buf as u64, &out) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// `fstat64` for the standard streams: character devices that are not terminals.
fn fstat64(mem: &mut Memory, fd: u32, buf: u32) -> i32 {
    if fd > 2 {
        return -EBADF;
    }
    let mut st = [0u8; 96];
    let mode: u32 = 0o020_620; // S_IFCHR | rw--w----
    st[16..20].copy_from_slice(&mode.to_le_bytes());
    st[20..24].copy_from_slice(&1u32.to_le_bytes());
    st[24..28].copy_from_slice(&1000u32.to_le_bytes());
    st[28..32].copy_from_slice(&1000u32.to_le_bytes());
    st[52..56].copy_from_slice(&4096u32.to_le_bytes());
    match mem.write_bytes(buf as u64, &st) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// `set_thread_area`: installs a TLS descriptor (GDT entries 6..8) from a `user_desc`; an
/// entry number of -1 asks for a free one, written back as Linux does.
fn set_thread_area(cpu: &mut Cpu, mem: &mut Memory, desc: u32) -> i32 {
    let Ok(raw) = mem.read_bytes(desc as u64, 16) else {
        return -EFAULT;
    };
    let word = |k: usize| u32::from_le_bytes([raw[k], raw[k + 1], raw[k + 2], raw[k + 3]]);
    let (entry, base) = (word(0), word(4));
    let index = if entry == u32::MAX {
        match cpu.tls_bases.iter().position(Option::is_none) {
            Some(i) => i as u32 + 6,
            None => return -ESRCH,
        }
    } else if (6..=8).contains(&entry) {
        entry
    } else {
        return -EINVAL;
    };
    cpu.tls_bases[(index - 6) as usize] = Some(base);
    if mem.poke(desc as u64, &index.to_le_bytes()).is_err() {
        return -EFAULT;
    }
    // A segment register already holding this selector sees the new base.
    for seg in [Seg::Fs, Seg::Gs] {
        if cpu.selectors[seg as usize] >> 3 == index as u16 {
            cpu.seg_base[seg as usize] = base;
        }
    }
    0
}
