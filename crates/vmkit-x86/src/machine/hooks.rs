//! Instrumentation hooks, as Unicorn users know them: on instructions, memory accesses,
//! interrupts and system calls.
//!
//! A machine with any hook installed (or run with an `until` address) executes one
//! instruction at a time on the reference path, so hooks see exact EFLAGS and can change
//! registers and memory between any two instructions. Without hooks the fast engine runs
//! and hooks cost nothing.
//!
//! Memory accesses are worked out from the instruction before it executes (iced-x86's
//! instruction info: explicit operands and implicit stack accesses), with the values read
//! before and written after it, and reported once the instruction has completed. A string
//! instruction with a `rep` prefix reports the access of its first iteration only; an
//! instruction that faults reports none (the run ends with the fault).
//!
//! Invalid-access hooks are different: they run only when an access faults, so installing
//! one keeps the fast engine (see [`X86Machine::hook_mem_invalid`]).

use super::X86Machine;
use crate::cpu::{Cpu, Seg};
use iced_x86::{Instruction, InstructionInfoFactory, OpAccess, Register};
use std::ops::{Bound, RangeBounds};
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

type CodeFn = Box<dyn FnMut(&mut HookCtx, u32, u32)>;
type MemFn = Box<dyn FnMut(&mut HookCtx, &MemAccess)>;
type EventFn = Box<dyn FnMut(&mut HookCtx, u32) -> HookAction>;
type InvalidFn = Box<dyn FnMut(&mut HookCtx, &InvalidAccess) -> InvalidAccessAction>;

/// An inclusive address range.
#[derive(Clone, Copy, Debug)]
struct Span(u32, u32);

impl Span {
    fn of(r: impl RangeBounds<u32>) -> Span {
        let lo = match r.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match r.end_bound() {
            Bound::Included(&b) => b,
            Bound::Excluded(&b) => b.saturating_sub(1),
            Bound::Unbounded => u32::MAX,
        };
        Span(lo, hi)
    }

    fn overlaps(&self, addr: u32, size: u32) -> bool {
        let last = addr.saturating_add(size.max(1) - 1);
        addr <= self.1 && self.0 <= last
    }
}

/// The installed hooks.
#[derive(Default)]
pub(crate) struct Hooks {
    next: u32,
    code: Vec<(HookId, Span, CodeFn)>,
    mem: Vec<(HookId, Span, [bool; 2], MemFn)>,
    interrupt: Vec<(HookId, EventFn)>,
    syscall: Vec<(HookId, EventFn)>,
    invalid: Vec<(HookId, Span, InvalidFn)>,
    info: Option<Box<InstructionInfoFactory>>,
}

impl Hooks {
    /// Whether a hook needs the run to go one instruction at a time (every kind but the
    /// invalid-access hooks, which run only on a fault).
    pub fn any_per_instruction(&self) -> bool {
        !(self.code.is_empty()
            && self.mem.is_empty()
            && self.interrupt.is_empty()
            && self.syscall.is_empty())
    }

    fn id(&mut self) -> HookId {
        self.next += 1;
        HookId(self.next)
    }

    pub fn add_code(&mut self, range: impl RangeBounds<u32>, f: CodeFn) -> HookId {
        let id = self.id();
        self.code.push((id, Span::of(range), f));
        id
    }

    pub fn add_mem(
        &mut self,
        range: impl RangeBounds<u32>,
        kinds: &[MemAccessKind],
        f: MemFn,
    ) -> HookId {
        let id = self.id();
        let want = [
            kinds.contains(&MemAccessKind::Read),
            kinds.contains(&MemAccessKind::Write),
        ];
        self.mem.push((id, Span::of(range), want, f));
        id
    }

    pub fn add_interrupt(&mut self, f: EventFn) -> HookId {
        let id = self.id();
        self.interrupt.push((id, f));
        id
    }

    pub fn add_syscall(&mut self, f: EventFn) -> HookId {
        let id = self.id();
        self.syscall.push((id, f));
        id
    }

    pub fn add_invalid(&mut self, range: impl RangeBounds<u32>, f: InvalidFn) -> HookId {
        let id = self.id();
        self.invalid.push((id, Span::of(range), f));
        id
    }

    fn count(&self) -> usize {
        self.code.len()
            + self.mem.len()
            + self.interrupt.len()
            + self.syscall.len()
            + self.invalid.len()
    }

    /// Removes a hook; false if there is none with this id.
    pub fn remove(&mut self, id: HookId) -> bool {
        let before = self.count();
        self.code.retain(|h| h.0 != id);
        self.mem.retain(|h| h.0 != id);
        self.interrupt.retain(|h| h.0 != id);
        self.syscall.retain(|h| h.0 != id);
        self.invalid.retain(|h| h.0 != id);
        before != self.count()
    }

    /// Calls the code hooks covering `eip`; true if one asked to stop.
    pub fn on_code(&mut self, cpu: &mut Cpu, mem: &mut Memory, eip: u32, size: u32) -> bool {
        let mut stop = false;
        for (_, span, f) in &mut self.code {
            if span.overlaps(eip, 1) {
                f(
                    &mut HookCtx {
                        cpu,
                        mem,
                        stop: &mut stop,
                    },
                    eip,
                    size,
                );
            }
        }
        stop
    }

