//! `fsin` `fcos` `fsincos` `fptan` `fpatan` `f2xm1` `fyl2x` `fyl2xp1`: special operands
//! (NaNs, infinities, zeros, denormals, invalid domains, out-of-range angles) get exactly the
//! hardware's responses here; finite results are computed in [`precise`]'s 124-bit soft
//! float and rounded once to the register in the control word's rounding mode (precision
//! control does not apply), with C1 set when the magnitude was rounded up: the correctly
//! rounded value (`fyl2x`, `fyl2xp1` and `fpatan` round one intermediate to 68 bits first,
//! as the CPU does: see [`precise::CPU_INTERMEDIATE_BITS`]). Angles are reduced with the CPU's 66-bit π, exactly (see
//! [`precise::reduce`]), so that results near the zeros of sin and cos follow the hardware.
//! The CPU is not correctly rounded everywhere (its error is under one unit in the last
//! place): on AMD family 19h about 97 % of `x87_vs_cpu.rs`'s cases are bit-exact and the
//! others one unit away or differing only in C1 (see `docs/x86.md` for the counts per
//! instruction).

use super::arith::{propagate_nan, Outcome};
use super::f80::{Class, F80};
use super::precise::{self, Big};
use super::round::{exc, round_to_register, wide, Precision, Wide};
use rustc_apfloat::{Float, Round};

/// A host double as a register value (exact).
fn from_f64(v: f64) -> F80 {
    F80::from_f64_bits(v.to_bits()).0
}

/// UE for an inexact (never exactly zero) result in the denormal range or rounded to 0.
fn tiny_result(v: F80) -> u16 {
    if matches!(v.class(), Class::Denormal | Class::Zero) {
        exc::UE
    } else {
        0
    }
}

fn invalid() -> Outcome {
    Outcome {
        value: F80::INDEFINITE,
        exceptions: exc::IE,
        c1: false,
    }
}

/// Operand screening: `Err` with the outcome for unsupported formats and NaNs, otherwise
/// the denormal flag.
fn screen(a: F80, b: F80) -> Result<u16, Outcome> {
    if a.class() == Class::Unsupported || b.class() == Class::Unsupported {
        return Err(invalid());
    }
    if a.is_nan() || b.is_nan() {
        return Err(propagate_nan(a, b));
    }
    Ok(
        if a.class() == Class::Denormal || b.class() == Class::Denormal {
            exc::DE
        } else {
            0
        },
    )
}

fn with(o: Outcome, extra: u16) -> Outcome {
    Outcome {
        exceptions: o.exceptions | extra,
        ..o
    }
}

/// An angle operand's verdict: out of range (|x| ≥ 2^63, C2 set, nothing changes) or a
/// value to work on.
pub enum Angle {
    /// |x| ≥ 2^63: the instruction sets C2 and leaves the stack alone.
    OutOfRange,
    /// The result(s) of the instruction.
    Done(Outcome, Option<Outcome>),
}

/// sin and cos of `x` (|x| < 2^63), the angle reduced as the x87 reduces it: by multiples
/// of π/2 with π rounded to 66 bits (the CPU's constant), which is what makes results near
/// the zeros of sin and cos and the poles of tan follow the hardware rather than the exact
/// function (see [`precise::reduce`]).
fn sin_cos(x: F80) -> (Big, Big) {
    let (r, q) = precise::reduce(precise::from_wide(wide(x)));
    let (s, c) = precise::sin_cos(r);
    match q {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

fn angle(x: F80, f: impl Fn(F80) -> (Outcome, Option<Outcome>)) -> Angle {
    let denormal = match screen(x, x) {
        Ok(d) => d,
        Err(o) => return Angle::Done(o, Some(o)),
    };
    match x.class() {
        Class::Infinity => Angle::Done(invalid(), Some(invalid())),
        _ if x.exp() >= 0x3FFF + 63 => Angle::OutOfRange,
        _ => {
            let (a, b) = f(x);
            Angle::Done(with(a, denormal), b.map(|b| with(b, denormal)))
        }
    }
}

/// The exact value at 0, or the computed one.
fn at(x: F80, zero: F80, rc: Round, v: impl Fn(Big, Big) -> Big) -> Outcome {
    if x == F80::ZERO {
        return exact(zero);
    }
    let (s, c) = sin_cos(x);
    inexact_big(v(s, c), rc)
}

/// `fsin`.
pub fn sin(x: F80, rc: Round) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(x), None);
    }
    angle(x, |x| (at(x, F80::ZERO, rc, |s, _| s), None))
}

