//! x87 transcendental instructions: `fsin`, `fcos`, `fptan`, `fsincos` (with C2 for an
//! out-of-range operand), and `fyl2x`, `fyl2xp1`, `fpatan` over st(1) and st(0), through
//! [`super::super::transcendental`].

use super::super::f80::F80;
use super::super::round::{exc, rounding};
use super::super::state::{sw, Fpu};
use super::super::transcendental::{self as tr, Angle};
use iced_x86::Mnemonic as M;

/// `fyl2x`, `fyl2xp1`, `fpatan`: an operation on st(1) and st(0) into st(1), then a pop.
pub(in crate::cpu::x87) fn two_operand(fpu: &mut Fpu, m: M) {
    let rc = rounding(fpu.cw);
    if let Some(ops) = fpu.operands(&[0, 1], 1, true) {
        let o = match m {
            M::Fyl2x => tr::ylog2x(ops[1], ops[0], rc),
            M::Fyl2xp1 => tr::ylog2xp1(ops[1], ops[0], rc),
            _ => tr::atan2(ops[1], ops[0], rc),
        };
        fpu.write_outcome(1, o, true);
    }
}

/// `fsin`, `fcos`, `fptan`, `fsincos`: st(0) in place (`fptan` and `fsincos` push a
/// second result).
pub(in crate::cpu::x87) fn trigonometric(fpu: &mut Fpu, m: M) {
    if fpu.is_empty(0) {
        if fpu.stack_fault(false) {
            fpu.set_st(0, F80::INDEFINITE);
            if matches!(m, M::Fptan | M::Fsincos) {
                fpu.push(F80::INDEFINITE);
            }
        }
        return;
    }
    let x = fpu.st(0);
    let rc = rounding(fpu.cw);
    let pushes = matches!(m, M::Fptan | M::Fsincos);
    if pushes && !fpu.is_empty(7) {
        if fpu.stack_fault(true) {
            fpu.set_st(0, F80::INDEFINITE);
            fpu.push(F80::INDEFINITE);
        }
        return;
    }
    let angle = match m {
        M::Fsin => tr::sin(x, rc),
        M::Fcos => tr::cos(x, rc),
        M::Fptan => tr::tan(x, rc),
        _ => tr::sincos(x, rc),
    };
    match angle {
        Angle::OutOfRange => fpu.sw |= sw::C2,
        Angle::Done(first, second) => {
            fpu.sw &= !sw::C2;
            fpu.raise(first.exceptions);
            if fpu.unmasked(first.exceptions & (exc::IE | exc::DE)) {
                return;
            }
            fpu.set_st(0, first.value);
            fpu.set_c1(first.c1);
            match m {
                M::Fptan => {
                    let one = if first.value.is_nan() {
                        first.value
                    } else {
                        F80::ONE
                    };
                    fpu.push(one);
                }
                M::Fsincos => fpu.push(second.unwrap_or(first).value),
                _ => {}
            }
        }
    }
}
