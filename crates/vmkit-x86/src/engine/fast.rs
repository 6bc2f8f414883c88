//! The fast engine: runs a block's micro-ops with lazy flags.
//!
//! [`run_block`] executes one block's [`Uop`]s in a `match` loop. Each fast kind does what
//! `exec` does for its instruction form, reading and writing registers and memory directly
//! and recording flags in a [`LazyFlags`] instead of computing them; [`UopKind::Slow`]
//! micro-ops fold the lazy flags into EFLAGS and run the reference semantics. Faults are
//! raised before an instruction's first architectural write, as on the reference path, so
//! a faulting instruction leaves registers, flags and memory as they were.

use super::block::{Block, BlockCache};
use super::lazy_flags::{FlagOp, LazyFlags};
use super::reference;
use super::uop::{AluOp, Uop, UopKind, NO_REG};
use super::{follow_blocks, BlockExit, EngineStop, ExecutionEngine};
use crate::cpu::alu::{self, Width};
use crate::cpu::ExecError;
use crate::cpu::{Cpu, EAX, ECX, EDX, ESP};
use vmkit_mem::Memory;

/// The fast engine: micro-ops with lazy flags. Stateless between runs: the lazy flags live
/// for one [`ExecutionEngine::run`] and are folded into EFLAGS before it returns.
#[derive(Debug, Default)]
pub(crate) struct FastEngine;

impl ExecutionEngine for FastEngine {
    fn run(
        &mut self,
        code: &mut BlockCache,
        cpu: &mut Cpu,
        mem: &mut Memory,
        budget: &mut u64,
    ) -> EngineStop {
        let mut lazy = LazyFlags::default();
        let stop = follow_blocks(code, cpu, mem, budget, |cpu, mem, block, limit, laps| {
            if limit < block.uops.len() {
                // A limited run may stop between the halves of a fused pair: run such a
                // block's instructions one by one on the reference path.
                lazy.sync(&mut cpu.eflags);
                reference::run_block(cpu, mem, block, limit)
            } else {
                run_block(cpu, mem, &mut lazy, block, limit, laps)
            }
        });
        lazy.sync(&mut cpu.eflags);
        stop
    }
}

#[inline(always)]
fn ea(cpu: &Cpu, u: &Uop) -> u32 {
    let mut a = u.disp;
    if u.b != NO_REG {
        a = a.wrapping_add(cpu.regs[u.b as usize & 7]);
    }
    if u.x != NO_REG {
        a = a.wrapping_add(cpu.regs[u.x as usize & 7] << u.s);
    }
    if u.seg != 0 {
        a = a.wrapping_add(cpu.seg_base[u.seg as usize % 6]);
    }
    a
}

#[inline(always)]
fn rd(mem: &Memory, addr: u32, bytes: u32) -> Result<u32, ExecError> {
    Ok(mem.read(addr as u64, bytes)? as u32)
}

#[inline(always)]
fn wr(mem: &mut Memory, addr: u32, bytes: u32, v: u32) -> Result<(), ExecError> {
    Ok(mem.write(addr as u64, bytes, v as u64)?)
}

/// `a op b` at width `w` with carry in `c`: the result and how its flags are recorded.
#[inline(always)]
fn alu_op(op: AluOp, w: Width, a: u32, b: u32, c: u32) -> (u32, FlagOp) {
    let m = w.mask();
    match op {
        AluOp::Add => (a.wrapping_add(b) & m, FlagOp::Add),
        AluOp::Adc => (a.wrapping_add(b).wrapping_add(c) & m, FlagOp::Adc),
        AluOp::Sub | AluOp::Cmp => (a.wrapping_sub(b) & m, FlagOp::Sub),
        AluOp::Sbb => (a.wrapping_sub(b).wrapping_sub(c) & m, FlagOp::Sbb),
        AluOp::And | AluOp::Test => (a & b & m, FlagOp::Logic),
        AluOp::Or => ((a | b) & m, FlagOp::Logic),
        AluOp::Xor => ((a ^ b) & m, FlagOp::Logic),
    }
}

/// Whether `op` writes its destination.
#[inline(always)]
fn writes(op: AluOp) -> bool {
    !matches!(op, AluOp::Cmp | AluOp::Test)
}

/// Carry in for `op`: CF for `adc`/`sbb`, else 0 (not computed).
#[inline(always)]
fn carry(op: AluOp, lazy: &LazyFlags, eflags: u32) -> u32 {
    if matches!(op, AluOp::Adc | AluOp::Sbb) {
        lazy.cf(eflags)
    } else {
        0
    }
}

