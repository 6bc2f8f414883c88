//! The guest's interval timers: `alarm`, `setitimer`, `getitimer`, on the host's own timers
//! of the same kind. A timer's host signal comes back through the bridge
//! ([`super::host`]), whose handler the first use of the timer installs, and reaches the
//! guest as it would natively (SIGALRM with `si_code` `SI_KERNEL`).
//!
//! `ITIMER_REAL` (and `alarm`) count wall-clock time, exactly. `ITIMER_VIRTUAL` and
//! `ITIMER_PROF` count the CPU time of the vmkit process, which runs the guest: a guest's
//! CPU time as the host measures it.

use super::{host, Linux};
use crate::linux::errno::Errno;
use crate::linux::guest;
use vmkit_mem::Memory;

/// The signal each timer sends: `ITIMER_REAL`, `ITIMER_VIRTUAL`, `ITIMER_PROF`.
const TIMER_SIGNALS: [u32; 3] = [14, 26, 27];

/// An `itimerval` of 32-bit words (interval, value; seconds and microseconds each).
fn load_itimerval(mem: &Memory, at: u32) -> Result<libc::itimerval, Errno> {
    let b = guest::bytes(mem, at, 16)?;
    let word = |k: usize| i32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
    let tv = |k: usize| -> Result<libc::timeval, Errno> {
        let (s, us) = (word(k), word(k + 4));
        if s < 0 || !(0..1_000_000).contains(&us) {
            return Err(Errno::EINVAL);
        }
        Ok(libc::timeval {
            tv_sec: s as libc::time_t,
            tv_usec: us as libc::suseconds_t,
        })
    };
    Ok(libc::itimerval {
        it_interval: tv(0)?,
        it_value: tv(8)?,
    })
}

fn store_itimerval(mem: &mut Memory, at: u32, v: &libc::itimerval) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    for (k, w) in [
        v.it_interval.tv_sec as u32,
        v.it_interval.tv_usec as u32,
        v.it_value.tv_sec as u32,
        v.it_value.tv_usec as u32,
    ]
    .iter()
    .enumerate()
    {
        b[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
    }
    guest::store(mem, at, &b)
}

impl Linux {
    /// `alarm(seconds)`: SIGALRM after `seconds` (0 cancels); answers the seconds the
    /// previous alarm had left.
    pub(in crate::linux) fn alarm(&mut self, seconds: u32) -> Result<u32, Errno> {
        host::catch(TIMER_SIGNALS[0]).map_err(|e| Errno::from_io(&e))?;
        // SAFETY: alarm has no memory effects.
        Ok(unsafe { libc::alarm(seconds) })
    }

    /// `setitimer(which, new, old)`.
    pub(in crate::linux) fn setitimer(
        &mut self,
        mem: &mut Memory,
        which: u32,
        new: u32,
        old: u32,
    ) -> Result<u32, Errno> {
        let sig = *TIMER_SIGNALS.get(which as usize).ok_or(Errno::EINVAL)?;
        let value = if new != 0 {
            load_itimerval(mem, new)?
        } else {
            // A null new value disarms the timer, as Linux (with a warning) does.
            // SAFETY: zero is a valid itimerval.
            unsafe { std::mem::zeroed() }
        };
        host::catch(sig).map_err(|e| Errno::from_io(&e))?;
        // SAFETY: both pointers are to valid itimervals for the call.
        let mut previous: libc::itimerval = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::setitimer(which as libc::c_int, &value, &mut previous) } != 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        if old != 0 {
            store_itimerval(mem, old, &previous)?;
        }
        Ok(0)
    }

    /// `getitimer(which, value)`.
    pub(in crate::linux) fn getitimer(
        &mut self,
        mem: &mut Memory,
        which: u32,
        at: u32,
    ) -> Result<u32, Errno> {
        if which as usize >= TIMER_SIGNALS.len() {
            return Err(Errno::EINVAL);
        }
        // SAFETY: zero is a valid itimerval, which getitimer fills.
        let mut value: libc::itimerval = unsafe { std::mem::zeroed() };
        // SAFETY: `value` is valid for the call.
        if unsafe { libc::getitimer(which as libc::c_int, &mut value) } != 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        store_itimerval(mem, at, &value).map(|_| 0)
    }
}
