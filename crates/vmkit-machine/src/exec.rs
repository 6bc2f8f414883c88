//! The reference semantics: executes one decoded [`Instr`] on the architectural state.
//!
//! Every instruction is implemented here, once, for every operand size and addressing mode.
//! The interpreter's specialised fast records (see `block.rs`) cover only hot forms and are
//! tested against this module; anything they do not cover runs through [`exec`].
//!
//! Instructions are atomic: every fault is raised before the first architectural write.

use crate::cpu::{Cpu, FlagOp, SP};
use crate::env::Env;
use crate::fault::FaultKind;
use crate::Exit;
use vmkit_isa::{flag, Addr, Instr, Mem, Op, Operand, Size};
use vmkit_mem::Memory;

/// Where execution continues after one instruction. Produced by [`exec`] (the reference
/// semantics); consumed by the dispatch backends' `Generic` record (`interp.rs`) and by
/// `Machine::step`, which move ip accordingly.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// At the next instruction.
    Next,
    /// At this address.
    Jump(u64),
    /// The machine stops; ip is already past the instruction.
    Stop(Exit),
}

/// A resolved writable operand.
#[derive(Clone, Copy)]
enum Loc {
    Reg(usize),
    Mem(u64),
}

/// Computes the address a memory operand refers to, following its indirection depth.
#[inline]
pub(crate) fn effective_address(
    cpu: &Cpu,
    mem: &Memory,
    env: &Env,
    m: &Mem,
) -> Result<u64, FaultKind> {
    let r = &cpu.regs;
    let mut a = match m.addr {
        Addr::Reg(reg) => r[reg.index()],
        Addr::Based { base, disp } => r[base.index()].wrapping_add(disp as i64 as u64),
        Addr::Indexed {
            base,
            index,
            scale_log2,
            disp,
        } => base
            .map_or(0, |b| r[b.index()])
            .wrapping_add(r[index.index()] << scale_log2)
            .wrapping_add(disp as i64 as u64),
        Addr::Abs(x) => x as u64,
        Addr::Const(off) => env.const_base.wrapping_add(off as u64),
    };
    for _ in 0..m.depth {
        a = mem.read_u64(a)?;
    }
    Ok(a)
}

fn loc(cpu: &Cpu, mem: &Memory, env: &Env, op: &Operand) -> Result<Loc, FaultKind> {
    match op {
        Operand::Reg(r) => Ok(Loc::Reg(r.index())),
        Operand::Mem(m) => Ok(Loc::Mem(effective_address(cpu, mem, env, m)?)),
        // The decoder only lets registers and memory into destination slots.
        _ => Ok(Loc::Reg(crate::cpu::ZERO_REG)),
    }
}

fn read_loc(cpu: &Cpu, mem: &Memory, l: Loc, size: Size) -> Result<u64, FaultKind> {
    match l {
        Loc::Reg(r) => Ok(cpu.regs[r] & size.mask()),
        Loc::Mem(a) => Ok(mem.read(a, size.bytes())?),
    }
}

/// Writes `v` at `size`; a register keeps its bits above the operand size.
#[inline]
pub(crate) fn write_reg(cpu: &mut Cpu, r: usize, size: Size, v: u64) {
    if r == crate::cpu::ZERO_REG {
        return;
    }
    let m = size.mask();
    cpu.regs[r] = (cpu.regs[r] & !m) | (v & m);
}

fn write_loc(cpu: &mut Cpu, mem: &mut Memory, l: Loc, size: Size, v: u64) -> Result<(), FaultKind> {
    match l {
        Loc::Reg(r) => {
            write_reg(cpu, r, size, v);
            Ok(())
        }
        Loc::Mem(a) => Ok(mem.write(a, size.bytes(), v)?),
    }
}

/// Reads a source operand at `size` (immediates are truncated to the size).
pub(crate) fn read_src(
    cpu: &Cpu,
    mem: &Memory,
    env: &Env,
    op: &Operand,
    size: Size,
) -> Result<u64, FaultKind> {
    match op {
        Operand::Imm { value, .. } => Ok(*value as u64 & size.mask()),
        _ => read_loc(cpu, mem, loc(cpu, mem, env, op)?, size),
    }
}

