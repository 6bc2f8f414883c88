//! `fork`, `vfork`, and `clone`/`clone3` with fork-like flags: a host `fork` of the vmkit
//! process. The child's memory is the parent's, copied on write by the host; its
//! descriptors are the same host descriptors (pipes included); it stays in the same
//! sandbox. `vfork` (and `CLONE_VM | CLONE_VFORK`, which `posix_spawn` uses) is a fork: the
//! parent does not wait for the child to `execve` or exit, and the child's stores are its
//! own (documented in docs/x86.md). A clone that makes a thread goes to
//! [`Linux::clone_thread`] (linux/thread).

use super::super::errno::Errno;
use super::super::{guest, task, Completion, Linux};
use crate::cpu::{Cpu, ESP};
use std::io::Write;
use vmkit_mem::Memory;

const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_DETACHED: u64 = 0x400000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
/// The flags a fork-like clone may carry.
const FORK_FLAGS: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_VFORK
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID;

/// The arguments of a `clone` or `clone3`, in `clone3`'s terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloneArgs {
    /// `CLONE_*` flags (without the exit signal).
    pub flags: u64,
    /// The signal the parent gets when the child ends (`SIGCHLD` for a fork).
    pub exit_signal: u32,
    /// The child's stack pointer (0: the parent's).
    pub stack: u32,
    /// Where `CLONE_PARENT_SETTID` stores the child's id (in the parent).
    pub parent_tid: u32,
    /// Where `CLONE_CHILD_SETTID` stores it (in the child) and `CLONE_CHILD_CLEARTID`
    /// clears it when the child ends.
    pub child_tid: u32,
    /// `CLONE_SETTLS`: the `user_desc` of the child's TLS.
    pub tls: u32,
}

impl CloneArgs {
    /// Whether the clone makes a thread (shares the address space without `CLONE_VFORK`,
    /// or joins the thread group), which a host fork cannot do.
    pub fn is_thread(&self) -> bool {
        self.flags & CLONE_THREAD != 0
            || (self.flags & CLONE_VM != 0 && self.flags & CLONE_VFORK == 0)
    }
}

