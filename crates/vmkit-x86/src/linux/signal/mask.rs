//! The blocked mask and what waits behind it: `rt_sigprocmask`, `sigprocmask`,
//! `rt_sigpending`, `sigpending`; and the alternate stack, `sigaltstack`. A signal that
//! unblocking makes deliverable is delivered at the call's return (the next
//! interruption point), as Linux delivers it on the way back to user mode.

use super::{AltStack, Linux, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE};
use crate::linux::errno::Errno;
use crate::linux::guest;
use vmkit_mem::Memory;

/// `SIG_BLOCK`, `SIG_UNBLOCK`, `SIG_SETMASK`.
const SIG_BLOCK: u32 = 0;
const SIG_UNBLOCK: u32 = 1;
const SIG_SETMASK: u32 = 2;

/// `MINSIGSTKSZ` of i386.
const MINSIGSTKSZ: u32 = 2048;

/// `mask` changed by `how` with `set`.
fn change(mask: u64, how: u32, set: u64) -> Result<u64, Errno> {
    let new = match how {
        SIG_BLOCK => mask | set,
        SIG_UNBLOCK => mask & !set,
        SIG_SETMASK => set,
        _ => return Err(Errno::EINVAL),
    };
    Ok(new & !UNBLOCKABLE)
}

impl Linux {
    /// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
    pub(in crate::linux) fn rt_sigprocmask(
        &mut self,
        mem: &mut Memory,
        how: u32,
        set: u32,
        oldset: u32,
        sigsetsize: u32,
    ) -> Result<u32, Errno> {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let mask = self.thread().signals.mask;
        let new = match set {
            0 => None,
            _ => Some(change(mask, how, guest::u64_at(mem, set)?)?),
        };
        if oldset != 0 {
            guest::store_u64(mem, oldset, mask)?;
        }
        if let Some(m) = new {
            self.thread_mut().signals.mask = m;
        }
        Ok(0)
    }

    /// The old `sigprocmask(how, set, oldset)` on the first 32 signals (`old_sigset_t`).
    pub(in crate::linux) fn sigprocmask(
        &mut self,
        mem: &mut Memory,
        how: u32,
        set: u32,
        oldset: u32,
    ) -> Result<u32, Errno> {
        let mask = self.thread().signals.mask;
        let new = match set {
            0 => None,
            _ => {
                let low = guest::u32_at(mem, set)? as u64;
                let changed = match how {
                    SIG_SETMASK => (mask & !0xFFFF_FFFF) | low,
                    _ => change(mask, how, low)?,
                };
                Some(changed & !UNBLOCKABLE)
            }
        };
        if oldset != 0 {
            guest::store_u32(mem, oldset, mask as u32)?;
        }
        if let Some(m) = new {
            self.thread_mut().signals.mask = m;
        }
        Ok(0)
    }

    /// `sgetmask`: the first 32 signals of the mask.
    pub(in crate::linux) fn sgetmask(&mut self) -> Result<u32, Errno> {
        Ok(self.thread().signals.mask as u32)
    }

    /// `ssetmask(mask)`: replaces the first 32 signals of the mask; answers the old ones.
    pub(in crate::linux) fn ssetmask(&mut self, mask: u32) -> Result<u32, Errno> {
        let t = &mut self.thread_mut().signals;
        let old = t.mask as u32;
        t.mask = ((t.mask & !0xFFFF_FFFF) | mask as u64) & !UNBLOCKABLE;
        Ok(old)
    }

    /// The signals pending for the thread or its process that its mask blocks.
    fn blocked_pending(&mut self) -> u64 {
        self.absorb_host_signals();
        let t = &self.thread().signals;
        (t.pending | self.signals.pending) & t.mask
    }

    /// `rt_sigpending(set, sigsetsize)`.
    pub(in crate::linux) fn rt_sigpending(
        &mut self,
        mem: &mut Memory,
        set: u32,
        sigsetsize: u32,
    ) -> Result<u32, Errno> {
        if sigsetsize > 8 {
            return Err(Errno::EINVAL);
        }
        let pending = self.blocked_pending().to_le_bytes();
        guest::store(mem, set, &pending[..sigsetsize as usize]).map(|_| 0)
    }

    /// The old `sigpending(set)` (the first 32 signals).
    pub(in crate::linux) fn sigpending(
        &mut self,
        mem: &mut Memory,
        set: u32,
    ) -> Result<u32, Errno> {
        let pending = self.blocked_pending() as u32;
        guest::store_u32(mem, set, pending).map(|_| 0)
    }

    /// `sigaltstack(ss, old)`; `sp` is the caller's stack pointer.
    pub(in crate::linux) fn sigaltstack(
        &mut self,
        mem: &mut Memory,
        ss: u32,
        old: u32,
        sp: u32,
    ) -> Result<u32, Errno> {
        let current = self.thread().signals.altstack;
        let new = if ss != 0 {
            Some(guest::bytes(mem, ss, 12)?.to_vec())
        } else {
            None
        };
        if let Some(new) = new {
            self.set_altstack(&new, sp)?;
        }
        if old != 0 {
            guest::store(mem, old, &current.reported(sp))?;
        }
        Ok(0)
    }

    /// Sets the alternate stack from a `stack_t` image, as `do_sigaltstack`: not while
    /// running on it (`EPERM`), known flags only (`EINVAL`), at least `MINSIGSTKSZ` bytes
    /// (`ENOMEM`).
    pub(super) fn set_altstack(&mut self, image: &[u8], sp: u32) -> Result<(), Errno> {
        let word =
            |k: usize| u32::from_le_bytes([image[k], image[k + 1], image[k + 2], image[k + 3]]);
        let (ss_sp, flags, size) = (word(0), word(4), word(8));
        let current = self.thread().signals.altstack;
        if current.on(sp) {
            return Err(Errno::EPERM);
        }
        let mode = flags & !SS_AUTODISARM;
        if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
            return Err(Errno::EINVAL);
        }
        self.thread_mut().signals.altstack = if mode == SS_DISABLE {
            AltStack {
                sp: 0,
                size: 0,
                flags,
            }
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            AltStack {
                sp: ss_sp,
                size,
                flags,
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_change_as_linux_changes_them() {
        assert_eq!(change(0b0011, SIG_BLOCK, 0b0100), Ok(0b0111));
        assert_eq!(change(0b0111, SIG_UNBLOCK, 0b0001), Ok(0b0110));
        assert_eq!(change(0b0111, SIG_SETMASK, !0), Ok(!UNBLOCKABLE));
        assert_eq!(change(0, 7, 1), Err(Errno::EINVAL));
    }
}
