//! The installed hooks and how the run loop calls them: which hooks cover an address, the
//! memory accesses an instruction is about to make, and the order hooks run in.

use super::{
    HookAction, HookCtx, HookId, InvalidAccess, InvalidAccessAction, MemAccess, MemAccessKind,
};
use crate::cpu::{Cpu, Seg};
use iced_x86::{Instruction, InstructionInfoFactory, OpAccess, Register};
use std::ops::{Bound, RangeBounds};
use vmkit_mem::Memory;

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
