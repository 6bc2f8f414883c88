//! A thread's life: its id (`gettid`, `set_tid_address`), the end of one thread (`exit`,
//! as opposed to `exit_group`, which ends them all), and signals aimed at one thread
//! (`tgkill`, `tkill`).

use super::super::signal::SIGKILL;
use super::super::task::ThreadState;
use super::super::{guest, Completion, Errno, Linux};
use super::futex::FUTEX_BITSET_MATCH_ANY;
use vmkit_mem::Memory;

impl Linux {
    /// `gettid`.
    pub(in super::super) fn gettid(&self) -> u32 {
        self.thread().tid
    }

    /// `set_tid_address`: the word zeroed (and woken) when the running thread exits.
    /// Returns its id.
    pub(in super::super) fn set_tid_address(&mut self, at: u32) -> u32 {
        self.thread_mut().clear_child_tid = at;
        self.thread().tid
    }

    /// `exit`: ends the running thread. The last thread's exit ends the process, with
    /// this status or, if the first thread (the leader) exited before, the leader's, as
    /// Linux reports a thread group. Otherwise the thread's robust futexes are released,
    /// its `clear_child_tid` word zeroed and woken (what `pthread_join` waits on), and the
    /// others run on.
    pub(in super::super) fn exit_thread(&mut self, mem: &mut Memory, status: i32) -> Completion {
        if !self.task.threaded() {
            return Completion::Exited(self.task.leader_status.unwrap_or(status));
        }
        let tid = self.thread().tid;
        self.exit_robust_list(mem, tid);
        let at = self.thread().clear_child_tid;
        if at != 0 && guest::store_u32(mem, at, 0).is_ok() {
            self.futex_wake(at, FUTEX_BITSET_MATCH_ANY, 1);
        }
        if tid == self.task.leader_tid {
            self.task.leader_status = Some(status);
        }
        self.thread_mut().state = ThreadState::Exited;
        Completion::Returned(Ok(0))
    }

    /// `tgkill(tgid, tid, sig)`: a signal to thread `tid` of process `tgid`.
    pub(in super::super) fn tgkill(&mut self, tgid: u32, tid: u32, sig: u32) -> Completion {
        if (tgid as i32) <= 0 {
            return Completion::Returned(Err(Errno::EINVAL));
        }
        if tgid != self.task.leader_tid {
            return Completion::Returned(Err(Errno::ESRCH));
        }
        self.tkill(tid, sig)
    }

    /// `tkill(tid, sig)`: a signal to thread `tid` of this process: pending for it
    /// (delivered when it runs, with `si_code` `SI_TKILL`),
    /// and a wait it blocks in ends with `EINTR` unless it blocks the signal. A signal the
    /// process ignores is dropped, as Linux drops it, unless the thread blocks it.
    pub(in super::super) fn tkill(&mut self, tid: u32, sig: u32) -> Completion {
        if (tid as i32) <= 0 || sig > 64 {
            return Completion::Returned(Err(Errno::EINVAL));
        }
        let Some(i) = self.task.index_of(tid) else {
            return Completion::Returned(Err(Errno::ESRCH));
        };
        if sig == 0 {
            return Completion::Returned(Ok(0));
        }
        if sig == SIGKILL {
            // SIGKILL ends the whole process, whichever thread it names.
            return self.kill(self.task.leader_tid, sig).into();
        }
        let blocked = self.task.threads[i].signals.blocks(sig);
        if !blocked && self.ignores(sig) {
            return Completion::Returned(Ok(0));
        }
        let pid = self.pid();
        self.task.threads[i].signals.raise(sig, pid);
        if !blocked && matches!(self.task.threads[i].state, ThreadState::Blocked(_)) {
            self.wake(i, (-Errno::EINTR.0) as u32);
        }
        Completion::Returned(Ok(0))
    }
}
