//! Signals of the personality, numbered and named by the one signal table of both guests
//! ([`vmkit_vm::signal`]): the guest's dispositions and blocked mask, and the calls on them (`rt_sigaction`,
//! `rt_sigprocmask`, `sigaltstack`, `kill` aimed at itself). Signals are recorded, not
//! delivered: a guest handler is never run (a call that would need to run one is
//! unsupported), so a signal whose default action ends the process ends it, and a fault ends
//! it too ([`Linux::fault_delivery`]).

use super::errno::Errno;
use super::{guest, Completion, Linux, GUEST_PID};
use vmkit_mem::Memory;
use vmkit_vm::signal::Signal;

/// `SIGKILL`: can be neither caught nor blocked.
pub(super) const SIGKILL: u32 = Signal::KILL.number();
/// The signal a write into a pipe without readers raises.
pub(super) const SIGPIPE: u32 = Signal::PIPE.number();
/// `SIGSTOP`: can be neither caught nor blocked.
pub(super) const SIGSTOP: u32 = Signal::STOP.number();

/// `SIGHUP`, ..., `SIGRT<n>` for real-time signals, `"0"` for 0: the name in the one
/// signal table ([`vmkit_vm::signal`]).
pub fn signal_name(sig: u32) -> String {
    vmkit_vm::signal::signal_name(sig).into_owned()
}

/// The exit status a shell reports for a process that signal `sig` ended: 128 + `sig`.
pub fn death_status(sig: i32) -> i32 {
    Signal::from_number(sig as u32).map_or(128 + sig, Signal::exit_status)
}

/// The process's signal dispositions, shared by its threads. Signals are recorded, not
/// delivered: a handler is never run (a call that would need to run one is unsupported).
#[derive(Clone, Debug)]
pub(super) struct Signals {
    /// The kernel `sigaction` of each signal 1..=64: handler, flags, restorer, mask.
    actions: [[u8; 20]; 65],
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            actions: [[0; 20]; 65],
        }
    }
}

/// A thread's own signal state: its blocked mask, the signals pending for it, its
/// alternate signal stack.
#[derive(Clone, Debug)]
pub(super) struct ThreadSignals {
    /// Blocked signals.
    mask: u64,
    /// Signals sent while blocked.
    pending: u64,
    /// `stack_t` of the alternate signal stack.
    altstack: [u8; 12],
}

impl Default for ThreadSignals {
    fn default() -> ThreadSignals {
        let mut altstack = [0u8; 12];
        altstack[4] = 2; // SS_DISABLE
        ThreadSignals {
            mask: 0,
            pending: 0,
            altstack,
        }
    }
}

impl ThreadSignals {
    /// The signal state of a thread created by `clone(CLONE_THREAD)`: this (the creator's)
    /// blocked mask, nothing pending, no alternate stack (Linux drops it for `CLONE_VM`).
    pub(super) fn for_new_thread(&self) -> ThreadSignals {
        ThreadSignals {
            mask: self.mask,
            ..ThreadSignals::default()
        }
    }

    /// Makes `sig` (1..=64) pending for this thread (`tgkill`, `tkill`).
    pub(super) fn raise(&mut self, sig: u32) {
        self.pending |= 1 << (sig - 1);
    }

    /// Whether this thread blocks `sig` (1..=64).
    pub(super) fn blocks(&self, sig: u32) -> bool {
        self.mask & (1 << (sig - 1)) != 0
    }
}

impl Linux {
    /// Whether `sig` (1..=64) is ignored by the process, explicitly or by default: sending
    /// it then does nothing (it neither stays pending nor interrupts a wait).
    pub(super) fn ignores(&self, sig: u32) -> bool {
        const SIG_IGN: u32 = 1;
        let a = self.signals.actions[sig as usize];
        let handler = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
        let ignored_by_default = Signal::from_number(sig).is_some_and(Signal::ignored_by_default);
        handler == SIG_IGN || (handler == 0 && ignored_by_default)
    }

    /// `rt_sigaction`: records the disposition (handlers are never run: no signal is
    /// delivered to the guest while it runs).
    pub(super) fn rt_sigaction(
        &mut self,
        mem: &mut Memory,
        sig: u32,
        act: u32,
        oldact: u32,
        sigsetsize: u32,
    ) -> Result<u32, Errno> {
        if sigsetsize != 8 || !(1..=64).contains(&sig) {
            return Err(Errno::EINVAL);
        }
        let new = if act != 0 {
            if sig == SIGKILL || sig == SIGSTOP {
                return Err(Errno::EINVAL);
            }
            let raw = guest::bytes(mem, act, 20)?;
            let mut a = [0u8; 20];
            a.copy_from_slice(raw);
            Some(a)
        } else {
            None
        };
        if oldact != 0 {
            let old = self.signals.actions[sig as usize];
            guest::store(mem, oldact, &old)?;
        }
        if let Some(a) = new {
            self.signals.actions[sig as usize] = a;
        }
        Ok(0)
    }

