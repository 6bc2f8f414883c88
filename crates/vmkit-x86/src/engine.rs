//! The fast engine: runs a block's micro-ops with lazy flags.
//!
//! [`run_block`] executes one block's [`Uop`]s in a `match` loop. Each fast kind does what
//! `exec` does for its instruction form, reading and writing registers and memory directly
//! and recording flags in a [`Lazy`] instead of computing them; [`K::Slow`] micro-ops fold
//! the lazy flags into EFLAGS and run the reference semantics. Faults are raised before an
//! instruction's first architectural write, as on the reference path, so a faulting
//! instruction leaves registers, flags and memory as they were.

use crate::block::{Block, BlockCache, BlockId};
use crate::cpu::alu::{self, Width};
use crate::cpu::{exec, AfterInsn, Cpu, ExecError, EAX, ECX, EDX, ESP};
use crate::lazy::{CcOp, Lazy};
use crate::uop::{AluK, Uop, K, NO_REG};
use vmkit_mem::Memory;

/// Why [`run_block`] returned. `i` is the index of the instruction in the block.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Control left the block for `cpu.eip`, after instruction `i`.
    Jump(usize),
    /// Instruction `i` faulted; nothing of it was done. `cpu.eip` is its address.
    Fault(usize, ExecError),
    /// Instruction `i` is `int 0x80`: the system call is due; `cpu.eip` is the next
    /// instruction.
    Syscall(usize),
    /// Instruction `i` is privileged; `cpu.eip` is its address.
    Privileged(usize),
    /// Instruction `i` wrote into decoded code; `cpu.eip` is the next instruction.
    CodeWritten(usize),
    /// The first `n` instructions ran (the limit, or the whole block) without leaving it;
    /// `cpu.eip` is the next instruction.
    Ran(usize),
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
fn alu_op(op: AluK, w: Width, a: u32, b: u32, c: u32) -> (u32, CcOp) {
    let m = w.mask();
    match op {
        AluK::Add => (a.wrapping_add(b) & m, CcOp::Add),
        AluK::Adc => (a.wrapping_add(b).wrapping_add(c) & m, CcOp::Adc),
        AluK::Sub | AluK::Cmp => (a.wrapping_sub(b) & m, CcOp::Sub),
        AluK::Sbb => (a.wrapping_sub(b).wrapping_sub(c) & m, CcOp::Sbb),
        AluK::And | AluK::Test => (a & b & m, CcOp::Logic),
        AluK::Or => ((a | b) & m, CcOp::Logic),
        AluK::Xor => ((a ^ b) & m, CcOp::Logic),
    }
}

/// Whether `op` writes its destination.
#[inline(always)]
fn writes(op: AluK) -> bool {
    !matches!(op, AluK::Cmp | AluK::Test)
}

/// Carry in for `op`: CF for `adc`/`sbb`, else 0 (not computed).
#[inline(always)]
fn carry(op: AluK, lz: &Lazy, eflags: u32) -> u32 {
    if matches!(op, AluK::Adc | AluK::Sbb) {
        lz.cf(eflags)
    } else {
        0
    }
}

/// `r op= b` on 32-bit registers.
#[inline(always)]
fn alu_rr(cpu: &mut Cpu, lz: &mut Lazy, u: &Uop, op: AluK) {
    let a = cpu.regs[u.r as usize & 7];
    let b = cpu.regs[u.b as usize & 7];
    let c = carry(op, lz, cpu.eflags);
    let (r, cc) = alu_op(op, Width::D32, a, b, c);
    if writes(op) {
        cpu.regs[u.r as usize & 7] = r;
    }
    lz.set(cc, Width::D32, a, b, r, c);
}

/// `r op= imm` on a 32-bit register.
#[inline(always)]
fn alu_ri(cpu: &mut Cpu, lz: &mut Lazy, u: &Uop, op: AluK) {
    let a = cpu.regs[u.r as usize & 7];
    let c = carry(op, lz, cpu.eflags);
    let (r, cc) = alu_op(op, Width::D32, a, u.imm, c);
    if writes(op) {
        cpu.regs[u.r as usize & 7] = r;
    }
    lz.set(cc, Width::D32, a, u.imm, r, c);
}