/// `fcos`.
pub fn cos(x: F80, rc: Round) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(F80::ONE), None);
    }
    angle(x, |x| (at(x, F80::ONE, rc, |_, c| c), None))
}

/// `fsincos`: (sin, cos).
pub fn sincos(x: F80, rc: Round) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(x), Some(exact(F80::ONE)));
    }
    angle(x, |x| {
        (
            at(x, F80::ZERO, rc, |s, _| s),
            Some(at(x, F80::ONE, rc, |_, c| c)),
        )
    })
}

/// `fptan`: tan(x) (the instruction then pushes 1.0).
pub fn tan(x: F80, rc: Round) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(x), None);
    }
    angle(x, |x| (at(x, F80::ZERO, rc, |s, c| (s / c).value), None))
}

fn exact(v: F80) -> Outcome {
    Outcome {
        value: v,
        exceptions: 0,
        c1: false,
    }
}

/// A double as a wide value (exact).
fn wide_f64(v: f64) -> Wide {
    wide(from_f64(v))
}

/// Rounds a precise value to an inexact register result in rounding mode `rc` (precision
/// control does not apply to transcendentals), C1 telling whether it was rounded up.
fn inexact_big(b: Big, rc: Round) -> Outcome {
    inexact_wide(precise::to_wide(b), rc)
}

/// Rounds a wide (round-to-odd) value to an inexact register result.
fn inexact_wide(w: Wide, rc: Round) -> Outcome {
    let r = round_to_register(w, Precision::Extended, rc, 0x3F);
    Outcome {
        value: r.value,
        exceptions: exc::PE | (r.exceptions & exc::OE) | tiny_result(r.value),
        c1: r.rounded_up,
    }
}

/// `f2xm1`: 2^x - 1 for -1 ≤ x ≤ 1 (undefined outside; computed anyway).
pub fn exp2m1(x: F80, rc: Round) -> Outcome {
    let denormal = match screen(x, x) {
        Ok(d) => d,
        Err(o) => return o,
    };
    match x.class() {
        Class::Zero => exact(x),
        Class::Infinity if x.sign() => exact(F80::ONE.with_sign(true)),
        Class::Infinity => exact(x),
        // Outside the domain [-1, 1] the reference CPU (AMD family 1Ah) leaves the operand
        // and reports an inexact result.
        _ if x.exp() >= 0x3FFF && x != F80::ONE && x != F80::ONE.with_sign(true) => Outcome {
            value: x,
            exceptions: exc::PE | denormal,
            c1: false,
        },
        _ => with(inexact_big(precise::exp2m1(big(x)), rc), denormal),
    }
}

/// A register value widened exactly to the precise format.
fn big(x: F80) -> Big {
    precise::from_wide(wide(x))
}

