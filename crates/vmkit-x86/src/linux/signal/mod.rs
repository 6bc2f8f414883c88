//! Signals of the personality, numbered and named by the one signal table of both guests
//! ([`vmkit_vm::signal`]), delivered to guest handlers as Linux i386 delivers them.
//!
//! | file | owns |
//! |---|---|
//! | `mod` (this) | the state: process-wide dispositions and pending set ([`Signals`]), each thread's mask, pending set and alternate stack ([`ThreadSignals`]), `siginfo` ([`SigInfo`]), names, the death status |
//! | `action` | `rt_sigaction`, `sigaction`; the read-only sigreturn trampoline page |
//! | `mask` | `rt_sigprocmask`, `sigprocmask`, `rt_sigpending`, `sigpending`, `sigaltstack` |
//! | `wait` | `pause`, `rt_sigsuspend`, `sigsuspend`, `rt_sigtimedwait`, and sleeping that a signal interrupts (`nanosleep`) |
//! | `frame` | the i386 `sigframe` / `rt_sigframe` layouts, `sigreturn`, `rt_sigreturn` |
//! | `deliver` | sending (`kill`, `tkill`, `tgkill` to itself, SIGPIPE), delivery at interruption points and on faults, restarting interrupted calls (`SA_RESTART`) |
//! | `timer` | `alarm`, `setitimer`, `getitimer`, on the host's own timers |
//! | `host` | the host-signal bridge: host signals become the guest's pending signals |
//!
//! Signals are delivered where the run loop calls [`super::Kernel::at_boundary`] (after each
//! system call, fault and time slice) and, for a fault, in [`super::Kernel::on_fault`].
//! Standard and real-time signals alike are a bit in a pending set: a real-time signal
//! sent twice before it is delivered is delivered once (Linux would queue both).

mod action;
mod deliver;
mod frame;
pub mod host;
mod mask;
mod timer;
mod wait;

use super::Linux;
use vmkit_vm::signal::Signal;

/// `SIGKILL`: can be neither caught nor blocked.
pub(super) const SIGKILL: u32 = Signal::KILL.number();
/// The signal a write into a pipe without readers raises.
pub(super) const SIGPIPE: u32 = Signal::PIPE.number();
/// `SIGSTOP`: can be neither caught nor blocked.
pub(super) const SIGSTOP: u32 = Signal::STOP.number();
/// `SIGSEGV`: what a frame that cannot be written or read back ends in.
const SIGSEGV: u32 = Signal::SEGV.number();

/// The two signals no mask holds.
const UNBLOCKABLE: u64 = 1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1);

/// `SIG_DFL`: the default action.
const SIG_DFL: u32 = 0;
/// `SIG_IGN`: ignore the signal.
const SIG_IGN: u32 = 1;

/// `sa_flags` bits of `<asm/signal.h>` (i386).
const SA_SIGINFO: u32 = 0x0000_0004;
const SA_RESTORER: u32 = 0x0400_0000;
const SA_ONSTACK: u32 = 0x0800_0000;
const SA_RESTART: u32 = 0x1000_0000;
const SA_NODEFER: u32 = 0x4000_0000;
const SA_RESETHAND: u32 = 0x8000_0000;

/// `si_code` values of `<asm-generic/siginfo.h>`.
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const SI_TKILL: i32 = -6;

/// The bit of signal `sig` (1..=64) in a signal set.
const fn bit(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// `SIGHUP`, ..., `SIGRT<n>` for real-time signals, `"0"` for 0: the name in the one
/// signal table ([`vmkit_vm::signal`]).
pub fn signal_name(sig: u32) -> String {
    vmkit_vm::signal::signal_name(sig).into_owned()
}

/// The exit status a shell reports for a process that signal `sig` ended: 128 + `sig`.
pub fn death_status(sig: i32) -> i32 {
    Signal::from_number(sig as u32).map_or(128 + sig, Signal::exit_status)
}

/// A disposition as the kernel's i386 `struct sigaction` holds it (`rt_sigaction`'s
/// layout: handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Action {
    /// `SIG_DFL`, `SIG_IGN` or the handler's address.
    handler: u32,
    /// `SA_*` flags.
    flags: u32,
    /// `sa_restorer`: where the handler returns to, with `SA_RESTORER`.
    restorer: u32,
    /// Signals blocked while the handler runs (besides the signal itself).
    mask: u64,
}

impl Action {
    /// The 20-byte kernel `sigaction` image.
    fn from_bytes(b: &[u8]) -> Action {
        let word = |k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        Action {
            handler: word(0),
            flags: word(4),
            restorer: word(8),
            mask: word(12) as u64 | (word(16) as u64) << 32,
        }
    }

