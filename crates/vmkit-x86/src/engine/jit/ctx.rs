//! The context translated code runs against (`r13` points at it) and the routines that
//! enter and leave translated code.
//!
//! Inside translated code the guest's registers live in host registers:
//!
//! | guest | host | | guest | host |
//! |---|---|---|---|---|
//! | eax | rax | | esp | r12 |
//! | ecx | r8  | | ebp | rbp |
//! | edx | rdx | | esi | rsi |
//! | ebx | rbx | | edi | rdi |
//!
//! and the guest's status flags are the host's. `r11` holds the instructions left to run,
//! `r13` the context, `r14` guest memory's fast-access table, `r15` guest address 0;
//! `rcx`, `r9` and `r10` are scratch. Guest ecx is not in rcx because rcx is the register
//! `jrcxz` tests: every check translated code makes (budget, memory access, indirect
//! jump) branches with `jrcxz`, so that no check ever changes the guest's flags.

use super::emit::{Asm, Reject};
use crate::cpu::Cpu;
use iced_x86::{Code, Instruction, MemoryOperand, Register};
use std::mem::offset_of;
use vmkit_mem::Memory;

/// Entries of the indirect-jump lookup table (a power of two).
pub(super) const LOOKUP_ENTRIES: usize = 1 << 16;

/// One entry of the indirect-jump lookup table: the guest address it holds, negated (so
/// that `lea ecx, [neg + target]` is zero on a hit), and its translation's host address.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct LookupEntry {
    pub neg_eip: u32,
    pub _pad: u32,
    pub host: u64,
}

/// Why translated code returned to the runtime (the entry routine's return value).
pub(super) mod reason {
    /// A chain slot is not linked yet: `arg` is the slot, `eip` its target.
    pub const LINK: u32 = 1;
    /// The instruction at `eip` must run in the interpreter (a check refused a fast access).
    pub const INTERP: u32 = 2;
    /// The block at `eip` needs more instructions than are left.
    pub const BUDGET: u32 = 3;
    /// An indirect jump to `eip` missed the lookup table.
    pub const LOOKUP: u32 = 4;
}

/// The context: guest state in and out of translated code, and the lookup table.
#[repr(C)]
pub(super) struct Ctx {
    /// eax, ecx, edx, ebx, esp, ebp, esi, edi.
    pub regs: [u32; 8],
    /// Where execution goes on (on exit).
    pub eip: u32,
    pub _pad: u32,
    /// Host RFLAGS: loaded on entry (guest status flags, nothing else), stored on exit.
    pub flags: u64,
    /// Instructions left to run.
    pub budget: u64,
    /// The exit's argument (the slot, for [`reason::LINK`]).
    pub arg: u64,
    /// Host address of guest address 0.
    pub mem_base: u64,
    /// Guest memory's fast-access table.
    pub fast_table: u64,
    /// FS and GS bases.
    pub seg_fs: u32,
    pub seg_gs: u32,
    /// A word translated code may spill to.
    pub spill: u64,
    /// The indirect-jump lookup table.
    pub lookup: [LookupEntry; LOOKUP_ENTRIES],
}

/// The guest status flags translated code keeps in the host's RFLAGS.
pub(super) const STATUS: u32 = 0x8d5;

/// Offsets translated code uses.
pub(super) const REGS: i64 = offset_of!(Ctx, regs) as i64;
pub(super) const FLAGS: i64 = offset_of!(Ctx, flags) as i64;
pub(super) const EIP: i64 = offset_of!(Ctx, eip) as i64;
pub(super) const BUDGET: i64 = offset_of!(Ctx, budget) as i64;
pub(super) const ARG: i64 = offset_of!(Ctx, arg) as i64;
pub(super) const MEM_BASE: i64 = offset_of!(Ctx, mem_base) as i64;
pub(super) const FAST_TABLE: i64 = offset_of!(Ctx, fast_table) as i64;
pub(super) const SEG_FS: i64 = offset_of!(Ctx, seg_fs) as i64;
pub(super) const SEG_GS: i64 = offset_of!(Ctx, seg_gs) as i64;
pub(super) const SPILL: i64 = offset_of!(Ctx, spill) as i64;
pub(super) const LOOKUP: i64 = offset_of!(Ctx, lookup) as i64;

/// Host register of each guest register (32-bit), in guest encoding order.
pub(super) const HOST32: [Register; 8] = [
    Register::EAX,
    Register::R8D,
    Register::EDX,
    Register::EBX,
    Register::R12D,
    Register::EBP,
    Register::ESI,
    Register::EDI,
];

impl Ctx {
    /// A context with every field zero and every lookup entry sending to `miss`.
    pub(super) fn new(miss: usize) -> Box<Ctx> {
        // The table alone is 1 MiB: built on the heap, never on the stack.
        let layout = std::alloc::Layout::new::<Ctx>();
        // SAFETY: `Ctx` has a non-zero size. Every field of `Ctx` is an integer or an array
        // of `repr(C)` structs of integers, for which all-zero bytes are a valid value, so
        // the zeroed allocation is a valid `Ctx`, owned by the box from here on.
        let mut ctx = unsafe {
            let p = std::alloc::alloc_zeroed(layout).cast::<Ctx>();
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(p)
        };
        ctx.reset_lookup(miss);
        ctx
    }

