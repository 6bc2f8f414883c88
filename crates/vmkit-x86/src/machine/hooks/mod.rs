//! Instrumentation hooks, as Unicorn users know them: on instructions, memory accesses,
//! interrupts and system calls.
//!
//! A machine with any hook installed but invalid-access ones (or run with an `until`
//! address) executes one instruction at a time on the reference path, so hooks see exact
//! EFLAGS and can change registers and memory between any two instructions. Without hooks
//! the fast engine runs and hooks cost nothing.
//!
//! Memory accesses are worked out from the instruction before it executes (iced-x86's
//! instruction info: explicit operands and implicit stack accesses), with the values read
//! before and written after it, and reported once the instruction has completed. A string
//! instruction with a `rep` prefix reports the access of its first iteration only; an
//! instruction that faults reports none (the run ends with the fault).
//!
//! Invalid-access hooks are different: they run only when an access faults, so installing
//! one keeps the fast engine (see [`X86Machine::hook_mem_invalid`]).

mod registry;

use super::X86Machine;
use crate::cpu::Cpu;
pub(super) use registry::Hooks;
use std::ops::RangeBounds;
use vmkit_mem::{Access, MemError, Memory};

/// Names a hook, for [`crate::X86Machine::remove_hook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookId(u32);

/// Whether a memory access loaded or stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemAccessKind {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// One memory access of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemAccess {
    /// Load or store.
    pub kind: MemAccessKind,
    /// Address of the instruction.
    pub eip: u32,
    /// First byte accessed.
    pub addr: u32,
    /// Bytes accessed.
    pub size: u32,
    /// The value loaded, or stored (little-endian; the first 8 bytes of larger accesses).
    pub value: u64,
}

/// What a hook may touch: the registers and memory, and a way to stop the run.
pub struct HookCtx<'a> {
    /// Registers and flags (exact EFLAGS: hooked runs compute flags eagerly).
    pub cpu: &'a mut Cpu,
    /// Guest memory.
    pub mem: &'a mut Memory,
    stop: &'a mut bool,
}

impl HookCtx<'_> {
    /// Ends the run with [`crate::X86Exit::Stopped`] before the next instruction (Unicorn's
    /// `emu_stop`).
    pub fn stop(&mut self) {
        *self.stop = true;
    }
}

/// What an interrupt or system-call hook did with the event: returned by the hooks of
/// [`X86Machine::hook_interrupt`] and [`X86Machine::hook_syscall`], read by the run loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// The hook took care of it: execution goes on after the instruction (for a system
    /// call, the hook set eax to the result).
    Handled,
    /// Let the next hook, or the machine's own behaviour (the Linux personality for
    /// `int 0x80`, a fault for other vectors), handle it.
    Pass,
}

/// A memory access that faulted, as an invalid-access hook sees it
/// ([`X86Machine::hook_mem_invalid`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidAccess {
    /// Address of the instruction that made the access; the run resumes there on a retry.
    pub eip: u32,
    /// The first byte refused.
    pub addr: u32,
    /// Load, store or instruction fetch.
    pub access: Access,
    /// Why it was refused: unmapped, forbidden by the page's protection, or past the end
    /// of the address space.
    pub error: MemError,
}

/// What an invalid-access hook wants done about the fault: returned by the hooks of
/// [`X86Machine::hook_mem_invalid`], read by the run loop. A hook that calls
/// [`HookCtx::stop`] ends the run with [`crate::X86Exit::Stopped`] instead, before the
/// faulting instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidAccessAction {
    /// Let the next hook decide, then the fault end the run as without hooks.
    Fault,
    /// The hook fixed the cause (mapped the page, changed its protection or the
    /// registers): execute the instruction again.
    Retry,
}

impl X86Machine {
    /// Hooks run before each instruction in `range` with its address and length. They
    /// may read and change registers and memory, or stop the run.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // inc eax ; inc eax ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0x40, 0x40, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code).unwrap();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let log = seen.clone();
    /// vm.hook_code(0x1000..0x1002, move |_ctx, eip, size| log.borrow_mut().push((eip, size)));
    /// assert_eq!(vm.run(), X86Exit::Exited(2));
    /// assert_eq!(*seen.borrow(), [(0x1000, 1), (0x1001, 1)]);
    /// ```
    pub fn hook_code(
        &mut self,
        range: impl RangeBounds<u32>,
        f: impl FnMut(&mut HookCtx, u32, u32) + 'static,
    ) -> HookId {
        self.hooks.add_code(range, Box::new(f))
    }