/// `r op= b` on 32-bit registers.
#[inline(always)]
fn alu_rr(cpu: &mut Cpu, lazy: &mut LazyFlags, u: &Uop, op: AluOp) {
    let a = cpu.regs[u.r as usize & 7];
    let b = cpu.regs[u.b as usize & 7];
    let c = carry(op, lazy, cpu.eflags);
    let (r, cc) = alu_op(op, Width::D32, a, b, c);
    if writes(op) {
        cpu.regs[u.r as usize & 7] = r;
    }
    lazy.set(cc, Width::D32, a, b, r, c);
}

/// `r op= imm` on a 32-bit register.
#[inline(always)]
fn alu_ri(cpu: &mut Cpu, lazy: &mut LazyFlags, u: &Uop, op: AluOp) {
    let a = cpu.regs[u.r as usize & 7];
    let c = carry(op, lazy, cpu.eflags);
    let (r, cc) = alu_op(op, Width::D32, a, u.imm, c);
    if writes(op) {
        cpu.regs[u.r as usize & 7] = r;
    }
    lazy.set(cc, Width::D32, a, u.imm, r, c);
}

/// `a + 1` (or `a - 1`) at width `w`, with what `inc`/`dec` record: the result, the flag
/// operation and the CF they keep.
#[inline(always)]
fn inc_dec(lazy: &LazyFlags, eflags: u32, w: Width, a: u32, inc: bool) -> (u32, FlagOp, u32) {
    let c = lazy.cf(eflags);
    if inc {
        (a.wrapping_add(1) & w.mask(), FlagOp::Inc, c)
    } else {
        (a.wrapping_sub(1) & w.mask(), FlagOp::Dec, c)
    }
}

/// `inc r32` / `dec r32`.
#[inline(always)]
fn inc_dec_reg(cpu: &mut Cpu, lazy: &mut LazyFlags, r: usize, inc: bool) {
    let a = cpu.regs[r];
    let (res, cc, c) = inc_dec(lazy, cpu.eflags, Width::D32, a, inc);
    cpu.regs[r] = res;
    lazy.set(cc, Width::D32, a, 1, res, c);
}

#[inline(always)]
fn push(cpu: &mut Cpu, mem: &mut Memory, v: u32) -> Result<(), ExecError> {
    let sp = cpu.regs[ESP].wrapping_sub(4);
    wr(mem, sp, 4, v)?;
    cpu.regs[ESP] = sp;
    Ok(())
}

/// `r op= [ea]` ([`UopKind::AluRM`]): a 32-bit ALU operation with a memory source.
#[inline(always)]
fn alu_reg_mem(
    cpu: &mut Cpu,
    mem: &Memory,
    lazy: &mut LazyFlags,
    u: &Uop,
) -> Result<(), ExecError> {
    let r = u.r as usize & 7;
    let op = AluOp::from_u8(u.op);
    let b = rd(mem, ea(cpu, u), 4)?;
    let a = cpu.regs[r];
    let c = carry(op, lazy, cpu.eflags);
    let (res, cc) = alu_op(op, Width::D32, a, b, c);
    if writes(op) {
        cpu.regs[r] = res;
    }
    lazy.set(cc, Width::D32, a, b, res, c);
    Ok(())
}

/// `[ea] op= r` or `[ea] op= imm` ([`UopKind::AluMR`], [`UopKind::AluMI`]): a 32-bit ALU
/// operation with a memory destination.
#[inline(always)]
fn alu_mem(
    cpu: &mut Cpu,
    mem: &mut Memory,
    lazy: &mut LazyFlags,
    u: &Uop,
) -> Result<(), ExecError> {
    let op = AluOp::from_u8(u.op);
    let addr = ea(cpu, u);
    let a = rd(mem, addr, 4)?;
    let b = if u.kind == UopKind::AluMR {
        cpu.regs[u.r as usize & 7]
    } else {
        u.imm
    };
    let c = carry(op, lazy, cpu.eflags);
    let (res, cc) = alu_op(op, Width::D32, a, b, c);
    if writes(op) {
        wr(mem, addr, 4, res)?;
    }
    lazy.set(cc, Width::D32, a, b, res, c);
    Ok(())
}