    /// `rt_sigprocmask`. Unblocking a pending signal delivers it.
    pub(super) fn rt_sigprocmask(
        &mut self,
        mem: &mut Memory,
        how: u32,
        set: u32,
        oldset: u32,
        sigsetsize: u32,
    ) -> Completion {
        if sigsetsize != 8 {
            return Completion::Returned(Err(Errno::EINVAL));
        }
        let new = if set != 0 {
            match guest::u64_at(mem, set) {
                Ok(s) => Some(s),
                Err(e) => return Completion::Returned(Err(e)),
            }
        } else {
            None
        };
        if oldset != 0 {
            if let Err(e) = guest::store_u64(mem, oldset, self.thread().signals.mask) {
                return Completion::Returned(Err(e));
            }
        }
        if let Some(s) = new {
            let unblockable = 1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1);
            self.thread_mut().signals.mask = match how {
                0 => self.thread_mut().signals.mask | s,
                1 => self.thread_mut().signals.mask & !s,
                2 => s,
                _ => return Completion::Returned(Err(Errno::EINVAL)),
            } & !unblockable;
        }
        let signals = &self.thread().signals;
        let ready = signals.pending & !signals.mask;
        if ready != 0 {
            let sig = ready.trailing_zeros() + 1;
            self.thread_mut().signals.pending &= !(1 << (sig - 1));
            return self.deliver(sig);
        }
        Completion::Returned(Ok(0))
    }

    /// `sigaltstack`.
    pub(super) fn sigaltstack(
        &mut self,
        mem: &mut Memory,
        ss: u32,
        old: u32,
    ) -> Result<u32, Errno> {
        let new = if ss != 0 {
            let raw = guest::bytes(mem, ss, 12)?;
            let mut s = [0u8; 12];
            s.copy_from_slice(raw);
            Some(s)
        } else {
            None
        };
        if old != 0 {
            guest::store(mem, old, &self.thread().signals.altstack)?;
        }
        if let Some(s) = new {
            self.thread_mut().signals.altstack = s;
        }
        Ok(0)
    }

    /// `kill`, `tkill`, `tgkill` aimed at the guest itself: signal 0 probes; a blocked
    /// signal stays pending until unblocked; otherwise it is delivered at once.
    pub(super) fn kill(&mut self, pid: u32, sig: u32) -> Completion {
        if sig > 64 {
            return Completion::Returned(Err(Errno::EINVAL));
        }
        if pid != GUEST_PID && pid != 0 && pid != u32::MAX {
            return Completion::Returned(Err(Errno::ESRCH));
        }
        if sig == 0 {
            return Completion::Returned(Ok(0));
        }
        if self.thread().signals.mask & (1 << (sig - 1)) != 0 {
            self.thread_mut().signals.pending |= 1 << (sig - 1);
            return Completion::Returned(Ok(0));
        }
        self.deliver(sig)
    }

    /// Delivers `sig`: an ignored signal does nothing; a default action ends the process
    /// (or does nothing, for the signals ignored by default). Running a guest handler is not
    /// supported and stops the guest.
    fn deliver(&mut self, sig: u32) -> Completion {
        const SIG_IGN: u32 = 1;
        let a = self.signals.actions[sig as usize];
        let handler = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
        let ignored_by_default = Signal::from_number(sig).is_some_and(Signal::ignored_by_default);
        if handler == SIG_IGN || (handler == 0 && ignored_by_default) {
            return Completion::Returned(Ok(0));
        }
        if handler == 0 {
            return Completion::Killed(sig as i32);
        }
        self.note = Some("running a guest signal handler is not supported");
        Completion::Unsupported
    }

    /// Linux sends SIGPIPE to a writer whose pipe has no reader left (a guest pipe, or the
    /// host's stdout after `| head` exits); by default it ends the process. Blocked or
    /// ignored, the write fails with EPIPE. `result` is the write's.
    pub(super) fn after_write(&mut self, result: Result<u32, Errno>) -> Completion {
        if result == Err(Errno::EPIPE) {
            if let killed @ (Completion::Killed(_) | Completion::Unsupported) =
                self.kill(GUEST_PID, SIGPIPE)
            {
                return killed;
            }
        }
        Completion::Returned(result)
    }
}

/// Says on stderr which signal ended the process, as a shell would; a shell says nothing of
/// a SIGPIPE death (`| head`), and neither does vmkit.
pub(super) fn report_death(sig: i32) {
    if sig as u32 != SIGPIPE {
        eprintln!("vmkit: killed by {}", signal_name(sig as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(0), "0");
        assert_eq!(signal_name(6), "SIGABRT");
        assert_eq!(signal_name(31), "SIGSYS");
        assert_eq!(signal_name(34), "SIGRT2");
    }

    #[test]
    fn the_constants_are_the_tables() {
        assert_eq!(signal_name(SIGPIPE), "SIGPIPE");
        assert_eq!(signal_name(SIGKILL), "SIGKILL");
        assert_eq!(signal_name(SIGSTOP), "SIGSTOP");
        assert_eq!(death_status(11), 139);
    }
}
