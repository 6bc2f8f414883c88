//! The host-signal bridge: host signals become the guest's pending signals.
//!
//! Signals between guest processes are host signals with the same numbers, and so are the
//! host's own (Ctrl-C's SIGINT, a timer's SIGALRM). A host handler (installed with
//! `SA_SIGINFO` and without `SA_RESTART`, so that a blocking host call returns `EINTR`)
//! sets the signal's bit in one process-global atomic set and records who sent it; the
//! personality takes the set at its next interruption point and delivers the signals as
//! the guest's own.
//!
//! - [`forward_host_signals`] installs the handler for every catchable signal (opt-in: the
//!   CLI turns it on; an embedder calls `X86Machine::forward_host_signals`). SIGKILL and
//!   SIGSTOP act on the host process, which is exactly what a native process gets. The
//!   host C library's own real-time signals (32, 33) are left alone.
//! - The guest's timers (`alarm`, `setitimer`) install the handler for their signal alone.
//! - SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGTRAP are the guest's only when a process sent
//!   them (`si_code <= 0`); raised by the host CPU, they are a crash of vmkit itself: the
//!   handler restores the action there was before the bridge (Rust's stack-overflow
//!   report, or the default) and returns, so vmkit crashes as it would have without it.
//! - SIGPIPE stays out of the guest when vmkit's own write raised it (the guest sees that
//!   write's `EPIPE` and gets its own SIGPIPE from it); sent by another process, it is the
//!   guest's.
//!
//! The set is process-global: two machines in one host process share it (and the host's
//! timers), so the bridge and the guest timers are for one guest per host process.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Host signals received and not yet taken by the guest, one bit per signal (bit n - 1).
static PENDING: AtomicU64 = AtomicU64::new(0);
/// The signals whose host handler is installed.
static CAUGHT: AtomicU64 = AtomicU64::new(0);
/// For each signal, the `si_code` and `si_pid` of its last arrival.
static CODE: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];
static PID: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];
/// The action each fault signal had before the bridge replaced it, given back when vmkit
/// itself faults.
static PREVIOUS: [OnceLock<libc::sigaction>; 32] = [const { OnceLock::new() }; 32];

/// The signals a CPU exception raises: only a sender's are the guest's.
const SYNCHRONOUS: [i32; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
];

/// The host handler: records the signal for the guest (see the module documentation).
extern "C" fn on_host_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    if !(1..=64).contains(&sig) || info.is_null() {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, pid) = unsafe { ((*info).si_code, (*info).si_pid()) };
    if SYNCHRONOUS.contains(&sig) && code > 0 {
        // vmkit itself faulted: the action there was before the bridge takes over (Rust's
        // stack-overflow report, or the default), and the instruction runs again.
        match PREVIOUS[sig as usize].get() {
            // SAFETY: restoring a saved disposition is async-signal-safe.
            Some(old) => unsafe {
                libc::sigaction(sig, old, std::ptr::null_mut());
            },
            // SAFETY: as above.
            None => unsafe {
                libc::signal(sig, libc::SIG_DFL);
            },
        }
        return;
    }
    // SAFETY: getpid is async-signal-safe.
    if sig == libc::SIGPIPE && pid == unsafe { libc::getpid() } {
        return;
    }
    CODE[sig as usize].store(code, Ordering::Relaxed);
    PID[sig as usize].store(pid as u32, Ordering::Relaxed);
    PENDING.fetch_or(1 << (sig - 1), Ordering::SeqCst);
}