/// The byte ALU forms that write a register or nothing ([`UopKind::Alu8MI`],
/// [`UopKind::Alu8RR`], [`UopKind::Alu8RI`], [`UopKind::Alu8RM`]).
#[inline(always)]
fn alu8(cpu: &mut Cpu, mem: &Memory, lazy: &mut LazyFlags, u: &Uop) -> Result<(), ExecError> {
    let r = u.r as usize & 7;
    let op = AluOp::from_u8(u.op);
    let (a, b) = match u.kind {
        UopKind::Alu8MI => (rd(mem, ea(cpu, u), 1)?, u.imm & 0xFF),
        UopKind::Alu8RR => (cpu.reg8(r), cpu.reg8(u.b as usize & 7)),
        UopKind::Alu8RI => (cpu.reg8(r), u.imm & 0xFF),
        _ => (cpu.reg8(r), rd(mem, ea(cpu, u), 1)?),
    };
    let c = carry(op, lazy, cpu.eflags);
    let (res, cc) = alu_op(op, Width::B8, a, b, c);
    if writes(op) && u.kind != UopKind::Alu8MI {
        cpu.set_reg8(r, res);
    }
    lazy.set(cc, Width::B8, a, b, res, c);
    Ok(())
}

/// byte `[ea] op= reg8` ([`UopKind::Alu8MR`]).
#[inline(always)]
fn alu8_mem(
    cpu: &mut Cpu,
    mem: &mut Memory,
    lazy: &mut LazyFlags,
    u: &Uop,
) -> Result<(), ExecError> {
    let op = AluOp::from_u8(u.op);
    let addr = ea(cpu, u);
    let a = rd(mem, addr, 1)?;
    let b = cpu.reg8(u.r as usize & 7);
    let c = carry(op, lazy, cpu.eflags);
    let (res, cc) = alu_op(op, Width::B8, a, b, c);
    if writes(op) {
        wr(mem, addr, 1, res)?;
    }
    lazy.set(cc, Width::B8, a, b, res, c);
    Ok(())
}

/// low 16 bits of `r` op= imm ([`UopKind::Alu16RI`]).
#[inline(always)]
fn alu16_reg_imm(cpu: &mut Cpu, lazy: &mut LazyFlags, u: &Uop) {
    let r = u.r as usize & 7;
    let op = AluOp::from_u8(u.op);
    let a = cpu.regs[r] & 0xFFFF;
    let c = carry(op, lazy, cpu.eflags);
    let (res, cc) = alu_op(op, Width::W16, a, u.imm, c);
    if writes(op) {
        cpu.regs[r] = (cpu.regs[r] & 0xFFFF_0000) | res;
    }
    lazy.set(cc, Width::W16, a, u.imm, res, c);
}

/// `inc`/`dec` of a word or dword in memory ([`UopKind::IncM`], [`UopKind::DecM`]).
#[inline(always)]
fn inc_dec_mem(
    cpu: &mut Cpu,
    mem: &mut Memory,
    lazy: &mut LazyFlags,
    u: &Uop,
) -> Result<(), ExecError> {
    let (w, bytes) = if u.op == 2 {
        (Width::W16, 2)
    } else {
        (Width::D32, 4)
    };
    let addr = ea(cpu, u);
    let a = rd(mem, addr, bytes)?;
    let (res, cc, c) = inc_dec(lazy, cpu.eflags, w, a, u.kind == UopKind::IncM);
    wr(mem, addr, bytes, res)?;
    lazy.set(cc, w, a, 1, res, c);
    Ok(())
}

/// A shift or rotate of a 32-bit register by a constant or `cl` ([`UopKind::ShiftRI`],
/// [`UopKind::ShiftRC`]); flags eagerly, through [`crate::cpu::alu`].
#[inline(always)]
fn shift_reg(cpu: &mut Cpu, lazy: &mut LazyFlags, u: &Uop) {
    lazy.sync(&mut cpu.eflags);
    let r = u.r as usize & 7;
    let a = cpu.regs[r];
    let count = if u.kind == UopKind::ShiftRI {
        u.imm
    } else {
        cpu.regs[ECX] & 31
    };
    let (res, f) = match u.op {
        0 => alu::rol(Width::D32, a, count, cpu.eflags),
        1 => alu::ror(Width::D32, a, count, cpu.eflags),
        4 => alu::shl(Width::D32, a, count, cpu.eflags),
        5 => alu::shr(Width::D32, a, count, cpu.eflags),
        _ => alu::sar(Width::D32, a, count, cpu.eflags),
    };
    cpu.regs[r] = res;
    cpu.eflags = f;
}