/// Checks that pushing `bytes` is allowed and returns the new stack pointer.
#[inline]
pub(crate) fn push_sp(cpu: &Cpu, env: &Env, bytes: u64) -> Result<u64, FaultKind> {
    let sp = cpu.regs[SP].wrapping_sub(bytes);
    if sp < env.stack_limit || sp > cpu.regs[SP] {
        return Err(FaultKind::StackOverflow {
            sp,
            limit: env.stack_limit,
        });
    }
    Ok(sp)
}

fn shift(cpu: &mut Cpu, op: Op, size: Size, a: u64, count: u64) -> u64 {
    let bits = size.bits() as u64;
    let n = count % bits;
    if n == 0 {
        return a;
    }
    let m = size.mask();
    let (r, cf) = match op {
        Op::Shl => ((a << n) & m, (a >> (bits - n)) & 1),
        Op::Shr => (a >> n, (a >> (n - 1)) & 1),
        Op::Sar => {
            let s = size.sign_extend(a) as i64;
            ((s >> n) as u64 & m, ((s >> (n - 1)) & 1) as u64)
        }
        Op::Rol => {
            let r = ((a << n) | (a >> (bits - n))) & m;
            (r, r & 1)
        }
        _ => {
            let r = ((a >> n) | (a << (bits - n))) & m;
            (r, (r >> (bits - 1)) & 1)
        }
    };
    if matches!(op, Op::Rol | Op::Ror) {
        let f = (cpu.flags() & !flag::CF) | if cf != 0 { flag::CF } else { 0 };
        cpu.set_flags(f);
    } else {
        let mut f = if cf != 0 { flag::CF } else { 0 };
        if r == 0 {
            f |= flag::ZF;
        }
        if r & size.sign_bit() != 0 {
            f |= flag::SF;
        }
        cpu.set_flags(f);
    }
    r
}

fn zs_flags(size: Size, r: u64) -> u64 {
    (if r & size.mask() == 0 { flag::ZF } else { 0 })
        | if r & size.sign_bit() != 0 {
            flag::SF
        } else {
            0
        }
}

