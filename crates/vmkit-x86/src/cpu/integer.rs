//! Integer instructions that compute through [`super::alu`]: add/subtract and logic,
//! `inc`/`dec`/`neg`/`not`, shifts and rotates, multiply and divide, bit tests and scans,
//! `bswap`, the atomic read-modify-writes (`xadd`, `cmpxchg`, `cmpxchg8b`), the decimal
//! adjusts, and the instructions that set or copy flags directly (`clc`, `lahf`, `salc`...).
//!
//! A read-modify-write checks that its destination is writable before it changes EFLAGS, so
//! a faulting instruction leaves the flags as they were.

use super::alu::{self, Width};
use super::flags::{CF, DF, ZF};
use super::operand::{
    addr16, check_writable, effective_address, memory_offset, op_width, read_mem, read_op,
    segment_base, write_mem, write_op, ExecError, Result,
};
use super::{Cpu, EAX, EBX, ECX, EDX};
use iced_x86::{Instruction, Mnemonic as M, OpKind};
use vmkit_mem::Memory;

/// `add`, `adc`, `sub`, `sbb`, `and`, `or`, `xor`, and `cmp`/`test`, which write only flags.
pub(super) fn binary(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let a = read_op(cpu, mem, insn, 0)?;
    let b = read_op(cpu, mem, insn, 1)? & w.mask();
    let writes = !matches!(insn.mnemonic(), M::Cmp | M::Test);
    if writes {
        check_writable(cpu, mem, insn, 0)?;
    }
    let fl = cpu.eflags;
    let (r, flags) = match insn.mnemonic() {
        M::Add => alu::add(w, a, b, fl),
        M::Adc => alu::adc(w, a, b, fl),
        M::Sub | M::Cmp => alu::sub(w, a, b, fl),
        M::Sbb => alu::sbb(w, a, b, fl),
        M::And | M::Test => alu::and(w, a, b, fl),
        M::Or => alu::or(w, a, b, fl),
        _ => alu::xor(w, a, b, fl),
    };
    cpu.eflags = flags;
    if writes {
        write_op(cpu, mem, insn, 0, r)?;
    }
    Ok(())
}

/// `inc`, `dec`, `neg`, and `not` (which keeps the flags).
pub(super) fn unary(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let a = read_op(cpu, mem, insn, 0)?;
    check_writable(cpu, mem, insn, 0)?;
    let fl = cpu.eflags;
    let (r, flags) = match insn.mnemonic() {
        M::Inc => alu::inc(w, a, fl),
        M::Dec => alu::dec(w, a, fl),
        M::Neg => alu::neg(w, a, fl),
        _ => (!a & w.mask(), fl),
    };
    cpu.eflags = flags;
    write_op(cpu, mem, insn, 0, r)
}

/// `shl`/`sal`, `shr`, `sar`, `rol`, `ror`, `rcl`, `rcr` by 1, an immediate or cl.
pub(super) fn shift(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let a = read_op(cpu, mem, insn, 0)?;
    let count = if insn.op_count() > 1 {
        read_op(cpu, mem, insn, 1)?
    } else {
        1
    };
    check_writable(cpu, mem, insn, 0)?;
    let fl = cpu.eflags;
    let (r, flags) = match insn.mnemonic() {
        M::Shl | M::Sal => alu::shl(w, a, count, fl),
        M::Shr => alu::shr(w, a, count, fl),
        M::Sar => alu::sar(w, a, count, fl),
        M::Rol => alu::rol(w, a, count, fl),
        M::Ror => alu::ror(w, a, count, fl),
        M::Rcl => alu::rcl(w, a, count, fl),
        _ => alu::rcr(w, a, count, fl),
    };
    cpu.eflags = flags;
    write_op(cpu, mem, insn, 0, r)
}

/// `shld` and `shrd`: shifts with the bits of a second register shifted in.
pub(super) fn double_shift(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let a = read_op(cpu, mem, insn, 0)?;
    let b = read_op(cpu, mem, insn, 1)?;
    let count = read_op(cpu, mem, insn, 2)?;
    check_writable(cpu, mem, insn, 0)?;
    let (r, flags) = if insn.mnemonic() == M::Shld {
        alu::shld(w, a, b, count, cpu.eflags)
    } else {
        alu::shrd(w, a, b, count, cpu.eflags)
    };
    cpu.eflags = flags;
    write_op(cpu, mem, insn, 0, r)
}

/// One-operand `mul`/`imul`: the accumulator times the operand into the accumulator pair.
pub(super) fn multiply_wide(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let src = read_op(cpu, mem, insn, 0)?;
    let (lo, hi, flags) = if insn.mnemonic() == M::Mul {
        alu::mul(w, cpu.acc(w), src, cpu.eflags)
    } else {
        alu::imul(w, cpu.acc(w), src, cpu.eflags)
    };
    cpu.eflags = flags;
    cpu.set_acc_pair(w, lo, hi);
    Ok(())
}