impl Linux {
    /// `fork`, `vfork`.
    pub(in crate::linux) fn fork(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> Completion {
        self.clone_process(
            cpu,
            mem,
            CloneArgs {
                exit_signal: 17,
                ..CloneArgs::default()
            },
        )
    }

    /// `clone(flags, stack, parent_tid, tls, child_tid)` (the i386 order).
    pub(in crate::linux) fn clone(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        a: [u32; 6],
    ) -> Completion {
        let args = CloneArgs {
            flags: a[0] as u64 & !CSIGNAL,
            exit_signal: a[0] & CSIGNAL as u32,
            stack: a[1],
            parent_tid: a[2],
            tls: a[3],
            child_tid: a[4],
        };
        self.clone_any(cpu, mem, args)
    }

    /// `clone3(args, size)`.
    pub(in crate::linux) fn clone3(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        at: u32,
        size: u32,
    ) -> Completion {
        const VER0: u32 = 64;
        if !(VER0..=4096).contains(&size) {
            return Err(Errno::EINVAL).into();
        }
        let raw = match guest::bytes(mem, at, size) {
            Ok(b) => b.to_vec(),
            Err(e) => return Err(e).into(),
        };
        // Fields past the ones known must be zero (E2BIG), as Linux checks.
        if raw.iter().skip(88).any(|&b| b != 0) {
            return Err(Errno::E2BIG).into();
        }
        let q = |k: usize| u64::from_le_bytes(raw[8 * k..8 * k + 8].try_into().unwrap_or([0; 8]));
        // `pidfd` (q(1)) matters only with CLONE_PIDFD, which is refused below: glibc fills it
        // in any case, and Linux ignores it then.
        let (flags, child_tid, parent_tid, exit_signal) = (q(0), q(2), q(3), q(4));
        let (stack, stack_size, tls) = (q(5), q(6), q(7));
        let set_tid_size = if size >= 80 { q(9) } else { 0 };
        let cgroup = if size >= 88 { q(10) } else { 0 };
        if exit_signal > 64 {
            return Err(Errno::EINVAL).into();
        }
        if set_tid_size != 0 || cgroup != 0 {
            self.note = Some("clone3 set_tid and cgroups are not supported");
            return Err(Errno::EINVAL).into();
        }
        let narrow = |v: u64| u32::try_from(v).map_err(|_| Errno::EINVAL);
        let args = (|| {
            Ok(CloneArgs {
                flags: flags & !CSIGNAL,
                exit_signal: exit_signal as u32,
                // clone3 gives the stack's lowest address and size.
                stack: if stack != 0 {
                    narrow(stack + stack_size)?
                } else {
                    0
                },
                parent_tid: narrow(parent_tid)?,
                child_tid: narrow(child_tid)?,
                tls: narrow(tls)?,
            })
        })();
        match args {
            // A thread has no exit signal (Linux: EINVAL).
            Ok(args) if args.is_thread() && exit_signal != 0 => Err(Errno::EINVAL).into(),
            Ok(args) if flags & CSIGNAL == 0 => self.clone_any(cpu, mem, args),
            Ok(_) => Err(Errno::EINVAL).into(),
            Err(e) => Err(e).into(),
        }
    }

    /// A clone: a thread goes to the threads part, anything else is a process.
    fn clone_any(&mut self, cpu: &mut Cpu, mem: &mut Memory, args: CloneArgs) -> Completion {
        if args.is_thread() {
            // The threads part (linux/thread): a thread of this process.
            let flags = args.flags as u32 | args.exit_signal;
            return self
                .clone_thread(
                    cpu,
                    mem,
                    flags,
                    args.stack,
                    args.parent_tid,
                    args.tls,
                    args.child_tid,
                )
                .into();
        }
        self.clone_process(cpu, mem, args)
    }

    /// A new process: a host fork. The parent gets the child's pid, the child 0.
    fn clone_process(&mut self, cpu: &mut Cpu, mem: &mut Memory, args: CloneArgs) -> Completion {
        let unsupported = args.flags & !FORK_FLAGS;
        if unsupported != 0 {
            self.note = Some(
                if unsupported & (CLONE_FS | CLONE_FILES | CLONE_SIGHAND) != 0 {
                    "a process sharing files or handlers with its parent is not supported"
                } else {
                    "namespaces and other clone flags are not supported"
                },
            );
            return Err(Errno::EINVAL).into();
        }
        if args.flags & CLONE_PARENT_SETTID != 0 {
            if let Err(e) = guest::bytes(mem, args.parent_tid, 4) {
                return Err(e).into();
            }
        }
        match self.host_fork(cpu, mem, &args) {
            Ok(pid) => Ok(pid).into(),
            Err(e) => Err(e).into(),
        }
    }

    fn host_fork(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        args: &CloneArgs,
    ) -> Result<u32, Errno> {
        let table = self.table()?;
        let me = self.process.pid;
        let mine = table.get(me).ok_or(Errno::ESRCH)?;
        let child = table.next_id();
        table.insert(child, 0, me, mine.pgid, mine.sid)?;
        // Output held back on the host side is written before the fork, or both processes
        // would write it.
        let _ = self.stdio.stdout.flush();
        let _ = self.stdio.stderr.flush();
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // Host signals wait until the child has dropped the parent's pending ones.
        let blocked = crate::linux::signal::host::block_caught();
        // SAFETY: fork has no memory-safety preconditions; the child goes on with a copy of
        // this (single-threaded) process. vmkit holds no lock across this call.
        let host = unsafe { libc::fork() };
        if host != 0 {
            crate::linux::signal::host::unblock(blocked);
        }
        if host < 0 {
            table.remove(child);
            return Err(Errno::EAGAIN);
        }
        // SAFETY: getpid has no preconditions.
        let self_host = unsafe { libc::getpid() };
        if host == 0 {
            table.set_host(child, self_host);
            self.process.parent = me;
            self.process.parent_host = mine.host;
            self.process.pid = child;
            self.process.forked_child = true;
            self.process.forked = true;
            self.process.quiet = true;
            self.task.keep_only_current(child);
            // A child starts with no pending signal (of its parent's); what was sent to it
            // meanwhile arrives now.
            self.signals_after_fork();
            crate::linux::signal::host::unblock(blocked);
            if args.stack != 0 {
                cpu.regs[ESP] = args.stack;
            }
            if args.flags & CLONE_SETTLS != 0 {
                task::set_thread_area(cpu, mem, args.tls)?;
            }
            if args.flags & CLONE_CHILD_SETTID != 0 {
                guest::store_u32(mem, args.child_tid, child)?;
            }
            // CLONE_CHILD_CLEARTID clears the word when the child ends: the child's memory
            // is its own, so nobody could see it.
            return Ok(0);
        }
        table.set_host(child, host);
        self.process.forked = true;
        if args.flags & CLONE_PARENT_SETTID != 0 {
            guest::store_u32(mem, args.parent_tid, child)?;
        }
        Ok(child)
    }
}