    /// Sends every lookup entry to `miss`.
    pub(super) fn reset_lookup(&mut self, miss: usize) {
        for e in self.lookup.iter_mut() {
            *e = LookupEntry {
                neg_eip: 0,
                _pad: 0,
                host: miss as u64,
            };
        }
    }

    /// Loads the guest state translated code needs from `cpu` and `mem`, with `budget`
    /// instructions to run.
    pub(super) fn load(&mut self, cpu: &Cpu, mem: &mut Memory, budget: u64) {
        self.regs = cpu.regs;
        self.eip = cpu.eip;
        // Status flags only: DF, TF and AC stay clear in the host's RFLAGS.
        self.flags = u64::from(cpu.eflags & STATUS) | 0x202;
        self.budget = budget;
        self.mem_base = mem.host_base() as u64;
        self.fast_table = mem.fast_access_table() as u64;
        self.seg_fs = cpu.seg_base[crate::cpu::Seg::Fs as usize];
        self.seg_gs = cpu.seg_base[crate::cpu::Seg::Gs as usize];
    }

    /// Stores the guest state translated code left back into `cpu`.
    pub(super) fn store(&self, cpu: &mut Cpu) {
        cpu.regs = self.regs;
        cpu.eip = self.eip;
        cpu.eflags = (cpu.eflags & !STATUS) | (self.flags as u32 & STATUS);
    }
}

fn m(base: Register, disp: i64) -> MemoryOperand {
    MemoryOperand::with_base_displ(base, disp)
}

/// Emits the entry routine: `extern "sysv64" fn(ctx: *mut Ctx, target: usize) -> u32`
/// saves the host's callee-saved registers, loads the guest state from `ctx` and jumps to
/// `target`.
pub(super) fn emit_entry(a: &mut Asm) -> Result<(), Reject> {
    use Register::*;
    for r in [RBX, RBP, R12, R13, R14, R15] {
        a.i(Instruction::with1(Code::Push_r64, r))?;
    }
    // 6 pushes and the return address: 8 more keep rsp 16-aligned for calls.
    a.i(Instruction::with2(Code::Sub_rm64_imm8, RSP, 8))?;
    a.i(Instruction::with2(Code::Mov_r64_rm64, R13, RDI))?;
    a.i(Instruction::with2(
        Code::Mov_r64_rm64,
        R15,
        m(R13, MEM_BASE),
    ))?;
    a.i(Instruction::with2(
        Code::Mov_r64_rm64,
        R14,
        m(R13, FAST_TABLE),
    ))?;
    a.i(Instruction::with2(Code::Mov_r64_rm64, R11, m(R13, BUDGET)))?;
    a.i(Instruction::with2(Code::Mov_r64_rm64, R10, RSI))?;
    a.i(Instruction::with1(Code::Push_rm64, m(R13, FLAGS)))?;
    a.i(Instruction::with(Code::Popfq))?;
    for (g, &h) in HOST32.iter().enumerate() {
        a.i(Instruction::with2(
            Code::Mov_r32_rm32,
            h,
            m(R13, REGS + 4 * g as i64),
        ))?;
    }
    a.i(Instruction::with1(Code::Jmp_rm64, R10))?;
    Ok(())
}

/// Emits the exit routine: expects `ecx` = reason, `r10d` = guest eip, `r9` = argument;
/// stores the guest state into the context and returns the reason to the entry routine's
/// caller.
pub(super) fn emit_exit(a: &mut Asm) -> Result<(), Reject> {
    use Register::*;
    a.i(Instruction::with(Code::Pushfq))?;
    a.i(Instruction::with1(Code::Pop_rm64, m(R13, FLAGS)))?;
    for (g, &h) in HOST32.iter().enumerate() {
        a.i(Instruction::with2(
            Code::Mov_rm32_r32,
            m(R13, REGS + 4 * g as i64),
            h,
        ))?;
    }
    a.i(Instruction::with2(
        Code::Mov_rm32_r32,
        m(R13, self::EIP),
        R10D,
    ))?;
    a.i(Instruction::with2(Code::Mov_rm64_r64, m(R13, ARG), R9))?;
    a.i(Instruction::with2(Code::Mov_rm64_r64, m(R13, BUDGET), R11))?;
    a.i(Instruction::with2(Code::Mov_r32_rm32, EAX, ECX))?;
    a.i(Instruction::with2(Code::Add_rm64_imm8, RSP, 8))?;
    for r in [R15, R14, R13, R12, RBP, RBX] {
        a.i(Instruction::with1(Code::Pop_r64, r))?;
    }
    a.i(Instruction::with(Code::Retnq))?;
    Ok(())
}