/// `fyl2x`: y × log2(x).
pub fn ylog2x(y: F80, x: F80, rc: Round) -> Outcome {
    let denormal = match screen(x, y) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let (cx, cy) = (x.class(), y.class());
    if x.sign() && cx != Class::Zero {
        return invalid();
    }
    let below_one = wide(x) < wide(F80::ONE);
    if cx == Class::Zero {
        return match cy {
            Class::Zero => invalid(),
            Class::Infinity => exact(F80::INFINITY.with_sign(!y.sign())),
            // Zero divide is detected before a denormal y is.
            _ => Outcome {
                value: F80::INFINITY.with_sign(!y.sign()),
                exceptions: exc::ZE,
                c1: false,
            },
        };
    }
    let is_one = x == F80::ONE;
    if cx == Class::Infinity {
        return match cy {
            Class::Zero => invalid(),
            _ => with(exact(F80::INFINITY.with_sign(y.sign())), denormal),
        };
    }
    if cy == Class::Infinity {
        if is_one {
            return invalid();
        }
        return with(
            exact(F80::INFINITY.with_sign(y.sign() != below_one)),
            denormal,
        );
    }
    if is_one || cy == Class::Zero {
        return with(
            exact(F80::ZERO.with_sign(y.sign() != (below_one && !is_one))),
            denormal,
        );
    }
    let log = precise::round_to_bits(precise::log2(big(x)), precise::CPU_INTERMEDIATE_BITS);
    let product = (big(y) * log).value;
    with(inexact_big(product, rc), denormal)
}

/// `fyl2xp1`: y × log2(x + 1), for |x| < 1 - √2/2 (computed anyway outside).
pub fn ylog2xp1(y: F80, x: F80, rc: Round) -> Outcome {
    let denormal = match screen(x, y) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let (cx, cy) = (x.class(), y.class());
    if cx == Class::Infinity || cy == Class::Infinity {
        if (cx == Class::Infinity && x.sign()) || cx == Class::Zero || cy == Class::Zero {
            return invalid();
        }
        return with(
            exact(F80::INFINITY.with_sign(x.sign() != y.sign())),
            denormal,
        );
    }
    if cx == Class::Zero || cy == Class::Zero {
        return with(exact(F80::ZERO.with_sign(x.sign() != y.sign())), denormal);
    }
    let l = if x.exp() < 0x3FFE {
        // |x| < 1/2: log2(1 + x) keeping the relative accuracy that 1 + x would lose.
        precise::log2_1p(big(x))
    } else {
        // Outside the documented domain the CPU still computes y × log2(1 + x).
        let sum = (wide(x) + wide(F80::ONE)).value;
        if sum.is_negative() {
            return invalid();
        }
        if sum.is_zero() {
            return Outcome {
                value: F80::INFINITY.with_sign(!y.sign()),
                exceptions: exc::ZE,
                c1: false,
            };
        }
        let r = round_to_register(sum, Precision::Extended, Round::NearestTiesToEven, 0x3F);
        precise::log2(big(r.value))
    };
    let l = precise::round_to_bits(l, precise::CPU_INTERMEDIATE_BITS);
    with(inexact_big((big(y) * l).value, rc), denormal)
}

/// `fpatan`: atan2(y, x), the angle of the point (x, y).
pub fn atan2(y: F80, x: F80, rc: Round) -> Outcome {
    let denormal = match screen(y, x) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let (cy, cx) = (y.class(), x.class());
    if cy == Class::Zero || cx == Class::Infinity || cy == Class::Infinity || cx == Class::Zero {
        // The sign rules of f64's atan2 are the hardware's; ±π, ±π/2, ±π/4, ±3π/4 are
        // inexact, ±0 exact.
        let r = sign_only(y).atan2(sign_only(x));
        if r == 0.0 {
            return with(exact(from_f64(r)), denormal);
        }
        // r is ±π, ±π/2, ±π/4 or ±3π/4 in f64, so r/π is exact: the result is that
        // multiple of the precise π.
        let multiple = precise::from_wide(wide_f64(r / std::f64::consts::PI));
        return with(inexact_big((multiple * precise::pi()).value, rc), denormal);
    }
    with(inexact_big(precise::atan2(big(y), big(x)), rc), denormal)
}