/// `a + 1` (or `a - 1`) at width `w`, with what `inc`/`dec` record: the result, the flag
/// operation and the CF they keep.
#[inline(always)]
fn inc_dec(lz: &Lazy, eflags: u32, w: Width, a: u32, inc: bool) -> (u32, CcOp, u32) {
    let c = lz.cf(eflags);
    if inc {
        (a.wrapping_add(1) & w.mask(), CcOp::Inc, c)
    } else {
        (a.wrapping_sub(1) & w.mask(), CcOp::Dec, c)
    }
}

/// `inc r32` / `dec r32`.
#[inline(always)]
fn inc_dec_reg(cpu: &mut Cpu, lz: &mut Lazy, r: usize, inc: bool) {
    let a = cpu.regs[r];
    let (res, cc, c) = inc_dec(lz, cpu.eflags, Width::D32, a, inc);
    cpu.regs[r] = res;
    lz.set(cc, Width::D32, a, 1, res, c);
}

#[inline(always)]
fn push(cpu: &mut Cpu, mem: &mut Memory, v: u32) -> Result<(), ExecError> {
    let sp = cpu.regs[ESP].wrapping_sub(4);
    wr(mem, sp, 4, v)?;
    cpu.regs[ESP] = sp;
    Ok(())
}

/// Runs blocks from `cpu.eip`, following jumps, until an instruction needs the run loop (a
/// system call, a fault, a write into decoded code, the end of a block that could not be
/// decoded) or `limit` instructions have run. Returns the stop, the block it happened in,
/// and the number of instructions executed.
pub(crate) fn run(
    cpu: &mut Cpu,
    mem: &mut Memory,
    lz: &mut Lazy,
    cache: &mut BlockCache,
    limit: u64,
    reference: bool,
) -> (Stop, BlockId, u64) {
    let mut done = 0u64;
    let mut id = cache.lookup(mem, cpu.eip);
    loop {
        let block = cache.get(id);
        let left = (limit - done).min(usize::MAX as u64) as usize;
        // A limited run may stop between the halves of a fused pair: run such a block's
        // instructions one by one on the reference path.
        let mut laps = 0u64;
        let stop = if reference || left < block.uops.len() {
            run_block::<true>(cpu, mem, lz, block, left, &mut laps)
        } else {
            run_block::<false>(cpu, mem, lz, block, left, &mut laps)
        };
        done += laps;
        match stop {
            Stop::Jump(i) => {
                done += i as u64 + 1;
                if done == limit {
                    return (stop, id, done);
                }
                id = match block.linked(cpu.eip) {
                    Some(next) => next,
                    None => {
                        let next = cache.lookup(mem, cpu.eip);
                        cache.get(id).link(cpu.eip, next);
                        next
                    }
                };
            }
            Stop::Syscall(i) | Stop::CodeWritten(i) => return (stop, id, done + i as u64 + 1),
            Stop::Fault(i, _) | Stop::Privileged(i) => return (stop, id, done + i as u64),
            Stop::Ran(n) => return (stop, id, done + n as u64),
        }
    }
}