    /// Hooks run after each instruction that loaded (`MemAccessKind::Read`) or stored
    /// (`MemAccessKind::Write`) memory overlapping `range`, once per access.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use vmkit_x86::{MemAccessKind, X86Exit, X86Machine};
    /// // mov dword [0x2000], 7 ; mov ebx, [0x2000] ; mov eax, 1 ; int 0x80
    /// let code = [0xC7, 0x05, 0, 0x20, 0, 0, 7, 0, 0, 0, 0x8B, 0x1D, 0, 0x20, 0, 0,
    ///             0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code).unwrap();
    /// vm.map(0x2000, 0x1000, vmkit_mem::page::R | vmkit_mem::page::W);
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let log = seen.clone();
    /// vm.hook_mem(0x2000..0x3000, &[MemAccessKind::Read, MemAccessKind::Write], move |_ctx, a| {
    ///     log.borrow_mut().push((a.kind, a.addr, a.size, a.value));
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(7));
    /// assert_eq!(
    ///     *seen.borrow(),
    ///     [(MemAccessKind::Write, 0x2000, 4, 7), (MemAccessKind::Read, 0x2000, 4, 7)]
    /// );
    /// ```
    pub fn hook_mem(
        &mut self,
        range: impl RangeBounds<u32>,
        kinds: &[MemAccessKind],
        f: impl FnMut(&mut HookCtx, &MemAccess) + 'static,
    ) -> HookId {
        self.hooks.add_mem(range, kinds, Box::new(f))
    }

    /// Hooks run before an `int N` / `int3` executes, with the vector. A hook that returns
    /// [`HookAction::Handled`] replaces the instruction (execution goes on after it); otherwise
    /// `int 0x80` is a system call and other vectors fault as in a Linux process.
    ///
    /// ```
    /// use vmkit_x86::{HookAction, X86Exit, X86Machine};
    /// use vmkit_x86::cpu::{EAX, EBX};
    /// // int 0x21 ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0xCD, 0x21, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code).unwrap();
    /// vm.hook_interrupt(|ctx, vector| {
    ///     if vector == 0x21 {
    ///         ctx.cpu.regs[EAX] = 33;
    ///         return HookAction::Handled;
    ///     }
    ///     HookAction::Pass
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(33));
    /// ```
    pub fn hook_interrupt(
        &mut self,
        f: impl FnMut(&mut HookCtx, u32) -> HookAction + 'static,
    ) -> HookId {
        self.hooks.add_interrupt(Box::new(f))
    }

    /// Hooks run on each Linux system call (`int 0x80`) with its number (eax) before the
    /// Linux personality sees it. A hook that returns [`HookAction::Handled`] has done the call and
    /// put its result in eax; the personality is skipped.
    ///
    /// ```
    /// use vmkit_x86::{HookAction, X86Exit, X86Machine};
    /// use vmkit_x86::cpu::EAX;
    /// // mov eax, 20 (getpid) ; int 0x80 ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code).unwrap();
    /// vm.hook_syscall(|ctx, nr| {
    ///     if nr == 20 {
    ///         ctx.cpu.regs[EAX] = 77;
    ///         return HookAction::Handled;
    ///     }
    ///     HookAction::Pass
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(77));
    /// ```
    pub fn hook_syscall(
        &mut self,
        f: impl FnMut(&mut HookCtx, u32) -> HookAction + 'static,
    ) -> HookId {
        self.hooks.add_syscall(Box::new(f))
    }

    /// Hooks run when a memory access faults (Unicorn's `UC_HOOK_MEM_INVALID`): a load,
    /// store or instruction fetch at an address in `range` that is unmapped, forbidden by
    /// its page's protection, or past the end of the address space. The faulting
    /// instruction has not changed anything. A hook sees the access and the registers
    /// (exact EFLAGS) and returns [`InvalidAccessAction::Retry`] after fixing the cause (for
    /// instance mapping the page through [`HookCtx::mem`]) to execute the instruction again,
    /// or [`InvalidAccessAction::Fault`] to let the run end with the fault; calling
    /// [`HookCtx::stop`] ends the run with [`crate::X86Exit::Stopped`] at the instruction.
    /// A hook that asks for a retry without fixing the cause is called again. Unlike the
    /// other hooks, these run only on a fault: the fast engine keeps running.
    ///
    /// ```
    /// use vmkit_x86::{InvalidAccessAction, X86Exit, X86Machine};
    /// use vmkit_mem::page;
    /// // mov dword [0x50000], 9 ; mov ebx, [0x50000] ; mov eax, 1 ; int 0x80
    /// let code = [0xC7, 0x05, 0, 0, 5, 0, 9, 0, 0, 0, 0x8B, 0x1D, 0, 0, 5, 0,
    ///             0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code).unwrap();
    /// vm.hook_mem_invalid(.., |ctx, fault| {
    ///     // Demand paging: map the page that was missing and try again.
    ///     ctx.mem.protect(fault.addr as u64 & !0xFFF, 0x1000, page::R | page::W);
    ///     InvalidAccessAction::Retry
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(9));
    /// ```
    pub fn hook_mem_invalid(
        &mut self,
        range: impl RangeBounds<u32>,
        f: impl FnMut(&mut HookCtx, &InvalidAccess) -> InvalidAccessAction + 'static,
    ) -> HookId {
        self.hooks.add_invalid(range, Box::new(f))
    }

    /// Removes a hook; false if no hook has this id.
    pub fn remove_hook(&mut self, id: HookId) -> bool {
        self.hooks.remove(id)
    }
}
