//! Creating a thread: `clone` with `CLONE_THREAD` (as glibc's `pthread_create` calls it:
//! `CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|
//! CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID`) and `clone3` with the same flags. The new
//! thread starts with a copy of the caller's registers, eax 0, its own stack and TLS
//! descriptor, and its own signal state (the caller's mask). A clone without
//! `CLONE_THREAD` (a new process) is the process part's; its `clone` and `clone3` rows parse
//! the arguments (linux/process/fork.rs) and call [`Linux::clone_thread`] for a thread.

use super::super::signal::ThreadSignals;
use super::super::task::{self, Thread};
use super::super::{guest, Errno, Linux};
use crate::cpu::{Cpu, EAX, ESP};
use vmkit_mem::Memory;

const CSIGNAL: u32 = 0xFF;
const CLONE_VM: u32 = 0x100;
const CLONE_FS: u32 = 0x200;
const CLONE_FILES: u32 = 0x400;
const CLONE_SIGHAND: u32 = 0x800;
const CLONE_PTRACE: u32 = 0x2000;
/// `CLONE_THREAD`: the new task is a thread of the caller's process.
const CLONE_THREAD: u32 = 0x10000;
const CLONE_SYSVSEM: u32 = 0x40000;
const CLONE_SETTLS: u32 = 0x80000;
const CLONE_PARENT_SETTID: u32 = 0x100000;
const CLONE_CHILD_CLEARTID: u32 = 0x200000;
const CLONE_DETACHED: u32 = 0x400000;
const CLONE_UNTRACED: u32 = 0x800000;
const CLONE_CHILD_SETTID: u32 = 0x1000000;
const CLONE_IO: u32 = 0x8000_0000;

/// The flags a thread may be created with here: sharing everything, as threads do.
const THREAD_FLAGS: u32 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_PTRACE
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_UNTRACED
    | CLONE_CHILD_SETTID
    | CLONE_IO;

impl Linux {
    /// `clone(flags, stack, parent_tid, tls, child_tid)` with `CLONE_THREAD` (i386's
    /// argument order: ebx, ecx, edx, esi, edi): a new thread of this process, which runs
    /// when its turn comes. `tls` is a `user_desc` pointer (as for `set_thread_area`).
    /// Returns the new thread's id.
    #[allow(clippy::too_many_arguments)]
    pub(in super::super) fn clone_thread(
        &mut self,
        cpu: &Cpu,
        mem: &mut Memory,
        flags: u32,
        stack: u32,
        parent_tid: u32,
        tls: u32,
        child_tid: u32,
    ) -> Result<u32, Errno> {
        // Linux's own rules: a thread shares the handlers, which needs shared memory.
        if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0
            || flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0
        {
            return Err(Errno::EINVAL);
        }
        if flags & !THREAD_FLAGS != 0 || flags & (CLONE_FS | CLONE_FILES) != CLONE_FS | CLONE_FILES
        {
            self.note = Some("a thread must share files and working directory here");
            return Err(Errno::EINVAL);
        }
        let mut child = Box::new(cpu.clone());
        child.regs[EAX] = 0;
        if stack != 0 {
            child.regs[ESP] = stack;
        }
        if flags & CLONE_SETTLS != 0 {
            // As Linux's clone: the descriptor names its entry (-1 is not allocated here).
            if guest::u32_at(mem, tls)? == u32::MAX {
                return Err(Errno::EINVAL);
            }
            task::set_thread_area(&mut child, mem, tls)?;
        }
        // Thread ids come from the counter process ids come from (the process table).
        let tid = self.next_id()?;
        // Linux ignores a bad pointer here: the thread exists all the same.
        if flags & CLONE_PARENT_SETTID != 0 {
            let _ = guest::store_u32(mem, parent_tid, tid);
        }
        if flags & CLONE_CHILD_SETTID != 0 {
            let _ = guest::store_u32(mem, child_tid, tid);
        }
        let signals: ThreadSignals = self.thread().signals.for_new_thread();
        let mut thread = Thread::new(tid, signals, Some(child));
        if flags & CLONE_CHILD_CLEARTID != 0 {
            thread.clear_child_tid = child_tid;
        }
        self.task.threads.push(thread);
        Ok(tid)
    }
}