/// Two- and three-operand `imul`: the product truncated to the destination.
pub(super) fn multiply_truncated(
    cpu: &mut Cpu,
    mem: &mut Memory,
    insn: &Instruction,
) -> Result<()> {
    let w = op_width(insn, 0);
    let (a, b) = if insn.op_count() == 3 {
        (read_op(cpu, mem, insn, 1)?, read_op(cpu, mem, insn, 2)?)
    } else {
        (read_op(cpu, mem, insn, 0)?, read_op(cpu, mem, insn, 1)?)
    };
    let (r, flags) = alu::imul_trunc(w, a, b, cpu.eflags);
    cpu.eflags = flags;
    write_op(cpu, mem, insn, 0, r)
}

/// `div`/`idiv`: the accumulator pair divided by the operand; #DE on a zero divisor or an
/// overflowing quotient.
pub(super) fn divide(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let divisor = read_op(cpu, mem, insn, 0)?;
    let (lo, hi) = cpu.acc_pair(w);
    let (q, r) = if insn.mnemonic() == M::Div {
        alu::div(w, lo, hi, divisor)
    } else {
        alu::idiv(w, lo, hi, divisor)
    }
    .map_err(|_| ExecError::Divide)?;
    cpu.eflags = alu::div_flags(cpu.eflags);
    cpu.set_acc_pair(w, q, r);
    Ok(())
}

/// `bt`, `bts`, `btr`, `btc`: tests (and sets, clears or flips) one bit into CF.
pub(super) fn bit_test(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let offset = read_op(cpu, mem, insn, 1)?;
    let register_offset = insn.op_kind(1) == OpKind::Register;
    // A register bit offset into memory selects a bit anywhere in the bit string.
    let (addr, bit) = if insn.op_kind(0) == OpKind::Memory && register_offset {
        let bits = w.bits() as i64;
        let signed = match w {
            Width::W16 => offset as u16 as i16 as i64,
            _ => offset as i32 as i64,
        };
        let step = signed.div_euclid(bits) * (bits / 8);
        // The moved offset still wraps at 64 KiB under 16-bit addressing.
        let mut offset = memory_offset(cpu, insn).wrapping_add(step as u32);
        if addr16(insn) {
            offset &= 0xffff;
        }
        (
            Some(offset.wrapping_add(segment_base(cpu, insn))),
            signed.rem_euclid(bits) as u32,
        )
    } else if insn.op_kind(0) == OpKind::Memory {
        (Some(effective_address(cpu, insn)), offset)
    } else {
        (None, offset)
    };
    let value = match addr {
        Some(a) => read_mem(mem, a, w)?,
        None => read_op(cpu, mem, insn, 0)?,
    };
    let fl = cpu.eflags;
    let (r, flags) = match insn.mnemonic() {
        M::Bt => (value, alu::bt(w, value, bit, fl)),
        M::Bts => alu::bts(w, value, bit, fl),
        M::Btr => alu::btr(w, value, bit, fl),
        _ => alu::btc(w, value, bit, fl),
    };
    if insn.mnemonic() != M::Bt {
        match addr {
            Some(a) => write_mem(mem, a, w, r)?,
            None => write_op(cpu, mem, insn, 0, r)?,
        }
    }
    cpu.eflags = flags;
    Ok(())
}

/// `bsf`/`bsr`, and `tzcnt`/`lzcnt` executed as them.
///
/// `rep bsf`/`rep bsr` (F3 0F BC/BD) decode as tzcnt/lzcnt, which the guest CPU (an i686
/// without BMI1/ABM, see cpuid) does not have: like such a CPU it ignores the prefix. gcc
/// emits `rep bsf` for ctz because it means bsf on old CPUs.
pub(super) fn bit_scan(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let dst = read_op(cpu, mem, insn, 0)?;
    let src = read_op(cpu, mem, insn, 1)?;
    let (r, flags) = if matches!(insn.mnemonic(), M::Bsf | M::Tzcnt) {
        alu::bsf(w, dst, src, cpu.eflags)
    } else {
        alu::bsr(w, dst, src, cpu.eflags)
    };
    cpu.eflags = flags;
    write_op(cpu, mem, insn, 0, r)
}

/// `bswap`.
pub(super) fn bswap(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let v = read_op(cpu, mem, insn, 0)?;
    write_op(cpu, mem, insn, 0, alu::bswap(op_width(insn, 0), v))
}

/// `xadd`: exchanges, then stores the sum in the destination.
pub(super) fn xadd(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let a = read_op(cpu, mem, insn, 0)?;
    let b = read_op(cpu, mem, insn, 1)?;
    check_writable(cpu, mem, insn, 0)?;
    let (sum, flags) = alu::add(w, a, b, cpu.eflags);
    if insn.op_kind(0) == OpKind::Memory {
        // The address is taken before the source register (which may form it, as in
        // `xadd [ecx], ch`) changes.
        let addr = effective_address(cpu, insn);
        write_mem(mem, addr, w, sum)?;
        write_op(cpu, mem, insn, 1, a)?;
    } else {
        // `xadd eax, eax` leaves the sum: the destination is written last.
        write_op(cpu, mem, insn, 1, a)?;
        write_op(cpu, mem, insn, 0, sum)?;
    }
    cpu.eflags = flags;
    Ok(())
}