    /// Calls interrupt (or system-call) hooks until one handles the event; returns whether
    /// one did, and whether one asked to stop.
    pub fn on_event(
        &mut self,
        syscall: bool,
        cpu: &mut Cpu,
        mem: &mut Memory,
        value: u32,
    ) -> (HookAction, bool) {
        let mut stop = false;
        let list = if syscall {
            &mut self.syscall
        } else {
            &mut self.interrupt
        };
        for (_, f) in list {
            if f(
                &mut HookCtx {
                    cpu,
                    mem,
                    stop: &mut stop,
                },
                value,
            ) == HookAction::Handled
            {
                return (HookAction::Handled, stop);
            }
        }
        (HookAction::Pass, stop)
    }

    /// Whether an invalid-access hook covers `addr`.
    pub fn wants_invalid(&self, addr: u32) -> bool {
        self.invalid
            .iter()
            .any(|(_, span, _)| span.overlaps(addr, 1))
    }

    /// Calls the invalid-access hooks covering the refused address until one asks for a
    /// retry; returns whether one did, and whether one asked to stop.
    pub fn on_invalid(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        fault: &InvalidAccess,
    ) -> (InvalidAccessAction, bool) {
        let mut stop = false;
        for (_, span, f) in &mut self.invalid {
            if span.overlaps(fault.addr, 1)
                && f(
                    &mut HookCtx {
                        cpu,
                        mem,
                        stop: &mut stop,
                    },
                    fault,
                ) == InvalidAccessAction::Retry
            {
                return (InvalidAccessAction::Retry, stop);
            }
        }
        (InvalidAccessAction::Fault, stop)
    }

    /// Whether memory hooks want the accesses of the next instruction.
    pub fn wants_mem(&self) -> bool {
        !self.mem.is_empty()
    }

    /// The memory accesses `insn` is about to make, with the values of the loads.
    pub fn accesses(&mut self, cpu: &Cpu, mem: &Memory, insn: &Instruction) -> Vec<MemAccess> {
        let factory = self
            .info
            .get_or_insert_with(|| Box::new(InstructionInfoFactory::new()));
        let info = factory.info(insn);
        let mut out = Vec::new();
        for used in info.used_memory() {
            let Some(addr) = used.virtual_address(0, |reg, _, _| Some(register(cpu, reg))) else {
                continue;
            };
            let size = used.memory_size().size() as u32;
            let kinds: &[MemAccessKind] = match used.access() {
                OpAccess::Read | OpAccess::CondRead => &[MemAccessKind::Read],
                OpAccess::Write | OpAccess::CondWrite => &[MemAccessKind::Write],
                OpAccess::ReadWrite | OpAccess::ReadCondWrite => {
                    &[MemAccessKind::Read, MemAccessKind::Write]
                }
                _ => &[],
            };
            for &kind in kinds {
                let addr = addr as u32;
                let value = if kind == MemAccessKind::Read {
                    peek(mem, addr, size)
                } else {
                    0
                };
                out.push(MemAccess {
                    kind,
                    eip: insn.ip32(),
                    addr,
                    size,
                    value,
                });
            }
        }
        out
    }

    /// Reports `accesses` (stores get the value now in memory) to the memory hooks; true
    /// if one asked to stop.
    pub fn on_mem(&mut self, cpu: &mut Cpu, mem: &mut Memory, accesses: &mut [MemAccess]) -> bool {
        let mut stop = false;
        for a in accesses.iter_mut() {
            if a.kind == MemAccessKind::Write {
                a.value = peek(mem, a.addr, a.size);
            }
            for (_, span, want, f) in &mut self.mem {
                if want[(a.kind == MemAccessKind::Write) as usize] && span.overlaps(a.addr, a.size)
                {
                    f(
                        &mut HookCtx {
                            cpu,
                            mem,
                            stop: &mut stop,
                        },
                        a,
                    );
                }
            }
        }
        stop
    }
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

/// Up to 8 bytes at `addr`, little-endian (0 where unreadable).
fn peek(mem: &Memory, addr: u32, size: u32) -> u64 {
    let mut v = [0u8; 8];
    if let Ok(b) = mem.peek(addr as u64, size.min(8) as u64) {
        v[..b.len()].copy_from_slice(b);
    }
    u64::from_le_bytes(v)
}

/// A register's value for address computation (segment registers give their base).
fn register(cpu: &Cpu, reg: Register) -> u64 {
    let seg = |s: Seg| cpu.seg_base[s as usize] as u64;
    match reg {
        Register::ES => seg(Seg::Es),
        Register::CS => seg(Seg::Cs),
        Register::SS => seg(Seg::Ss),
        Register::DS => seg(Seg::Ds),
        Register::FS => seg(Seg::Fs),
        Register::GS => seg(Seg::Gs),
        r if r.is_gpr32() => cpu.regs[r.number()] as u64,
        r if r.is_gpr16() => (cpu.regs[r.number()] & 0xFFFF) as u64,
        _ => 0,
    }
}