    /// The 20-byte kernel `sigaction` image.
    fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&self.handler.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.restorer.to_le_bytes());
        b[12..20].copy_from_slice(&self.mask.to_le_bytes());
        b
    }

    /// Whether a guest handler runs for the signal.
    fn has_handler(self) -> bool {
        self.handler != SIG_DFL && self.handler != SIG_IGN
    }
}

/// What `siginfo_t` says of one pending signal beyond its number: `si_code` and the first
/// three words of the union (pid and uid for `kill`, the address for a fault).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SigInfo {
    /// `si_code`.
    code: i32,
    /// The union's words at offsets 12, 16 and 20.
    words: [u32; 3],
}

impl SigInfo {
    /// Sent by a process (`kill`: `SI_USER`; `tkill`: `SI_TKILL`) with this pid and uid.
    fn sent(code: i32, pid: u32, uid: u32) -> SigInfo {
        SigInfo {
            code,
            words: [pid, uid, 0],
        }
    }

    /// Raised by an instruction: `si_addr`.
    fn fault(code: i32, addr: u32) -> SigInfo {
        SigInfo {
            code,
            words: [addr, 0, 0],
        }
    }

    /// The 128-byte i386 `siginfo_t` of signal `sig`.
    fn to_bytes(self, sig: u32) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&sig.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        for (k, w) in self.words.iter().enumerate() {
            b[12 + 4 * k..16 + 4 * k].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

/// `SS_ONSTACK`, `SS_DISABLE`, `SS_AUTODISARM` of `stack_t.ss_flags`.
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;

/// A thread's alternate signal stack (`sigaltstack`), as the kernel keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AltStack {
    /// Its lowest address.
    sp: u32,
    /// Its size in bytes; 0 when disabled.
    size: u32,
    /// `ss_flags` as `sigaltstack` set them (`SS_DISABLE`, `SS_AUTODISARM`, ...).
    flags: u32,
}

impl Default for AltStack {
    fn default() -> AltStack {
        AltStack {
            sp: 0,
            size: 0,
            flags: SS_DISABLE,
        }
    }
}

impl AltStack {
    /// Whether stack pointer `sp` is within this stack (the kernel's `__on_sig_stack`).
    fn holds(self, sp: u32) -> bool {
        sp > self.sp && sp.wrapping_sub(self.sp) <= self.size
    }

    /// Whether the thread runs on this stack (`on_sig_stack`: never with
    /// `SS_AUTODISARM`, which gives the stack up on each use).
    fn on(self, sp: u32) -> bool {
        self.flags & SS_AUTODISARM == 0 && self.holds(sp)
    }

    /// `sas_ss_flags`: `SS_DISABLE`, `SS_ONSTACK` or 0, as seen from `sp`.
    fn state(self, sp: u32) -> u32 {
        if self.size == 0 {
            SS_DISABLE
        } else if self.on(sp) {
            SS_ONSTACK
        } else {
            0
        }
    }

    /// The 12-byte `stack_t` (`ss_sp`, `ss_flags`, `ss_size`) with `flags`.
    fn to_bytes(self, flags: u32) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.sp.to_le_bytes());
        b[4..8].copy_from_slice(&flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        b
    }

    /// The `stack_t` `sigaltstack` reports, seen from `sp`.
    fn reported(self, sp: u32) -> [u8; 12] {
        self.to_bytes(self.state(sp) | (self.flags & SS_AUTODISARM))
    }

    /// The `stack_t` a frame's `uc_stack` saves (the flags as set).
    fn saved(self) -> [u8; 12] {
        self.to_bytes(self.flags)
    }
}

/// The process's signal state, shared by its threads: dispositions, and the signals sent
/// to the process (not to one thread) that wait for delivery.
#[derive(Clone, Debug)]
pub(super) struct Signals {
    /// The disposition of each signal 1..=64 (index 0 unused).
    actions: [Action; 65],
    /// Process-directed signals waiting for delivery.
    pending: u64,
    /// Their `siginfo`, by signal number - 1.
    info: [SigInfo; 64],
    /// The read-only page holding the `sigreturn` and `rt_sigreturn` trampolines, once
    /// mapped (see `action`).
    trampoline: Option<u32>,
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            actions: [Action::default(); 65],
            pending: 0,
            info: [SigInfo::default(); 64],
            trampoline: None,
        }
    }
}