/// Binary integer operation `dst op= src` at `size`; returns the value to store, if any.
fn binary(cpu: &mut Cpu, op: Op, size: Size, a: u64, b: u64) -> Result<Option<u64>, FaultKind> {
    let m = size.mask();
    let sign = size.sign_bit();
    let sx = |v: u64| size.sign_extend(v) as i64;
    Ok(Some(match op {
        Op::Add => {
            let r = a.wrapping_add(b) & m;
            cpu.set_lazy(FlagOp::Add, size, a, b, r);
            r
        }
        Op::Sub => {
            let r = a.wrapping_sub(b) & m;
            cpu.set_lazy(FlagOp::Sub, size, a, b, r);
            r
        }
        Op::Cmp => {
            cpu.set_lazy(FlagOp::Sub, size, a, b, a.wrapping_sub(b) & m);
            return Ok(None);
        }
        Op::Adc | Op::Sbb => {
            let c = cpu.carry();
            let (r, carry) = if op == Op::Adc {
                let wide = a as u128 + b as u128 + c as u128;
                ((wide as u64) & m, wide > m as u128)
            } else {
                (
                    (a.wrapping_sub(b).wrapping_sub(c)) & m,
                    (a as u128) < b as u128 + c as u128,
                )
            };
            let of = if op == Op::Adc {
                (a ^ r) & (b ^ r) & sign != 0
            } else {
                (a ^ b) & (a ^ r) & sign != 0
            };
            cpu.set_flags(
                zs_flags(size, r)
                    | if carry { flag::CF } else { 0 }
                    | if of { flag::OF } else { 0 },
            );
            r
        }
        Op::And | Op::Or | Op::Xor | Op::Test => {
            let r = match op {
                Op::And | Op::Test => a & b,
                Op::Or => a | b,
                _ => a ^ b,
            };
            cpu.set_lazy(FlagOp::Logic, size, a, b, r);
            if op == Op::Test {
                return Ok(None);
            }
            r
        }
        Op::Mul | Op::Imul => {
            let (r, over) = if op == Op::Mul {
                let wide = a as u128 * b as u128;
                ((wide as u64) & m, wide > m as u128)
            } else {
                let wide = sx(a) as i128 * sx(b) as i128;
                let r = (wide as u64) & m;
                (r, wide != sx(r) as i128)
            };
            cpu.set_flags(zs_flags(size, r) | if over { flag::CF | flag::OF } else { 0 });
            r
        }
        Op::Mulh => (((a as u128 * b as u128) >> size.bits()) as u64) & m,
        Op::Imulh => (((sx(a) as i128 * sx(b) as i128) >> size.bits()) as u64) & m,
        Op::Div | Op::Rem => {
            if b == 0 {
                return Err(FaultKind::DivideByZero);
            }
            if op == Op::Div {
                a / b
            } else {
                a % b
            }
        }
        Op::Idiv | Op::Irem => {
            if b == 0 {
                return Err(FaultKind::DivideByZero);
            }
            let (x, y) = (sx(a), sx(b));
            if x == sx(sign) && y == -1 {
                return Err(FaultKind::DivideOverflow);
            }
            (if op == Op::Idiv { x / y } else { x % y }) as u64 & m
        }
        Op::Shl | Op::Shr | Op::Sar | Op::Rol | Op::Ror => shift(cpu, op, size, a, b),
        _ => return Ok(None),
    }))
}

fn float_binary(op: Op, a: f64, b: f64) -> f64 {
    match op {
        Op::Fadd => a + b,
        Op::Fsub => a - b,
        Op::Fmul => a * b,
        Op::Fdiv => a / b,
        Op::Fmin | Op::Fmax if a.is_nan() || b.is_nan() => f64::NAN,
        Op::Fmin => a.min(b),
        _ => a.max(b),
    }
}

