//! The Linux i386 system-call personality (`int 0x80`): numbers and names, and the calls
//! implemented so far. Anything else stops the guest with "unsupported system call N
//! (name)", never silently.

use crate::cpu::{Cpu, EAX, EBX, ECX, EDX};
use std::io::{Read, Write};
use vmkit_mem::Memory;

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
        174 => "rt_sigaction",
        175 => "rt_sigprocmask",
        183 => "getcwd",
        191 => "ugetrlimit",
        192 => "mmap2",
        195 => "stat64",
        197 => "fstat64",
        199 => "getuid32",
        221 => "fcntl64",
        224 => "gettid",
        243 => "set_thread_area",
        252 => "exit_group",
        258 => "set_tid_address",
        265 => "clock_gettime",
        295 => "openat",
        311 => "set_robust_list",
        355 => "getrandom",
        383 => "statx",
        386 => "rseq",
        _ => "unknown",
    }
}

const EBADF: i32 = 9;
const EFAULT: i32 = 14;
const EIO: i32 = 5;

/// The guest's standard streams.
pub struct Streams {
    /// Guest stdout; `None` writes to the host's stdout.
    pub stdout: Option<Vec<u8>>,
    /// Guest stdin bytes; `None` reads the host's stdin.
    pub stdin: Option<std::collections::VecDeque<u8>>,
}

/// Runs the system call in eax with arguments in ebx, ecx, edx, esi, edi, ebp.
pub fn syscall(cpu: &mut Cpu, mem: &mut Memory, io: &mut Streams) -> SysOutcome {
    let nr = cpu.regs[EAX];
    let (a, b, c) = (cpu.regs[EBX], cpu.regs[ECX], cpu.regs[EDX]);
    let result: i32 = match nr {
        1 | 252 => return SysOutcome::Exit(a as i32),
        4 => match mem.read_bytes(b as u64, c as u64) {
            Err(_) => -EFAULT,
            Ok(data) => {
                let res = match (a, &mut io.stdout) {
                    (1, Some(buf)) => {
                        buf.extend_from_slice(data);
                        Ok(())
                    }
                    (1, None) => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(data).and_then(|_| out.flush())
                    }
                    (2, _) => std::io::stderr().write_all(data),
                    _ => Err(std::io::Error::from_raw_os_error(EBADF)),
                };
                match res {
                    Ok(()) => c as i32,
                    Err(e) => -(e.raw_os_error().unwrap_or(EIO)),
                }
            }
        },
        3 => {
            if a != 0 {
                -EBADF
            } else {
                let mut tmp = vec![0u8; (c as usize).min(1 << 20)];
                let n = match &mut io.stdin {
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
                    Ok(n) => match mem.write_bytes(b as u64, &tmp[..n]) {
                        Ok(()) => n as i32,
                        Err(_) => -EFAULT,
                    },
                    Err(e) => -(e.raw_os_error().unwrap_or(EIO)),
                }
            }
        }
        _ => return SysOutcome::Unsupported(nr),
    };
    cpu.regs[EAX] = result as u32;
    SysOutcome::Continue
}
