//! x87 arithmetic instructions: `fadd`/`fsub`/`fmul`/`fdiv` and their reversed, popping
//! and integer forms, `fchs`/`fabs`, `fsqrt`, `frndint`, `f2xm1`, `fscale`, `fprem`/`fprem1`
//! and `fxtract`, over the exact operations of [`super::super::arith`].

use super::super::arith::{self, BinOp};
use super::super::f80::F80;
use super::super::round::{exc, rounding};
use super::super::state::{sw, Fpu};
use super::super::transcendental as tr;
use super::operand::{has_memory, load_operand, st_index};
use crate::cpu::operand::Result;
use iced_x86::{Instruction, Mnemonic as M};
use vmkit_mem::Memory;

/// The two-operand arithmetic: st(0) with memory, or st(0)/st(i) with each other; the
/// `r` forms reverse the operands, the `p` forms pop.
pub(in crate::cpu::x87) fn binary(
    fpu: &mut Fpu,
    mem: &Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let m = insn.mnemonic();
    let cw = fpu.cw;
    let (op, reverse) = match m {
        M::Fadd | M::Faddp | M::Fiadd => (BinOp::Add, false),
        M::Fsub | M::Fsubp | M::Fisub => (BinOp::Sub, false),
        M::Fsubr | M::Fsubrp | M::Fisubr => (BinOp::Sub, true),
        M::Fmul | M::Fmulp | M::Fimul => (BinOp::Mul, false),
        M::Fdiv | M::Fdivp | M::Fidiv => (BinOp::Div, false),
        _ => (BinOp::Div, true),
    };
    let pop = matches!(
        m,
        M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
    );
    if has_memory(insn) {
        let (src, load_exc) = load_operand(mem, addr, insn.memory_size())?;
        let Some(ops) = fpu.operands(&[0], 0, false) else {
            return Ok(());
        };
        let (a, b) = if reverse {
            (src, ops[0])
        } else {
            (ops[0], src)
        };
        let mut o = arith::binary(op, a, b, cw);
        // A denormal m32/m64 is normal once widened, but still a denormal operand
        // (unless a NaN, an invalid operation or a zero divide took precedence).
        if o.exceptions & (exc::IE | exc::ZE) == 0 && !a.is_nan() && !b.is_nan() {
            o.exceptions |= load_exc & exc::DE;
        }
        fpu.write_outcome(0, o, false);
    } else {
        let (dst, src) = if insn.op_count() == 2 {
            (st_index(insn, 0), st_index(insn, 1))
        } else {
            (1, 0)
        };
        let Some(ops) = fpu.operands(&[dst, src], dst, pop) else {
            return Ok(());
        };
        let (a, b) = if reverse {
            (ops[1], ops[0])
        } else {
            (ops[0], ops[1])
        };
        fpu.write_outcome(dst, arith::binary(op, a, b, cw), pop);
    }
    Ok(())
}

/// `fchs` and `fabs`: the sign of st(0).
pub(in crate::cpu::x87) fn sign(fpu: &mut Fpu, m: M) {
    if let Some(ops) = fpu.operands(&[0], 0, false) {
        let x = ops[0];
        let v = if m == M::Fchs {
            x.with_sign(!x.sign())
        } else {
            x.with_sign(false)
        };
        fpu.set_st(0, v);
        fpu.set_c1(false);
    }
}

/// `fsqrt`, `frndint`, `f2xm1`: an operation on st(0) in place.
pub(in crate::cpu::x87) fn unary(fpu: &mut Fpu, m: M) {
    let cw = fpu.cw;
    if let Some(ops) = fpu.operands(&[0], 0, false) {
        let o = match m {
            M::Fsqrt => arith::sqrt(ops[0], cw),
            M::Frndint => arith::round_int(ops[0], cw),
            _ => tr::exp2m1(ops[0], rounding(cw)),
        };
        fpu.write_outcome(0, o, false);
    }
}

/// `fscale`: st(0) × 2^trunc(st(1)).
pub(in crate::cpu::x87) fn scale(fpu: &mut Fpu) {
    let cw = fpu.cw;
    if let Some(ops) = fpu.operands(&[0, 1], 0, false) {
        fpu.write_outcome(0, arith::scale(ops[0], ops[1], cw), false);
    }
}

/// `fprem`/`fprem1`: the partial remainder of st(0) by st(1), the quotient's low bits in
/// C0 C3 C1, C2 set while incomplete.
pub(in crate::cpu::x87) fn remainder(fpu: &mut Fpu, m: M) {
    if let Some(ops) = fpu.operands(&[0, 1], 0, false) {
        let r = arith::remainder(ops[0], ops[1], m == M::Fprem1);
        fpu.raise(r.outcome.exceptions);
        if !fpu.unmasked(r.outcome.exceptions & (exc::IE | exc::DE)) {
            fpu.set_st(0, r.outcome.value);
            let q = r.quotient as u16;
            let mut cc = if r.incomplete { sw::C2 } else { 0 };
            if !r.incomplete {
                cc |= if q & 4 != 0 { sw::C0 } else { 0 }
                    | if q & 2 != 0 { sw::C3 } else { 0 }
                    | if q & 1 != 0 { sw::C1 } else { 0 };
            }
            fpu.set_cc(cc);
        }
    }
}

/// `fxtract`: splits st(0) into exponent (left in st(0)) and significand (pushed).
pub(in crate::cpu::x87) fn extract(fpu: &mut Fpu) {
    if let Some(ops) = fpu.operands(&[0], 0, false) {
        if !fpu.is_empty(7) {
            fpu.stack_fault(true);
            if !fpu.unmasked(exc::IE) {
                fpu.set_st(0, F80::INDEFINITE);
                fpu.push(F80::INDEFINITE);
            }
            return;
        }
        let (exponent, significand) = arith::extract(ops[0]);
        fpu.raise(exponent.exceptions);
        if !fpu.unmasked(exponent.exceptions & (exc::IE | exc::DE | exc::ZE)) {
            fpu.set_st(0, exponent.value);
            fpu.push(significand);
            fpu.set_c1(false);
        }
    }
}