/// Converts f64 to i64 by truncation; NaN and out-of-range values give `i64::MIN`, as the
/// x86 "integer indefinite" value.
pub(crate) fn f64_to_i64(x: f64) -> i64 {
    // 2^63, exactly representable: the valid range is [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-LIMIT..LIMIT).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// Executes `instr`, located at `ip` with the next instruction at `next`.
pub(crate) fn exec(
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    instr: &Instr,
    next: u64,
) -> Result<Flow, FaultKind> {
    let size = instr.size;
    let ops = &instr.operands;
    match instr.op {
        Op::Nop => {}
        Op::Halt => return Ok(Flow::Stop(Exit::Halted)),
        Op::Brk => return Ok(Flow::Stop(Exit::Breakpoint)),
        Op::Pushf => {
            let sp = push_sp(cpu, env, 8)?;
            mem.write(sp, 8, cpu.flags())?;
            cpu.regs[SP] = sp;
        }
        Op::Popf => {
            let v = mem.read(cpu.regs[SP], 8)?;
            cpu.regs[SP] = cpu.regs[SP].wrapping_add(8);
            cpu.set_flags(v);
        }
        Op::Ret => {
            let target = mem.read(cpu.regs[SP], 8)?;
            cpu.regs[SP] = cpu.regs[SP].wrapping_add(8);
            return Ok(Flow::Jump(target));
        }
        Op::Lea => {
            let Operand::Mem(m) = &ops[1] else {
                return Ok(Flow::Next);
            };
            let a = effective_address(cpu, mem, env, m)?;
            let dst = loc(cpu, mem, env, &ops[0])?;
            write_loc(cpu, mem, dst, Size::Q, a)?;
        }
        Op::Jmp | Op::Call | Op::Jcc => {
            let rel = match ops[if instr.op == Op::Jcc { 1 } else { 0 }] {
                Operand::Rel(r) => r,
                _ => 0,
            };
            let target = next.wrapping_add(rel as i64 as u64);
            match instr.op {
                Op::Jmp => return Ok(Flow::Jump(target)),
                Op::Call => {
                    let sp = push_sp(cpu, env, 8)?;
                    mem.write(sp, 8, next)?;
                    cpu.regs[SP] = sp;
                    return Ok(Flow::Jump(target));
                }
                _ => {
                    let Operand::Cond(c) = ops[0] else {
                        return Ok(Flow::Next);
                    };
                    return Ok(if cpu.cond(c) {
                        Flow::Jump(target)
                    } else {
                        Flow::Next
                    });
                }
            }
        }
        Op::JmpInd => return Ok(Flow::Jump(read_src(cpu, mem, env, &ops[0], Size::Q)?)),
        Op::CallInd => {
            let target = read_src(cpu, mem, env, &ops[0], Size::Q)?;
            let sp = push_sp(cpu, env, 8)?;
            mem.write(sp, 8, next)?;
            cpu.regs[SP] = sp;
            return Ok(Flow::Jump(target));
        }
        Op::Sys => {
            let Operand::U8(n) = ops[0] else {
                return Ok(Flow::Next);
            };
            return Ok(match crate::sys::syscall(cpu, mem, env, n)? {
                Some(exit) => Flow::Stop(exit),
                None => Flow::Next,
            });
        }
        Op::Hcall => {
            let Operand::U16(n) = ops[0] else {
                return Ok(Flow::Next);
            };
            crate::host::hcall(
                cpu,
                mem,
                &mut env.host_functions,
                &mut env.stdio.stdout,
                &mut env.broken_pipe,
                n,
            )?;
        }
        Op::Fadd | Op::Fsub | Op::Fmul | Op::Fdiv | Op::Fmin | Op::Fmax => {
            let dst = loc(cpu, mem, env, &ops[0])?;
            let a = f64::from_bits(read_loc(cpu, mem, dst, Size::Q)?);
            let b = f64::from_bits(read_src(cpu, mem, env, &ops[1], Size::Q)?);
            write_loc(
                cpu,
                mem,
                dst,
                Size::Q,
                float_binary(instr.op, a, b).to_bits(),
            )?;
        }
        Op::Fsqrt | Op::Fneg | Op::Fabs | Op::Cvtif | Op::Cvtfi => {
            let src = read_src(cpu, mem, env, &ops[1], Size::Q)?;
            let x = f64::from_bits(src);
            let r = match instr.op {
                Op::Fsqrt => x.sqrt().to_bits(),
                Op::Fneg => (-x).to_bits(),
                Op::Fabs => x.abs().to_bits(),
                Op::Cvtif => (src as i64 as f64).to_bits(),
                _ => f64_to_i64(x) as u64,
            };
            let dst = loc(cpu, mem, env, &ops[0])?;
            write_loc(cpu, mem, dst, Size::Q, r)?;
        }
        Op::Fcmp => {
            let a = f64::from_bits(read_src(cpu, mem, env, &ops[0], Size::Q)?);
            let b = f64::from_bits(read_src(cpu, mem, env, &ops[1], Size::Q)?);
            cpu.set_flags(if a.is_nan() || b.is_nan() {
                flag::ZF | flag::CF | flag::OF
            } else if a == b {
                flag::ZF
            } else if a < b {
                flag::CF
            } else {
                0
            });
        }
        Op::Mov => {
            let v = read_src(cpu, mem, env, &ops[1], size)?;
            let dst = loc(cpu, mem, env, &ops[0])?;
            write_loc(cpu, mem, dst, size, v)?;
        }
        Op::Movzx | Op::Movsx => {
            let v = read_src(cpu, mem, env, &ops[1], size)?;
            let v = if instr.op == Op::Movsx {
                size.sign_extend(v)
            } else {
                v
            };
            let dst = loc(cpu, mem, env, &ops[0])?;
            write_loc(cpu, mem, dst, Size::Q, v)?;
        }
        Op::Xchg => {
            let a = loc(cpu, mem, env, &ops[0])?;
            let b = loc(cpu, mem, env, &ops[1])?;
            let va = read_loc(cpu, mem, a, size)?;
            let vb = read_loc(cpu, mem, b, size)?;
            // Check both stores before making either.
            for l in [a, b] {
                if let Loc::Mem(addr) = l {
                    mem.check_write(addr, size.bytes())?;
                }
            }
            write_loc(cpu, mem, a, size, vb)?;
            write_loc(cpu, mem, b, size, va)?;
        }
        Op::Push => {
            let v = read_src(cpu, mem, env, &ops[0], size)?;
            let sp = push_sp(cpu, env, size.bytes() as u64)?;
            mem.write(sp, size.bytes(), v)?;
            cpu.regs[SP] = sp;
        }
        Op::Pop => {
            let v = mem.read(cpu.regs[SP], size.bytes())?;
            let old_sp = cpu.regs[SP];
            cpu.regs[SP] = old_sp.wrapping_add(size.bytes() as u64);
            let dst = loc(cpu, mem, env, &ops[0]);
            let result = dst.and_then(|d| write_loc(cpu, mem, d, size, v));
            if let Err(e) = result {
                cpu.regs[SP] = old_sp;
                return Err(e);
            }
        }
        Op::Neg | Op::Not | Op::Inc | Op::Dec | Op::Bswap => {
            let dst = loc(cpu, mem, env, &ops[0])?;
            let a = read_loc(cpu, mem, dst, size)?;
            let m = size.mask();
            let r = match instr.op {
                Op::Neg => 0u64.wrapping_sub(a) & m,
                Op::Not => !a & m,
                Op::Inc => a.wrapping_add(1) & m,
                Op::Dec => a.wrapping_sub(1) & m,
                _ => match size {
                    Size::B => a,
                    Size::W => (a as u16).swap_bytes() as u64,
                    Size::D => (a as u32).swap_bytes() as u64,
                    Size::Q => a.swap_bytes(),
                },
            };
            write_loc(cpu, mem, dst, size, r)?;
            match instr.op {
                Op::Neg => cpu.set_lazy(FlagOp::Sub, size, 0, a, r),
                Op::Inc => {
                    let c = cpu.carry();
                    cpu.set_lazy(FlagOp::Inc, size, a, c, r)
                }
                Op::Dec => {
                    let c = cpu.carry();
                    cpu.set_lazy(FlagOp::Dec, size, a, c, r)
                }
                _ => {}
            }
        }
        Op::Cmp | Op::Test => {
            let a = read_src(cpu, mem, env, &ops[0], size)?;
            let b = read_src(cpu, mem, env, &ops[1], size)?;
            binary(cpu, instr.op, size, a, b)?;
        }
        Op::Setcc | Op::Cmovcc => {
            let Operand::Cond(c) = ops[0] else {
                return Ok(Flow::Next);
            };
            let holds = cpu.cond(c);
            let dst = loc(cpu, mem, env, &ops[1])?;
            if instr.op == Op::Setcc {
                write_loc(cpu, mem, dst, size, holds as u64)?;
            } else {
                let v = read_src(cpu, mem, env, &ops[2], size)?;
                if holds {
                    write_loc(cpu, mem, dst, size, v)?;
                }
            }
        }
        _ => {
            // Two-operand integer arithmetic: dst = dst op src.
            let dst = loc(cpu, mem, env, &ops[0])?;
            let a = read_loc(cpu, mem, dst, size)?;
            let b = read_src(cpu, mem, env, &ops[1], size)?;
            if let Loc::Mem(addr) = dst {
                // Make sure the store will succeed before the flags change.
                mem.check_write(addr, size.bytes())?;
            }
            if let Some(r) = binary(cpu, instr.op, size, a, b)? {
                write_loc(cpu, mem, dst, size, r)?;
            }
        }
    }
    Ok(Flow::Next)
}