/// Installs the bridge's handler for host signal `sig`, once.
pub(super) fn catch(sig: u32) -> std::io::Result<()> {
    if !(1..=64).contains(&sig) {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let bit = 1u64 << (sig - 1);
    if CAUGHT.load(Ordering::SeqCst) & bit != 0 {
        return Ok(());
    }
    // SAFETY: `act` is a zeroed sigaction filled with a valid SA_SIGINFO handler and an
    // empty mask; `old` is a valid sigaction for the kernel to fill.
    let (r, old) = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        let mut old: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_host_signal
            as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
            as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        (libc::sigaction(sig as libc::c_int, &act, &mut old), old)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if SYNCHRONOUS.contains(&(sig as i32)) {
        let _ = PREVIOUS[sig as usize].set(old);
    }
    CAUGHT.fetch_or(bit, Ordering::SeqCst);
    Ok(())
}

/// Whether the host's kernel reaps this process's children itself (`on`: the guest set
/// SIGCHLD to `SIG_IGN` or `SA_NOCLDWAIT`, so in Linux its children leave no zombie and
/// `wait` gives ECHILD once they are gone) or keeps them for `wait`. Guest children are host
/// children, so the host disposition of SIGCHLD carries the guest's: the bridge's handler
/// with or without `SA_NOCLDWAIT` when the bridge is on, `SIG_IGN` or `SIG_DFL` otherwise.
pub(super) fn reap_children(on: bool) -> std::io::Result<()> {
    let sig = libc::SIGCHLD;
    let bridged = CAUGHT.load(Ordering::SeqCst) & (1u64 << (sig - 1)) != 0;
    // SAFETY: `act` is a zeroed sigaction given either the bridge's SA_SIGINFO handler or
    // SIG_IGN / SIG_DFL, with an empty mask; no old action is asked for.
    let r = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        if bridged {
            act.sa_sigaction = on_host_signal
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as usize;
            act.sa_flags = libc::SA_SIGINFO | if on { libc::SA_NOCLDWAIT } else { 0 };
        } else {
            act.sa_sigaction = if on { libc::SIG_IGN } else { libc::SIG_DFL };
        }
        libc::sigaction(sig, &act, std::ptr::null_mut())
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Forwards every catchable host signal to the guest (see the module documentation): Ctrl-C
/// reaches the guest as SIGINT, `kill` from another process as that signal, and a
/// blocking call of the guest returns to it when one arrives. For one guest per host
/// process (the set is process-global). A signal the host does not let this process catch
/// (valgrind keeps one for itself) is left alone.
pub fn forward_host_signals() -> std::io::Result<()> {
    for sig in 1..=64u32 {
        let host_internal = sig == 32 || sig == 33;
        if sig == libc::SIGKILL as u32 || sig == libc::SIGSTOP as u32 || host_internal {
            continue;
        }
        match catch(sig) {
            Ok(()) => {}
            // A signal the host keeps for itself (valgrind reserves the last real-time
            // one): nothing can send it to this process, so there is nothing to forward.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Takes the host signals received since the last call: a set, and for each signal its
/// `si_code` and sender pid (host pids: the process table maps them to guest pids).
pub(super) fn take() -> u64 {
    if PENDING.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    PENDING.swap(0, Ordering::SeqCst)
}

/// The `si_code` and sender (host) pid of the last arrival of host signal `sig`.
pub(super) fn sender(sig: u32) -> (i32, u32) {
    let i = (sig as usize).min(64);
    (
        CODE[i].load(Ordering::Relaxed),
        PID[i].load(Ordering::Relaxed),
    )
}

/// Drops host signals received and not taken (a forked child starts with none).
pub(super) fn forget_pending() {
    PENDING.store(0, Ordering::SeqCst);
}

/// The host signal mask before [`block_caught`].
#[derive(Clone, Copy)]
pub(in crate::linux) struct Blocked(libc::sigset_t);

/// Blocks the bridged host signals until [`unblock`]: around a host `fork`, so that a
/// signal sent to the new child before it has dropped the parent's pending set stays
/// pending in the child's kernel and reaches it afterwards.
pub(in crate::linux) fn block_caught() -> Blocked {
    let caught = CAUGHT.load(Ordering::SeqCst);
    // SAFETY: signal-set manipulation on local sets.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        for sig in 1..=64 {
            if caught & (1 << (sig - 1)) != 0 {
                libc::sigaddset(&mut block, sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        Blocked(old)
    }
}

/// Restores the mask [`block_caught`] saved.
pub(in crate::linux) fn unblock(old: Blocked) {
    // SAFETY: restoring a mask saved by pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old.0, std::ptr::null_mut()) };
}

/// Waits until a bridged host signal arrives or `timeout` passes (`None`: no limit),
/// without the race of a signal arriving just before the wait: the bridged signals are
/// blocked while the pending set is checked, and `ppoll` unblocks them atomically.
/// Returns at once if a signal is already waiting to be taken.
pub(super) fn wait(timeout: Option<Duration>) {
    let caught = CAUGHT.load(Ordering::SeqCst);
    // SAFETY: plain signal-set manipulation on local sets; ppoll with no descriptors only
    // sleeps; the old mask is restored before returning.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        for sig in 1..=64 {
            if caught & (1 << (sig - 1)) != 0 {
                libc::sigaddset(&mut block, sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        if PENDING.load(Ordering::SeqCst) == 0 {
            let mut during = old;
            for sig in 1..=64 {
                if caught & (1 << (sig - 1)) != 0 {
                    libc::sigdelset(&mut during, sig);
                }
            }
            let ts = timeout.map(|d| libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let tsp = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            libc::ppoll(std::ptr::null_mut(), 0, tsp, &during);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}
