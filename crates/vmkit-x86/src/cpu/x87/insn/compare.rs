//! x87 comparisons: `fcom`/`fucom`/`ficom` and their popping forms, `ftst`, which set the
//! condition codes; `fcomi`/`fucomi` and their popping forms, which set EFLAGS; `fxam`.

use super::super::arith;
use super::super::f80::F80;
use super::super::round::exc;
use super::super::state::Fpu;
use super::operand::{has_memory, load_operand, other_st};
use crate::cpu::flags::{AF, CF, OF, PF, SF, ZF};
use crate::cpu::operand::Result;
use iced_x86::{Instruction, Mnemonic as M};
use std::cmp::Ordering;
use vmkit_mem::Memory;

/// `fcom`, `fcomp`, `fcompp`, `fucom`..., `ficom`..., `ftst`: compares st(0) with st(i),
/// memory or +0 into C3 C2 C0, then pops as the form says.
pub(in crate::cpu::x87) fn compare(
    fpu: &mut Fpu,
    mem: &Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let m = insn.mnemonic();
    let quiet = matches!(m, M::Fucom | M::Fucomp | M::Fucompp);
    let pops = match m {
        M::Fcomp | M::Fucomp | M::Ficomp => 1,
        M::Fcompp | M::Fucompp => 2,
        _ => 0,
    };
    // Memory operands (a signaling NaN keeps its kind for the compare); ftst
    // compares with +0.
    let (other, load_exc) = if has_memory(insn) {
        load_operand(mem, addr, insn.memory_size())?
    } else {
        (F80::ZERO, 0)
    };
    let regs: Vec<usize> = if has_memory(insn) || m == M::Ftst {
        vec![0]
    } else if matches!(m, M::Fcompp | M::Fucompp) {
        vec![0, 1]
    } else {
        vec![0, other_st(insn)]
    };
    if regs.iter().any(|&i| fpu.is_empty(i)) {
        if fpu.stack_fault(false) {
            fpu.set_cc(Fpu::compare_cc(None));
            for _ in 0..pops {
                fpu.pop();
            }
        }
        return Ok(());
    }
    let a = fpu.st(0);
    let b = if regs.len() == 2 {
        fpu.st(regs[1])
    } else {
        other
    };
    let mut c = arith::compare(a, b, quiet);
    // A denormal m32/m64 is normal once widened, but still a denormal operand.
    if c.exceptions & exc::IE == 0 {
        c.exceptions |= load_exc & exc::DE;
    }
    // The condition codes are set even when an unmasked exception stops the pops.
    fpu.set_cc(Fpu::compare_cc(c.order));
    if !fpu.raise_in_order(c.exceptions) {
        return Ok(());
    }
    for _ in 0..pops {
        fpu.pop();
    }
    Ok(())
}

/// `fcomi`, `fcomip`, `fucomi`, `fucomip`: compares st(0) with st(i) into ZF PF CF.
pub(in crate::cpu::x87) fn compare_eflags(fpu: &mut Fpu, eflags: &mut u32, insn: &Instruction) {
    let m = insn.mnemonic();
    let quiet = matches!(m, M::Fucomi | M::Fucomip);
    let pop = matches!(m, M::Fcomip | M::Fucomip);
    let i = other_st(insn);
    if fpu.is_empty(0) || fpu.is_empty(i) {
        if fpu.stack_fault(false) {
            *eflags = comi_flags(*eflags, None);
            if pop {
                fpu.pop();
            }
        }
        return;
    }
    let c = arith::compare(fpu.st(0), fpu.st(i), quiet);
    fpu.set_c1(false);
    // EFLAGS are set even when an unmasked exception stops the pop.
    let may_pop = fpu.raise_in_order(c.exceptions);
    if pop && may_pop {
        fpu.pop();
    }
    *eflags = comi_flags(*eflags, c.order);
}

/// `fxam`: classifies st(0) into C3 C2 C0 (sign in C1).
pub(in crate::cpu::x87) fn examine(fpu: &mut Fpu) {
    let cc = arith::examine(fpu.st(0), fpu.is_empty(0));
    fpu.set_cc(cc);
}

/// EFLAGS of `fcomi`: ZF PF CF like C3 C2 C0; OF SF AF cleared.
fn comi_flags(eflags: u32, order: Option<Ordering>) -> u32 {
    let bits = match order {
        None => ZF | PF | CF,
        Some(Ordering::Less) => CF,
        Some(Ordering::Equal) => ZF,
        Some(Ordering::Greater) => 0,
    };
    (eflags & !(ZF | PF | CF | OF | SF | AF)) | bits
}