/// ±1, ±0 or ±∞ with `x`'s sign and kind (for the special cases of atan2).
fn sign_only(x: F80) -> f64 {
    let m = match x.class() {
        Class::Zero => 0.0,
        Class::Infinity => f64::INFINITY,
        _ => 1.0,
    };
    if x.sign() {
        -m
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Round = Round::NearestTiesToEven;

    fn f(v: f64) -> F80 {
        F80::from_f64_bits(v.to_bits()).0
    }

    fn close(a: F80, b: f64) -> bool {
        let a = f64::from_bits(
            crate::cpu::x87::round::to_f64_bits(a, Round::NearestTiesToEven, 0x3F).value,
        );
        (a - b).abs() <= b.abs() * 1e-15
    }

    #[test]
    fn values_and_special_cases() {
        match sin(f(1.0), N) {
            Angle::Done(o, None) => assert!(close(o.value, 1f64.sin())),
            _ => panic!(),
        }
        assert!(matches!(sin(f(1e30), N), Angle::OutOfRange));
        assert!(close(ylog2x(f(3.0), f(8.0), N).value, 9.0));
        assert!(close(exp2m1(f(0.5), N).value, 2f64.sqrt() - 1.0));
        assert!(close(
            atan2(f(1.0), f(-1.0), N).value,
            3.0 * std::f64::consts::FRAC_PI_4
        ));
        assert_eq!(ylog2x(f(1.0), f(0.0), N).exceptions, exc::ZE);
        assert_eq!(ylog2x(f(1.0), f(-2.0), N).value, F80::INDEFINITE);
    }

    /// Every operand class and exponent, in every rounding mode: no panic, no endless
    /// series, sin and cos within [-1, 1]; and two identities at the working precision.
    #[test]
    fn any_operand_gives_an_answer() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let modes = [
            Round::NearestTiesToEven,
            Round::TowardNegative,
            Round::TowardPositive,
            Round::TowardZero,
        ];
        for i in 0..10000 {
            let mut operand = || {
                let bits = next();
                let exp = match bits % 4 {
                    0 => (bits >> 8) as u16,
                    1 => 0x3FFF - 70 + (bits >> 8) as u16 % 140,
                    2 => ((bits >> 8) as u16 % 70) | ((bits >> 40) as u16 & 0x8000),
                    _ => (0x3FFF + (bits >> 8) as u16 % 64) | ((bits >> 40) as u16 & 0x8000),
                };
                let sig = next();
                F80 {
                    sign_exp: exp,
                    sig: if exp & 0x7FFF == 0 {
                        sig >> 1
                    } else {
                        sig | 1 << 63
                    },
                }
            };
            let (x, y) = (operand(), operand());
            let rc = modes[i % 4];
            for o in [
                exp2m1(x, rc),
                ylog2x(y, x, rc),
                ylog2xp1(y, x, rc),
                atan2(y, x, rc),
            ] {
                let _ = o.value;
            }
            let _ = tan(x, rc);
            for a in [sin(x, rc), cos(x, rc), sincos(x, rc)] {
                if let Angle::Done(o, _) = a {
                    // |sin x|, |cos x| ≤ 1.
                    assert!(o.value.exp() <= 0x3FFF || o.value.is_nan(), "{x:?}");
                }
            }
        }
        // sin² + cos² = 1 and 2^(log2 x) = x, to a few units of 2^-64.
        for v in [0.1, 1.0, 2.5, 100.0, 1e10] {
            let (s, c) = sin_cos(f(v));
            let one = ((s * s).value + (c * c).value).value;
            assert!((one - precise_int(1)).value.abs() < precise_int(1).scalbn(-120));
            let l = precise::log2(big(f(v)));
            let whole = l.to_i128(64).value;
            let fraction = (l - precise_int(whole)).value;
            let back = (precise::exp2m1(fraction) + precise_int(1))
                .value
                .scalbn(whole as i32);
            let err = ((back - big(f(v))).value / big(f(v))).value.abs();
            assert!(err < precise_int(1).scalbn(-115), "{v}");
        }
    }

    fn precise_int(n: i128) -> Big {
        Big::from_i128(n).value
    }
}