/// Truncating `imul` of registers ([`UopKind::ImulRR`], [`UopKind::ImulRRI`]); flags
/// eagerly, through [`crate::cpu::alu`].
#[inline(always)]
fn imul_reg(cpu: &mut Cpu, lazy: &mut LazyFlags, u: &Uop) {
    lazy.sync(&mut cpu.eflags);
    let r = u.r as usize & 7;
    let b = cpu.regs[u.b as usize & 7];
    let a = if u.kind == UopKind::ImulRR {
        cpu.regs[r]
    } else {
        u.imm
    };
    let (res, f) = alu::imul_trunc(Width::D32, a, b, cpu.eflags);
    cpu.regs[r] = res;
    cpu.eflags = f;
}

/// The flag-setting half of a fused compare-and-branch ([`UopKind::CmpRRJcc`],
/// [`UopKind::TestRRJcc`], [`UopKind::CmpRIJcc`]); returns where the branch goes.
#[inline(always)]
fn compare_and_branch(cpu: &Cpu, lazy: &mut LazyFlags, u: &Uop, block: &Block) -> u32 {
    let op = match u.kind {
        UopKind::TestRRJcc => AluOp::Test,
        _ => AluOp::Cmp,
    };
    let a = cpu.regs[u.r as usize & 7];
    let b = match u.kind {
        UopKind::CmpRIJcc => u.imm,
        _ => cpu.regs[u.b as usize & 7],
    };
    let (res, cc) = alu_op(op, Width::D32, a, b, 0);
    lazy.set(cc, Width::D32, a, b, res, 0);
    let target = if u.kind == UopKind::CmpRIJcc {
        u.disp
    } else {
        u.imm
    };
    if lazy.cond(u.op, cpu.eflags) {
        target
    } else {
        block.end
    }
}

