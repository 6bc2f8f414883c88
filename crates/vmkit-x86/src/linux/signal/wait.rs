//! Waiting for signals: `pause`, `rt_sigsuspend`, `sigsuspend`, `rt_sigtimedwait`, and the
//! sleep of `nanosleep` that a signal cuts short. Every signal that can reach the guest
//! while it waits is a host signal (a timer's, another process's, the terminal's), so a
//! wait is the host's, through the bridge ([`super::host::wait`]).

use super::{bit, host, Linux, SigInfo, UNBLOCKABLE};
use crate::linux::errno::Errno;
use crate::linux::guest;
use std::time::{Duration, Instant};
use vmkit_mem::Memory;

impl Linux {
    /// Whether a signal is pending that the mask lets through and that does something
    /// (runs a handler, ends or stops the process): what ends a wait.
    fn signal_wakes(&mut self) -> bool {
        self.absorb_host_signals();
        let t = &self.thread().signals;
        let ready = (t.pending | self.signals.pending) & !t.mask;
        (1..=64u32).any(|sig| ready & bit(sig) != 0 && !self.ignores(sig))
    }

    /// Waits until a signal that does something is pending ([`Linux::signal_wakes`]), or
    /// `timeout` has passed (`None`: no limit). Returns the time left when a signal came.
    fn wait_for_signal(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        let deadline = timeout.map(|d| Instant::now() + d);
        loop {
            let left = deadline.map(|t| t.saturating_duration_since(Instant::now()));
            if self.signal_wakes() {
                return Some(left.unwrap_or_default());
            }
            if left == Some(Duration::ZERO) {
                return None;
            }
            host::wait(left);
        }
    }

    /// Sleeps for `d` unless a signal comes first: `Some(time left)` then.
    pub(in crate::linux) fn sleep_interruptibly(&mut self, d: Duration) -> Option<Duration> {
        self.wait_for_signal(Some(d))
    }

    /// `pause`: returns `EINTR` once a signal was delivered.
    pub(in crate::linux) fn pause(&mut self) -> Result<u32, Errno> {
        self.wait_for_signal(None);
        Err(Errno::EINTR)
    }

    /// `rt_sigsuspend(set, sigsetsize)`: waits with `set` as the mask; the handler's frame
    /// saves the mask of before, which its return restores.
    pub(in crate::linux) fn rt_sigsuspend(
        &mut self,
        mem: &mut Memory,
        set: u32,
        sigsetsize: u32,
    ) -> Result<u32, Errno> {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let mask = guest::u64_at(mem, set)?;
        self.suspend(mask)
    }

    /// The old `sigsuspend(_, _, mask)` (the 32-bit mask is the third argument on i386).
    pub(in crate::linux) fn sigsuspend(&mut self, mask: u32) -> Result<u32, Errno> {
        let high = self.thread().signals.mask & !0xFFFF_FFFF;
        self.suspend(high | mask as u64)
    }

    fn suspend(&mut self, mask: u64) -> Result<u32, Errno> {
        let t = &mut self.thread_mut().signals;
        t.saved_mask = Some(t.mask);
        t.mask = mask & !UNBLOCKABLE;
        self.wait_for_signal(None);
        Err(Errno::EINTR)
    }

    /// `rt_sigtimedwait(set, info, timeout, sigsetsize)` (`time64`: the timeout is a 64-bit
    /// `timespec`): takes a pending signal of `set` without running its handler, waiting
    /// for one at most `timeout` (`EAGAIN` after). A signal outside `set` that does
    /// something interrupts the wait (`EINTR`).
    pub(in crate::linux) fn rt_sigtimedwait(
        &mut self,
        mem: &mut Memory,
        set: u32,
        info: u32,
        timeout: u32,
        sigsetsize: u32,
        time64: bool,
    ) -> Result<u32, Errno> {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let wanted = guest::u64_at(mem, set)? & !UNBLOCKABLE;
        let limit = if timeout == 0 {
            None
        } else {
            let (s, ns) = if time64 {
                let b = guest::bytes(mem, timeout, 12)?;
                let mut q = [0u8; 8];
                q.copy_from_slice(&b[..8]);
                (
                    i64::from_le_bytes(q),
                    i32::from_le_bytes([b[8], b[9], b[10], b[11]]) as i64,
                )
            } else {
                (
                    guest::u32_at(mem, timeout)? as i32 as i64,
                    guest::u32_at(mem, timeout.wrapping_add(4))? as i32 as i64,
                )
            };
            if s < 0 || !(0..1_000_000_000).contains(&ns) {
                return Err(Errno::EINVAL);
            }
            Some(Duration::new(s as u64, ns as u32))
        };
        let deadline = limit.map(|d| Instant::now() + d);
        // While waiting, the signals of `set` are taken here, not delivered.
        let mask = self.thread().signals.mask;
        loop {
            self.absorb_host_signals();
            if let Some((sig, si)) = self.take_pending(wanted) {
                if info != 0 {
                    guest::store(mem, info, &si.to_bytes(sig))?;
                }
                return Ok(sig);
            }
            self.thread_mut().signals.mask = mask & !wanted;
            let interrupted = self.signal_wakes();
            self.thread_mut().signals.mask = mask;
            if interrupted {
                return Err(Errno::EINTR);
            }
            let left = deadline.map(|t| t.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(Errno::EAGAIN);
            }
            host::wait(left);
        }
    }

    /// Takes the lowest pending signal of `set` (thread-directed first), with its
    /// `siginfo`.
    pub(super) fn take_pending(&mut self, set: u64) -> Option<(u32, SigInfo)> {
        let t = &mut self.thread_mut().signals;
        if t.pending & set != 0 {
            let sig = (t.pending & set).trailing_zeros() + 1;
            t.pending &= !bit(sig);
            return Some((sig, t.info[sig as usize - 1]));
        }
        let s = &mut self.signals;
        if s.pending & set != 0 {
            let sig = (s.pending & set).trailing_zeros() + 1;
            s.pending &= !bit(sig);
            return Some((sig, s.info[sig as usize - 1]));
        }
        None
    }
}
