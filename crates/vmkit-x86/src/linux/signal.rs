//! Signals of the personality: the one signal table (number, name, default action), the
//! guest's dispositions and blocked mask, and the calls on them (`rt_sigaction`,
//! `rt_sigprocmask`, `sigaltstack`, `kill` aimed at itself). Signals are recorded, not
//! delivered: a guest handler is never run (a call that would need to run one is
//! unsupported), so a signal whose default action ends the process ends it, and a fault ends
//! it too ([`Linux::fault_delivery`]).

use super::errno::Errno;
use super::{guest, Completion, Linux, GUEST_PID};
use vmkit_mem::Memory;

/// One standard signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalInfo {
    /// Its number.
    pub number: u32,
    /// Its name (`SIGSEGV`).
    pub name: &'static str,
    /// Whether its default action is to do nothing (`SIGCHLD`, `SIGCONT`, `SIGURG`,
    /// `SIGWINCH`); every other signal's default action ends (or stops) the process.
    pub ignored_by_default: bool,
}

/// A row of [`SIGNALS`].
const fn signal(number: u32, name: &'static str, ignored_by_default: bool) -> SignalInfo {
    SignalInfo {
        number,
        name,
        ignored_by_default,
    }
}

/// The personality's one signal table: the standard i386 signals 1..=31, by number.
/// Numbers 32..=64 are the real-time signals, `SIGRT<n - 32>`.
pub const SIGNALS: [SignalInfo; 31] = [
    signal(1, "SIGHUP", false),
    signal(2, "SIGINT", false),
    signal(3, "SIGQUIT", false),
    signal(4, "SIGILL", false),
    signal(5, "SIGTRAP", false),
    signal(6, "SIGABRT", false),
    signal(7, "SIGBUS", false),
    signal(8, "SIGFPE", false),
    signal(9, "SIGKILL", false),
    signal(10, "SIGUSR1", false),
    signal(11, "SIGSEGV", false),
    signal(12, "SIGUSR2", false),
    signal(13, "SIGPIPE", false),
    signal(14, "SIGALRM", false),
    signal(15, "SIGTERM", false),
    signal(16, "SIGSTKFLT", false),
    signal(17, "SIGCHLD", true),
    signal(18, "SIGCONT", true),
    signal(19, "SIGSTOP", false),
    signal(20, "SIGTSTP", false),
    signal(21, "SIGTTIN", false),
    signal(22, "SIGTTOU", false),
    signal(23, "SIGURG", true),
    signal(24, "SIGXCPU", false),
    signal(25, "SIGXFSZ", false),
    signal(26, "SIGVTALRM", false),
    signal(27, "SIGPROF", false),
    signal(28, "SIGWINCH", true),
    signal(29, "SIGIO", false),
    signal(30, "SIGPWR", false),
    signal(31, "SIGSYS", false),
];

/// `SIGKILL`: can be neither caught nor blocked.
pub(super) const SIGKILL: u32 = 9;
/// The signal a write into a pipe without readers raises.
pub(super) const SIGPIPE: u32 = 13;
/// `SIGSTOP`: can be neither caught nor blocked.
pub(super) const SIGSTOP: u32 = 19;

/// The row of standard signal `sig`, if it is one.
pub fn signal_info(sig: u32) -> Option<&'static SignalInfo> {
    SIGNALS.get((sig as usize).wrapping_sub(1))
}

/// `SIGHUP`, ..., `SIGRT<n>` for real-time signals, `"0"` for 0.
pub fn signal_name(sig: u32) -> String {
    match signal_info(sig) {
        Some(s) => s.name.to_string(),
        None if sig == 0 => "0".to_string(),
        None => format!("SIGRT{}", sig.saturating_sub(32)),
    }
}

/// The exit status a shell reports for a process that signal `sig` ended: 128 + `sig`.
pub fn death_status(sig: i32) -> i32 {
    128 + sig
}

/// Signal dispositions and the blocked mask. Signals are recorded, not delivered: a handler
/// is never run (a call that would need to run one is unsupported).
#[derive(Clone, Debug)]
pub(super) struct Signals {
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

impl Linux {
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
            if let Err(e) = guest::store_u64(mem, oldset, self.signals.mask) {
                return Completion::Returned(Err(e));
            }
        }
        if let Some(s) = new {
            let unblockable = 1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1);
            self.signals.mask = match how {
                0 => self.signals.mask | s,
                1 => self.signals.mask & !s,
                2 => s,
                _ => return Completion::Returned(Err(Errno::EINVAL)),
            } & !unblockable;
        }
        let ready = self.signals.pending & !self.signals.mask;
        if ready != 0 {
            let sig = ready.trailing_zeros() + 1;
            self.signals.pending &= !(1 << (sig - 1));
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
            guest::store(mem, old, &self.signals.altstack)?;
        }
        if let Some(s) = new {
            self.signals.altstack = s;
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
        if self.signals.mask & (1 << (sig - 1)) != 0 {
            self.signals.pending |= 1 << (sig - 1);
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
        let ignored_by_default = signal_info(sig).is_some_and(|s| s.ignored_by_default);
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
    fn the_table_is_by_number() {
        for (k, s) in SIGNALS.iter().enumerate() {
            assert_eq!(s.number as usize, k + 1);
        }
        assert_eq!(signal_info(SIGPIPE).unwrap().name, "SIGPIPE");
        assert_eq!(signal_info(SIGKILL).unwrap().name, "SIGKILL");
        assert_eq!(signal_info(SIGSTOP).unwrap().name, "SIGSTOP");
    }
}