/// Runs at most `limit` instructions of `block` from its start (`cpu.eip` must be
/// `block.start`). With `REFERENCE`, every instruction takes the reference path (the
/// engine's own check, and what instrumented runs use).
///
/// A block that branches back to its own start (a loop that fits in one block) runs again
/// without leaving this function while at least two more whole passes fit in `limit`, so
/// a stop always falls in the last pass; the instructions of the completed passes are
/// added to `laps`, and the returned [`Stop`] counts within the last pass only.
#[inline(always)]
fn run_block<const REFERENCE: bool>(
    cpu: &mut Cpu,
    mem: &mut Memory,
    lz: &mut Lazy,
    block: &Block,
    limit: usize,
    laps: &mut u64,
) -> Stop {
    let n = block.uops.len().min(limit);
    'pass: loop {
        for (i, u) in block.uops[..n].iter().enumerate() {
            macro_rules! t {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => {
                            cpu.eip = block.insns[i].ip32();
                            return Stop::Fault(i, e);
                        }
                    }
                };
            }
            // Control goes to `target` after `executed` instructions of this pass.
            macro_rules! branch {
                ($target:expr, $executed:expr) => {{
                    let target = $target;
                    let executed = $executed as u64;
                    if !REFERENCE && target == block.start && *laps + 2 * executed <= limit as u64 {
                        *laps += executed;
                        continue 'pass;
                    }
                    cpu.eip = target;
                    return Stop::Jump(executed as usize - 1);
                }};
            }
            macro_rules! jump {
                ($target:expr) => {
                    branch!($target, i + 1)
                };
            }
            macro_rules! stored {
                () => {
                    if mem.code_written {
                        cpu.eip = block.insns[i].next_ip32();
                        return Stop::CodeWritten(i);
                    }
                };
            }
            let r = u.r as usize & 7;
            let k = if REFERENCE { K::Slow } else { u.k };
            match k {
                K::Nop => {}
                K::MovRR => cpu.regs[r] = cpu.regs[u.b as usize & 7],
                K::MovRI => cpu.regs[r] = u.imm,
                K::MovRM => cpu.regs[r] = t!(rd(mem, ea(cpu, u), 4)),
                K::MovMR => {
                    t!(wr(mem, ea(cpu, u), 4, cpu.regs[r]));
                    stored!();
                }
                K::MovMI => {
                    t!(wr(mem, ea(cpu, u), 4, u.imm));
                    stored!();
                }
                K::MovzxRM8 => cpu.regs[r] = t!(rd(mem, ea(cpu, u), 1)),
                K::MovzxRM16 => cpu.regs[r] = t!(rd(mem, ea(cpu, u), 2)),
                K::MovsxRM8 => cpu.regs[r] = t!(rd(mem, ea(cpu, u), 1)) as u8 as i8 as i32 as u32,
                K::MovsxRM16 => {
                    cpu.regs[r] = t!(rd(mem, ea(cpu, u), 2)) as u16 as i16 as i32 as u32
                }
                K::MovzxRR8 => cpu.regs[r] = cpu.reg8(u.b as usize & 7),
                K::MovsxRR8 => cpu.regs[r] = cpu.reg8(u.b as usize & 7) as u8 as i8 as i32 as u32,
                K::Mov8RM => {
                    let v = t!(rd(mem, ea(cpu, u), 1));
                    cpu.set_reg8(r, v);
                }
                K::Mov8MR => {
                    t!(wr(mem, ea(cpu, u), 1, cpu.reg8(r)));
                    stored!();
                }
                K::Mov8MI => {
                    t!(wr(mem, ea(cpu, u), 1, u.imm));
                    stored!();
                }
                K::Mov16MR => {
                    t!(wr(mem, ea(cpu, u), 2, cpu.regs[r]));
                    stored!();
                }
                K::Lea => cpu.regs[r] = ea(cpu, u),
                K::AddRR => alu_rr(cpu, lz, u, AluK::Add),
                K::AdcRR => alu_rr(cpu, lz, u, AluK::Adc),
                K::SubRR => alu_rr(cpu, lz, u, AluK::Sub),
                K::SbbRR => alu_rr(cpu, lz, u, AluK::Sbb),
                K::AndRR => alu_rr(cpu, lz, u, AluK::And),
                K::OrRR => alu_rr(cpu, lz, u, AluK::Or),
                K::XorRR => alu_rr(cpu, lz, u, AluK::Xor),
                K::CmpRR => alu_rr(cpu, lz, u, AluK::Cmp),
                K::TestRR => alu_rr(cpu, lz, u, AluK::Test),
                K::AddRI => alu_ri(cpu, lz, u, AluK::Add),
                K::AdcRI => alu_ri(cpu, lz, u, AluK::Adc),
                K::SubRI => alu_ri(cpu, lz, u, AluK::Sub),
                K::SbbRI => alu_ri(cpu, lz, u, AluK::Sbb),
                K::AndRI => alu_ri(cpu, lz, u, AluK::And),
                K::OrRI => alu_ri(cpu, lz, u, AluK::Or),
                K::XorRI => alu_ri(cpu, lz, u, AluK::Xor),
                K::CmpRI => alu_ri(cpu, lz, u, AluK::Cmp),
                K::TestRI => alu_ri(cpu, lz, u, AluK::Test),
                K::AluRM => {
                    let op = AluK::from_u8(u.op);
                    let b = t!(rd(mem, ea(cpu, u), 4));
                    let a = cpu.regs[r];
                    let c = carry(op, lz, cpu.eflags);
                    let (res, cc) = alu_op(op, Width::D32, a, b, c);
                    if writes(op) {
                        cpu.regs[r] = res;
                    }
                    lz.set(cc, Width::D32, a, b, res, c);
                }
                K::AluMR | K::AluMI => {
                    let op = AluK::from_u8(u.op);
                    let addr = ea(cpu, u);
                    let a = t!(rd(mem, addr, 4));
                    let b = if u.k == K::AluMR { cpu.regs[r] } else { u.imm };
                    let c = carry(op, lz, cpu.eflags);
                    let (res, cc) = alu_op(op, Width::D32, a, b, c);
                    if writes(op) {
                        t!(wr(mem, addr, 4, res));
                    }
                    lz.set(cc, Width::D32, a, b, res, c);
                    stored!();
                }
                K::Alu8MI | K::Alu8RR | K::Alu8RI | K::Alu8RM => {
                    let op = AluK::from_u8(u.op);
                    let (a, b) = match u.k {
                        K::Alu8MI => (t!(rd(mem, ea(cpu, u), 1)), u.imm & 0xFF),
                        K::Alu8RR => (cpu.reg8(r), cpu.reg8(u.b as usize & 7)),
                        K::Alu8RI => (cpu.reg8(r), u.imm & 0xFF),
                        _ => (cpu.reg8(r), t!(rd(mem, ea(cpu, u), 1))),
                    };
                    let c = carry(op, lz, cpu.eflags);
                    let (res, cc) = alu_op(op, Width::B8, a, b, c);
                    if writes(op) && u.k != K::Alu8MI {
                        cpu.set_reg8(r, res);
                    }
                    lz.set(cc, Width::B8, a, b, res, c);
                }
                K::Alu8MR => {
                    let op = AluK::from_u8(u.op);
                    let addr = ea(cpu, u);
                    let a = t!(rd(mem, addr, 1));
                    let b = cpu.reg8(r);
                    let c = carry(op, lz, cpu.eflags);
                    let (res, cc) = alu_op(op, Width::B8, a, b, c);
                    if writes(op) {
                        t!(wr(mem, addr, 1, res));
                    }
                    lz.set(cc, Width::B8, a, b, res, c);
                    stored!();
                }
                K::Alu16RI => {
                    let op = AluK::from_u8(u.op);
                    let a = cpu.regs[r] & 0xFFFF;
                    let c = carry(op, lz, cpu.eflags);
                    let (res, cc) = alu_op(op, Width::W16, a, u.imm, c);
                    if writes(op) {
                        cpu.regs[r] = (cpu.regs[r] & 0xFFFF_0000) | res;
                    }
                    lz.set(cc, Width::W16, a, u.imm, res, c);
                }
                K::Mov16RM => {
                    let v = t!(rd(mem, ea(cpu, u), 2));
                    cpu.regs[r] = (cpu.regs[r] & 0xFFFF_0000) | v;
                }
                K::IncM | K::DecM => {
                    let (w, bytes) = if u.op == 2 {
                        (Width::W16, 2)
                    } else {
                        (Width::D32, 4)
                    };
                    let addr = ea(cpu, u);
                    let a = t!(rd(mem, addr, bytes));
                    let (res, cc, c) = inc_dec(lz, cpu.eflags, w, a, u.k == K::IncM);
                    t!(wr(mem, addr, bytes, res));
                    lz.set(cc, w, a, 1, res, c);
                    stored!();
                }
                K::IncR | K::DecR => inc_dec_reg(cpu, lz, r, u.k == K::IncR),
                K::NegR => {
                    let a = cpu.regs[r];
                    let res = a.wrapping_neg();
                    cpu.regs[r] = res;
                    lz.set(CcOp::Sub, Width::D32, 0, a, res, 0);
                }
                K::NotR => cpu.regs[r] = !cpu.regs[r],
                K::ShiftRI | K::ShiftRC => {
                    lz.sync(&mut cpu.eflags);
                    let a = cpu.regs[r];
                    let count = if u.k == K::ShiftRI {
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
                K::ImulRR | K::ImulRRI => {
                    lz.sync(&mut cpu.eflags);
                    let b = cpu.regs[u.b as usize & 7];
                    let a = if u.k == K::ImulRR { cpu.regs[r] } else { u.imm };
                    let (res, f) = alu::imul_trunc(Width::D32, a, b, cpu.eflags);
                    cpu.regs[r] = res;
                    cpu.eflags = f;
                }
                K::PushR => {
                    t!(push(cpu, mem, cpu.regs[r]));
                    stored!();
                }
                K::PushI => {
                    t!(push(cpu, mem, u.imm));
                    stored!();
                }
                K::PushM => {
                    let v = t!(rd(mem, ea(cpu, u), 4));
                    t!(push(cpu, mem, v));
                    stored!();
                }
                K::PopR => {
                    let v = t!(rd(mem, cpu.regs[ESP], 4));
                    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(4);
                    cpu.regs[r] = v;
                }
                K::Cdq => cpu.regs[EDX] = ((cpu.regs[EAX] as i32) >> 31) as u32,
                K::XchgRR => cpu.regs.swap(r, u.b as usize & 7),
                K::Setcc => {
                    let v = lz.cond(u.op, cpu.eflags) as u32;
                    cpu.set_reg8(r, v);
                }
                K::CmovRR => {
                    if lz.cond(u.op, cpu.eflags) {
                        cpu.regs[r] = cpu.regs[u.b as usize & 7];
                    }
                }
                K::CmovRM => {
                    let v = t!(rd(mem, ea(cpu, u), 4));
                    if lz.cond(u.op, cpu.eflags) {
                        cpu.regs[r] = v;
                    }
                }
                K::Jmp => jump!(u.imm),
                K::Jcc => jump!(if lz.cond(u.op, cpu.eflags) {
                    u.imm
                } else {
                    u.disp
                }),
                K::Call => {
                    t!(push(cpu, mem, u.disp));
                    stored!();
                    jump!(u.imm)
                }
                K::JmpR => jump!(cpu.regs[r]),
                K::JmpM => jump!(t!(rd(mem, ea(cpu, u), 4))),
                K::CallR => {
                    let target = cpu.regs[r];
                    t!(push(cpu, mem, u.disp));
                    stored!();
                    jump!(target)
                }
                K::CallM => {
                    let target = t!(rd(mem, ea(cpu, u), 4));
                    t!(push(cpu, mem, block.insns[i].next_ip32()));
                    stored!();
                    jump!(target)
                }
                K::Ret => {
                    let target = t!(rd(mem, cpu.regs[ESP], 4));
                    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(4).wrapping_add(u.imm);
                    jump!(target)
                }
                K::CmpRRJcc | K::TestRRJcc | K::CmpRIJcc => {
                    let op = match u.k {
                        K::TestRRJcc => AluK::Test,
                        _ => AluK::Cmp,
                    };
                    let a = cpu.regs[r];
                    let b = match u.k {
                        K::CmpRIJcc => u.imm,
                        _ => cpu.regs[u.b as usize & 7],
                    };
                    let (res, cc) = alu_op(op, Width::D32, a, b, 0);
                    lz.set(cc, Width::D32, a, b, res, 0);
                    let target = if u.k == K::CmpRIJcc { u.disp } else { u.imm };
                    branch!(
                        if lz.cond(u.op, cpu.eflags) {
                            target
                        } else {
                            block.end
                        },
                        i + 2
                    )
                }
                K::DecRJcc | K::IncRJcc => {
                    inc_dec_reg(cpu, lz, r, u.k == K::IncRJcc);
                    branch!(
                        if lz.cond(u.op, cpu.eflags) {
                            u.imm
                        } else {
                            block.end
                        },
                        i + 2
                    )
                }
                K::Slow => {
                    lz.sync(&mut cpu.eflags);
                    let insn = &block.insns[i];
                    match exec(cpu, mem, insn) {
                        Ok(AfterInsn::Next) => {}
                        Ok(AfterInsn::Jump(target)) => {
                            stored!();
                            jump!(target)
                        }
                        Ok(AfterInsn::Syscall) => {
                            cpu.eip = insn.next_ip32();
                            return Stop::Syscall(i);
                        }
                        Ok(AfterInsn::Privileged) => {
                            cpu.eip = insn.ip32();
                            return Stop::Privileged(i);
                        }
                        Err(e) => {
                            cpu.eip = insn.ip32();
                            return Stop::Fault(i, e);
                        }
                    }
                    stored!();
                }
            }
        }
        cpu.eip = if n == 0 {
            block.start
        } else {
            block.insns[n - 1].next_ip32()
        };
        return Stop::Ran(n);
    }
}
