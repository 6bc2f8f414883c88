//! Dispositions: `rt_sigaction`, the old `sigaction`, and the trampoline page a handler
//! without `SA_RESTORER` returns through.
//!
//! The trampoline page: the native kernel points such a handler's return address at the
//! vDSO's `__kernel_sigreturn` / `__kernel_rt_sigreturn`. vmkit has no vDSO, so the first
//! time such a handler is installed it maps one anonymous page, read-only and executable,
//! holding the same two sequences (`sigreturn` at its start, `rt_sigreturn` 8 bytes in),
//! where the address space places an `mmap` (the guest sees it in its map as an anonymous
//! `r-x` page). The frame's own `retcode` would need an executable stack.

use super::frame::{RT_SIGRETURN_CODE, SIGRETURN_CODE};
use super::{bit, Action, Linux, SA_NODEFER, SA_RESETHAND, SA_RESTORER, SIGKILL, SIGSTOP};
use super::{host, SIG_IGN, UNBLOCKABLE};

/// `SIGCHLD`: its disposition also decides whether ended children are kept for `wait`.
const SIGCHLD: u32 = vmkit_vm::signal::Signal::CHLD.number();
/// `SA_NOCLDWAIT`: children that end are not kept for `wait`.
const SA_NOCLDWAIT: u32 = 2;
use crate::linux::errno::Errno;
use crate::linux::guest;
use vmkit_mem::Memory;

impl Linux {
    /// `rt_sigaction(sig, act, oldact, sigsetsize)`.
    pub(in crate::linux) fn rt_sigaction(
        &mut self,
        mem: &mut Memory,
        sig: u32,
        act: u32,
        oldact: u32,
        sigsetsize: u32,
    ) -> Result<u32, Errno> {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let new = if act != 0 {
            Some(Action::from_bytes(guest::bytes(mem, act, 20)?))
        } else {
            None
        };
        let old = self.set_action(mem, sig, new)?;
        if oldact != 0 {
            guest::store(mem, oldact, &old.to_bytes())?;
        }
        Ok(0)
    }

    /// The old `sigaction(sig, act, oldact)` with `struct old_sigaction`: handler, a 32-bit
    /// mask, flags, restorer.
    pub(in crate::linux) fn old_sigaction(
        &mut self,
        mem: &mut Memory,
        sig: u32,
        act: u32,
        oldact: u32,
    ) -> Result<u32, Errno> {
        let word = |b: &[u8], k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        let new = if act != 0 {
            let b = guest::bytes(mem, act, 16)?;
            Some(Action {
                handler: word(b, 0),
                mask: word(b, 4) as u64,
                flags: word(b, 8),
                restorer: word(b, 12),
            })
        } else {
            None
        };
        let old = self.set_action(mem, sig, new)?;
        if oldact != 0 {
            let mut b = [0u8; 16];
            for (k, v) in [old.handler, old.mask as u32, old.flags, old.restorer]
                .iter()
                .enumerate()
            {
                b[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
            }
            guest::store(mem, oldact, &b)?;
        }
        Ok(0)
    }

    /// The old `signal(sig, handler)`: the handler with `SA_RESETHAND | SA_NODEFER` (System
    /// V semantics, as the kernel gives it); answers the old handler.
    pub(in crate::linux) fn signal(
        &mut self,
        mem: &mut Memory,
        sig: u32,
        handler: u32,
    ) -> Result<u32, Errno> {
        let new = Action {
            handler,
            flags: SA_RESETHAND | SA_NODEFER,
            restorer: 0,
            mask: 0,
        };
        self.set_action(mem, sig, Some(new)).map(|old| old.handler)
    }

    /// Sets the disposition of `sig` (when `new` is given) and answers the old one, as
    /// `do_sigaction`: SIGKILL and SIGSTOP keep theirs, the handler's mask never holds
    /// them, and a signal now ignored is dropped from every pending set.
    fn set_action(
        &mut self,
        mem: &mut Memory,
        sig: u32,
        new: Option<Action>,
    ) -> Result<Action, Errno> {
        if !(1..=64).contains(&sig) {
            return Err(Errno::EINVAL);
        }
        let old = self.signals.actions[sig as usize];
        if let Some(mut a) = new {
            if sig == SIGKILL || sig == SIGSTOP {
                return Err(Errno::EINVAL);
            }
            a.mask &= !UNBLOCKABLE;
            if a.has_handler() && a.flags & SA_RESTORER == 0 {
                self.map_trampoline(mem)?;
            }
            self.signals.actions[sig as usize] = a;
            if sig == SIGCHLD {
                // Children that are never waited for: the host's kernel reaps them, so
                // that `wait` gives ECHILD as in Linux (the guest's children are host
                // children).
                let _ = host::reap_children(a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0);
            }
            if a.handler == SIG_IGN || self.ignores(sig) {
                self.signals.pending &= !bit(sig);
                self.thread_mut().signals.pending &= !bit(sig);
            }
        }
        Ok(old)
    }

    /// Maps the trampoline page (see the module documentation), once.
    fn map_trampoline(&mut self, mem: &mut Memory) -> Result<(), Errno> {
        if self.signals.trampoline.is_some() {
            return Ok(());
        }
        const PROT_READ: u32 = 1;
        const PROT_WRITE: u32 = 2;
        const PROT_EXEC: u32 = 4;
        const MAP_PRIVATE_ANONYMOUS: u32 = 0x22;
        let page = self.mmap2(
            mem,
            [
                0,
                4096,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE_ANONYMOUS,
                u32::MAX,
                0,
            ],
        )?;
        let mut code = [0u8; 16];
        code[..8].copy_from_slice(&SIGRETURN_CODE);
        code[8..].copy_from_slice(&RT_SIGRETURN_CODE);
        guest::store(mem, page, &code)?;
        self.mprotect(mem, page, 4096, PROT_READ | PROT_EXEC)?;
        self.signals.trampoline = Some(page);
        Ok(())
    }
}