/// Runs at most `limit` instructions of `block` from its start (`cpu.eip` must be
/// `block.start`) on the fast path; [`UopKind::Slow`] micro-ops take the reference path.
///
/// A block that branches back to its own start (a loop that fits in one block) runs again
/// without leaving this function while at least two more whole passes fit in `limit`, so
/// a stop always falls in the last pass; the instructions of the completed passes are
/// added to `laps`, and the returned [`BlockExit`] counts within the last pass only.
#[inline(always)]
fn run_block(
    cpu: &mut Cpu,
    mem: &mut Memory,
    lazy: &mut LazyFlags,
    block: &Block,
    limit: usize,
    laps: &mut u64,
) -> BlockExit {
    let n = block.uops.len().min(limit);
    'pass: loop {
        for (i, u) in block.uops[..n].iter().enumerate() {
            // The value of a fallible step, or leave the block: instruction `i` faulted
            // and changed nothing.
            macro_rules! or_fault {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => {
                            cpu.eip = block.insns[i].ip32();
                            return BlockExit::Fault(i, e);
                        }
                    }
                };
            }
            // Control goes to `target` after `executed` instructions of this pass.
            macro_rules! branch {
                ($target:expr, $executed:expr) => {{
                    let target = $target;
                    let executed = $executed as u64;
                    if target == block.start && *laps + 2 * executed <= limit as u64 {
                        *laps += executed;
                        continue 'pass;
                    }
                    cpu.eip = target;
                    return BlockExit::Jump(executed as usize - 1);
                }};
            }
            macro_rules! jump {
                ($target:expr) => {
                    branch!($target, i + 1)
                };
            }
            // After a store: leave the block if it hit decoded code.
            macro_rules! stop_if_code_written {
                () => {
                    if mem.code_written() {
                        cpu.eip = block.insns[i].next_ip32();
                        return BlockExit::CodeWritten(i);
                    }
                };
            }
            let r = u.r as usize & 7;
            match u.kind {
                UopKind::Nop => {}
                UopKind::MovRR => cpu.regs[r] = cpu.regs[u.b as usize & 7],
                UopKind::MovRI => cpu.regs[r] = u.imm,
                UopKind::MovRM => cpu.regs[r] = or_fault!(rd(mem, ea(cpu, u), 4)),
                UopKind::MovMR => {
                    or_fault!(wr(mem, ea(cpu, u), 4, cpu.regs[r]));
                    stop_if_code_written!();
                }
                UopKind::MovMI => {
                    or_fault!(wr(mem, ea(cpu, u), 4, u.imm));
                    stop_if_code_written!();
                }
                UopKind::MovzxRM8 => cpu.regs[r] = or_fault!(rd(mem, ea(cpu, u), 1)),
                UopKind::MovzxRM16 => cpu.regs[r] = or_fault!(rd(mem, ea(cpu, u), 2)),
                UopKind::MovsxRM8 => {
                    cpu.regs[r] = or_fault!(rd(mem, ea(cpu, u), 1)) as u8 as i8 as i32 as u32
                }
                UopKind::MovsxRM16 => {
                    cpu.regs[r] = or_fault!(rd(mem, ea(cpu, u), 2)) as u16 as i16 as i32 as u32
                }
                UopKind::MovzxRR8 => cpu.regs[r] = cpu.reg8(u.b as usize & 7),
                UopKind::MovsxRR8 => {
                    cpu.regs[r] = cpu.reg8(u.b as usize & 7) as u8 as i8 as i32 as u32
                }
                UopKind::Mov8RM => {
                    let v = or_fault!(rd(mem, ea(cpu, u), 1));
                    cpu.set_reg8(r, v);
                }
                UopKind::Mov8MR => {
                    or_fault!(wr(mem, ea(cpu, u), 1, cpu.reg8(r)));
                    stop_if_code_written!();
                }
                UopKind::Mov8MI => {
                    or_fault!(wr(mem, ea(cpu, u), 1, u.imm));
                    stop_if_code_written!();
                }
                UopKind::Mov16MR => {
                    or_fault!(wr(mem, ea(cpu, u), 2, cpu.regs[r]));
                    stop_if_code_written!();
                }
                UopKind::Lea => cpu.regs[r] = ea(cpu, u),
                UopKind::AddRR => alu_rr(cpu, lazy, u, AluOp::Add),
                UopKind::AdcRR => alu_rr(cpu, lazy, u, AluOp::Adc),
                UopKind::SubRR => alu_rr(cpu, lazy, u, AluOp::Sub),
                UopKind::SbbRR => alu_rr(cpu, lazy, u, AluOp::Sbb),
                UopKind::AndRR => alu_rr(cpu, lazy, u, AluOp::And),
                UopKind::OrRR => alu_rr(cpu, lazy, u, AluOp::Or),
                UopKind::XorRR => alu_rr(cpu, lazy, u, AluOp::Xor),
                UopKind::CmpRR => alu_rr(cpu, lazy, u, AluOp::Cmp),
                UopKind::TestRR => alu_rr(cpu, lazy, u, AluOp::Test),
                UopKind::AddRI => alu_ri(cpu, lazy, u, AluOp::Add),
                UopKind::AdcRI => alu_ri(cpu, lazy, u, AluOp::Adc),
                UopKind::SubRI => alu_ri(cpu, lazy, u, AluOp::Sub),
                UopKind::SbbRI => alu_ri(cpu, lazy, u, AluOp::Sbb),
                UopKind::AndRI => alu_ri(cpu, lazy, u, AluOp::And),
                UopKind::OrRI => alu_ri(cpu, lazy, u, AluOp::Or),
                UopKind::XorRI => alu_ri(cpu, lazy, u, AluOp::Xor),
                UopKind::CmpRI => alu_ri(cpu, lazy, u, AluOp::Cmp),
                UopKind::TestRI => alu_ri(cpu, lazy, u, AluOp::Test),
                UopKind::AluRM => or_fault!(alu_reg_mem(cpu, mem, lazy, u)),
                UopKind::AluMR | UopKind::AluMI => {
                    or_fault!(alu_mem(cpu, mem, lazy, u));
                    stop_if_code_written!();
                }
                UopKind::Alu8MI | UopKind::Alu8RR | UopKind::Alu8RI | UopKind::Alu8RM => {
                    or_fault!(alu8(cpu, mem, lazy, u))
                }
                UopKind::Alu8MR => {
                    or_fault!(alu8_mem(cpu, mem, lazy, u));
                    stop_if_code_written!();
                }
                UopKind::Alu16RI => alu16_reg_imm(cpu, lazy, u),
                UopKind::Mov16RM => {
                    let v = or_fault!(rd(mem, ea(cpu, u), 2));
                    cpu.regs[r] = (cpu.regs[r] & 0xFFFF_0000) | v;
                }
                UopKind::IncM | UopKind::DecM => {
                    or_fault!(inc_dec_mem(cpu, mem, lazy, u));
                    stop_if_code_written!();
                }
                UopKind::IncR | UopKind::DecR => inc_dec_reg(cpu, lazy, r, u.kind == UopKind::IncR),
                UopKind::NegR => {
                    let a = cpu.regs[r];
                    let res = a.wrapping_neg();
                    cpu.regs[r] = res;
                    lazy.set(FlagOp::Sub, Width::D32, 0, a, res, 0);
                }
                UopKind::NotR => cpu.regs[r] = !cpu.regs[r],
                UopKind::ShiftRI | UopKind::ShiftRC => shift_reg(cpu, lazy, u),
                UopKind::ImulRR | UopKind::ImulRRI => imul_reg(cpu, lazy, u),
                UopKind::PushR => {
                    or_fault!(push(cpu, mem, cpu.regs[r]));
                    stop_if_code_written!();
                }
                UopKind::PushI => {
                    or_fault!(push(cpu, mem, u.imm));
                    stop_if_code_written!();
                }
                UopKind::PushM => {
                    let v = or_fault!(rd(mem, ea(cpu, u), 4));
                    or_fault!(push(cpu, mem, v));
                    stop_if_code_written!();
                }
                UopKind::PopR => {
                    let v = or_fault!(rd(mem, cpu.regs[ESP], 4));
                    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(4);
                    cpu.regs[r] = v;
                }
                UopKind::Cdq => cpu.regs[EDX] = ((cpu.regs[EAX] as i32) >> 31) as u32,
                UopKind::XchgRR => cpu.regs.swap(r, u.b as usize & 7),
                UopKind::Setcc => {
                    let v = lazy.cond(u.op, cpu.eflags) as u32;
                    cpu.set_reg8(r, v);
                }
                UopKind::CmovRR => {
                    if lazy.cond(u.op, cpu.eflags) {
                        cpu.regs[r] = cpu.regs[u.b as usize & 7];
                    }
                }
                UopKind::CmovRM => {
                    let v = or_fault!(rd(mem, ea(cpu, u), 4));
                    if lazy.cond(u.op, cpu.eflags) {
                        cpu.regs[r] = v;
                    }
                }
                UopKind::Jmp => jump!(u.imm),
                UopKind::Jcc => jump!(if lazy.cond(u.op, cpu.eflags) {
                    u.imm
                } else {
                    u.disp
                }),
                UopKind::Call => {
                    or_fault!(push(cpu, mem, u.disp));
                    stop_if_code_written!();
                    jump!(u.imm)
                }
                UopKind::JmpR => jump!(cpu.regs[r]),
                UopKind::JmpM => jump!(or_fault!(rd(mem, ea(cpu, u), 4))),
                UopKind::CallR => {
                    let target = cpu.regs[r];
                    or_fault!(push(cpu, mem, u.disp));
                    stop_if_code_written!();
                    jump!(target)
                }
                UopKind::CallM => {
                    let target = or_fault!(rd(mem, ea(cpu, u), 4));
                    or_fault!(push(cpu, mem, block.insns[i].next_ip32()));
                    stop_if_code_written!();
                    jump!(target)
                }
                UopKind::Ret => {
                    let target = or_fault!(rd(mem, cpu.regs[ESP], 4));
                    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(4).wrapping_add(u.imm);
                    jump!(target)
                }
                UopKind::CmpRRJcc | UopKind::TestRRJcc | UopKind::CmpRIJcc => {
                    branch!(compare_and_branch(cpu, lazy, u, block), i + 2)
                }
                UopKind::DecRJcc | UopKind::IncRJcc => {
                    inc_dec_reg(cpu, lazy, r, u.kind == UopKind::IncRJcc);
                    branch!(
                        if lazy.cond(u.op, cpu.eflags) {
                            u.imm
                        } else {
                            block.end
                        },
                        i + 2
                    )
                }
                UopKind::Slow => {
                    lazy.sync(&mut cpu.eflags);
                    match reference::step(cpu, mem, &block.insns[i], i) {
                        Ok(None) => {}
                        Ok(Some(target)) => {
                            if mem.code_written() {
                                cpu.eip = target;
                                return BlockExit::CodeWritten(i);
                            }
                            jump!(target)
                        }
                        Err(exit) => return exit,
                    }
                    stop_if_code_written!();
                }
            }
        }
        cpu.eip = if n == 0 {
            block.start
        } else {
            block.insns[n - 1].next_ip32()
        };
        return BlockExit::Ran(n);
    }
}