/// A thread's own signal state: its blocked mask, the signals pending for it, its
/// alternate signal stack, and what an interrupted system call left to decide.
#[derive(Clone, Debug)]
pub(super) struct ThreadSignals {
    /// Blocked signals.
    mask: u64,
    /// Thread-directed signals waiting for delivery (`tkill`, SIGPIPE, faults).
    pending: u64,
    /// Their `siginfo`, by signal number - 1.
    info: [SigInfo; 64],
    /// The alternate signal stack.
    altstack: AltStack,
    /// The number of the system call a host signal interrupted (it returned
    /// `ERESTARTSYS`): delivery restarts it or makes it `EINTR`.
    interrupted: Option<u32>,
    /// The mask to restore after `sigsuspend`'s temporary one (what the handler's frame
    /// saves).
    saved_mask: Option<u64>,
}

impl Default for ThreadSignals {
    fn default() -> ThreadSignals {
        ThreadSignals {
            mask: 0,
            pending: 0,
            info: [SigInfo::default(); 64],
            altstack: AltStack::default(),
            interrupted: None,
            saved_mask: None,
        }
    }
}

impl ThreadSignals {
    /// The signal state of a new thread this one creates: the same mask, nothing pending,
    /// no alternate stack (as `clone` of a thread gives).
    pub(super) fn for_new_thread(&self) -> ThreadSignals {
        ThreadSignals {
            mask: self.mask,
            ..ThreadSignals::default()
        }
    }

    /// Makes `sig` (1..=64) pending for this thread, sent by `tkill`/`tgkill` from within
    /// process `pid`.
    pub(super) fn raise(&mut self, sig: u32, pid: u32) {
        if self.pending & bit(sig) == 0 {
            self.info[sig as usize - 1] = SigInfo::sent(SI_TKILL, pid, super::GUEST_UID);
        }
        self.pending |= bit(sig);
    }

    /// Whether this thread blocks `sig` (1..=64).
    pub(super) fn blocks(&self, sig: u32) -> bool {
        self.mask & bit(sig) != 0
    }

    /// Records that system call `nr` returned `ERESTARTSYS` (a host signal interrupted it).
    pub(super) fn set_interrupted(&mut self, nr: u32) {
        self.interrupted = Some(nr);
    }
}

impl Linux {
    /// After `fork`, in the child: no signal is pending (the host's bridge included), as
    /// Linux gives a child an empty pending set; dispositions, mask and alternate stack are
    /// kept.
    pub(super) fn signals_after_fork(&mut self) {
        self.signals.pending = 0;
        let t = &mut self.thread_mut().signals;
        t.pending = 0;
        t.interrupted = None;
        host::forget_pending();
    }

    /// After `execve`: handlers go back to the default action (ignored signals stay
    /// ignored), the alternate stack and the trampoline page are gone with the old address
    /// space; the mask and pending signals are kept.
    #[allow(dead_code)] // the process part calls the two halves itself
    pub(super) fn signals_on_exec(&mut self) {
        self.signals.reset_for_exec();
        self.thread_mut().signals.reset_for_exec();
    }
}

impl Signals {
    /// `execve`: caught signals go back to their default action, ignored ones stay
    /// ignored; the trampoline page went with the old address space.
    pub(super) fn reset_for_exec(&mut self) {
        for a in self.actions.iter_mut() {
            if a.handler != SIG_IGN {
                *a = Action::default();
            }
        }
        self.trampoline = None;
    }
}

impl ThreadSignals {
    /// `execve`: the mask and pending signals stay; the alternate stack and a pending
    /// `sigsuspend` mask go.
    pub(super) fn reset_for_exec(&mut self) {
        self.altstack = AltStack::default();
        self.saved_mask = None;
        self.interrupted = None;
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

    #[test]
    fn actions_round_trip_the_kernel_layout() {
        let raw: Vec<u8> = (1..=20).collect();
        let a = Action::from_bytes(&raw);
        assert_eq!(a.handler, 0x0403_0201);
        assert_eq!(a.mask, 0x1413_1211_100F_0E0D);
        assert_eq!(a.to_bytes().to_vec(), raw);
    }

    #[test]
    fn the_alternate_stack_as_the_kernel_sees_it() {
        let alt = AltStack {
            sp: 0x1000,
            size: 0x2000,
            flags: 0,
        };
        assert!(alt.holds(0x3000) && alt.holds(0x1001) && !alt.holds(0x1000));
        assert_eq!(alt.state(0x2000), SS_ONSTACK);
        assert_eq!(alt.state(0x8000), 0);
        assert_eq!(AltStack::default().state(0x2000), SS_DISABLE);
        let disarming = AltStack {
            flags: SS_AUTODISARM,
            ..alt
        };
        assert_eq!(disarming.state(0x2000), 0);
        assert_eq!(
            &disarming.reported(0x2000)[4..8],
            &SS_AUTODISARM.to_le_bytes()
        );
    }
}