/// `cmpxchg`: compares the accumulator with the destination, then stores the source there
/// or loads the destination into the accumulator.
pub(super) fn cmpxchg(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let dst = read_op(cpu, mem, insn, 0)?;
    let acc = cpu.acc(w);
    check_writable(cpu, mem, insn, 0)?;
    cpu.eflags = alu::cmp(w, acc, dst, cpu.eflags);
    if acc == dst {
        let src = read_op(cpu, mem, insn, 1)?;
        write_op(cpu, mem, insn, 0, src)?;
    } else {
        // The CPU writes the destination back even when the compare fails.
        write_op(cpu, mem, insn, 0, dst)?;
        cpu.set_acc(w, dst);
    }
    Ok(())
}

/// `cmpxchg8b`: the 64-bit compare-exchange of edx:eax with memory (ecx:ebx stored).
pub(super) fn cmpxchg8b(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let a = effective_address(cpu, insn);
    let lo = read_mem(mem, a, Width::D32)?;
    let hi = read_mem(mem, a.wrapping_add(4), Width::D32)?;
    mem.check_write(a as u64, 8)?;
    if lo == cpu.regs[EAX] && hi == cpu.regs[EDX] {
        write_mem(mem, a, Width::D32, cpu.regs[EBX])?;
        write_mem(mem, a.wrapping_add(4), Width::D32, cpu.regs[ECX])?;
        cpu.eflags |= ZF;
    } else {
        write_mem(mem, a, Width::D32, lo)?;
        write_mem(mem, a.wrapping_add(4), Width::D32, hi)?;
        cpu.regs[EAX] = lo;
        cpu.regs[EDX] = hi;
        cpu.eflags &= !ZF;
    }
    Ok(())
}

/// The decimal adjusts `daa`, `das`, `aaa`, `aas`, `aam`, `aad` (al/ax); `aam 0` is #DE.
pub(super) fn decimal_adjust(cpu: &mut Cpu, insn: &Instruction) -> Result<()> {
    match insn.mnemonic() {
        M::Daa | M::Das => {
            let al = cpu.reg8(0);
            let (r, flags) = if insn.mnemonic() == M::Daa {
                alu::daa(al, cpu.eflags)
            } else {
                alu::das(al, cpu.eflags)
            };
            cpu.set_reg8(0, r);
            cpu.eflags = flags;
        }
        M::Aaa | M::Aas => {
            let ax = cpu.reg16(EAX);
            let (r, flags) = if insn.mnemonic() == M::Aaa {
                alu::aaa(ax, cpu.eflags)
            } else {
                alu::aas(ax, cpu.eflags)
            };
            cpu.set_reg16(EAX, r);
            cpu.eflags = flags;
        }
        M::Aam => {
            let (ax, flags) = alu::aam(cpu.reg8(0), insn.immediate8() as u32, cpu.eflags)
                .map_err(|_| ExecError::Divide)?;
            cpu.set_reg16(EAX, ax);
            cpu.eflags = flags;
        }
        _ => {
            let (al, flags) = alu::aad(cpu.reg16(EAX), insn.immediate8() as u32, cpu.eflags);
            cpu.set_reg16(EAX, al & 0xff);
            cpu.eflags = flags;
        }
    }
    Ok(())
}

/// The instructions that set or copy flags directly: `clc`, `stc`, `cmc`, `cld`, `std`,
/// `lahf`, `sahf`, and `salc` (al from CF).
pub(super) fn flag_op(cpu: &mut Cpu, m: M) {
    match m {
        M::Clc => cpu.eflags &= !CF,
        M::Stc => cpu.eflags |= CF,
        M::Cmc => cpu.eflags ^= CF,
        M::Cld => cpu.eflags &= !DF,
        M::Std => cpu.eflags |= DF,
        M::Lahf => {
            let ah = (cpu.eflags & 0xD5) | 0x2;
            cpu.set_reg8(4, ah);
        }
        M::Sahf => {
            let ah = cpu.reg8(4);
            cpu.eflags = (cpu.eflags & !0xD5) | (ah & 0xD5);
        }
        _ => cpu.set_reg8(0, if cpu.flag(CF) { 0xff } else { 0 }),
    }
}

/// `bound`: the signed index in the register must lie within the signed lower and upper
/// bounds stored one after the other in memory; otherwise #BR.
pub(super) fn bound(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 0);
    let at = effective_address(cpu, insn);
    let signed = |v: u32| match w {
        Width::W16 => v as u16 as i16 as i32,
        _ => v as i32,
    };
    let index = signed(read_op(cpu, mem, insn, 0)?);
    let lower = signed(read_mem(mem, at, w)?);
    let upper = signed(read_mem(mem, at.wrapping_add(w.bits() / 8), w)?);
    if index < lower || index > upper {
        return Err(ExecError::BoundRange);
    }
    Ok(())
}
