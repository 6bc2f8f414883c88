//! `fsin` `fcos` `fsincos` `fptan` `fpatan` `f2xm1` `fyl2x` `fyl2xp1`: computed through the
//! host's `f64` functions, as QEMU and blink do. Special operands (NaNs, infinities, zeros,
//! invalid domains, out-of-range angles) get exactly the hardware's responses; finite
//! results are accurate to about one unit in the last place of a double (2^-53 relative),
//! where the hardware is accurate to about one unit of extended precision (2^-64). The
//! inputs keep all 64 bits through a first-order correction (x = hi + lo, f(x) ≈ f(hi) +
//! f'(hi)·lo), so only the function's own rounding in `f64` is lost. Angles are reduced with
//! the CPU's 66-bit π, exactly, before that (see [`reduce`]). Products and quotients done in
//! the wide format are rounded to odd, so the final rounding is not a double rounding.

use super::arith::{propagate_nan, Outcome};
use super::f80::{Class, F80};
use super::round::{exc, round_to_register, sticky, wide, Precision, Wide};
use rustc_apfloat::ieee::Double;
use rustc_apfloat::{Float, FloatConvert, Round};

/// An extended value as a pair of doubles whose sum is exact (finite values within the
/// range of `f64`).
fn split(x: F80) -> (f64, f64) {
    split_wide(wide(x))
}

/// Rounds a host double back to a register value, flagging the result inexact as the
/// hardware does for these instructions.
fn from_f64(v: f64) -> F80 {
    F80::from_f64_bits(v.to_bits()).0
}

fn inexact(v: f64) -> Outcome {
    let value = from_f64(v);
    Outcome {
        value,
        exceptions: exc::PE | tiny_result(value),
        c1: false,
    }
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

/// sin and cos of `x` (|x| < 2^63) as the x87 reduces the angle: by multiples of π/2 with
/// π rounded to 66 bits (the CPU's constant), which is what makes results near the zeros of
/// sin and cos and the poles of tan follow the hardware rather than the exact function.
/// Returns (sin, cos) of the reduced angle, and the quadrant (k mod 4).
fn reduce(x: F80) -> (f64, f64, u32) {
    // π66 = 0x3.243F6A8885A308D3; π66/2 = PI66 × 2^-65, split into two 33-bit halves so
    // that k × half is exact in `Wide` for |k| < 2^63.
    const PI66: u128 = 0x3_243F_6A88_85A3_08D3;
    let hi = Wide::from_u128(PI66 >> 33 << 33).value.scalbn(-65);
    let lo = Wide::from_u128(PI66 & ((1 << 33) - 1)).value.scalbn(-65);
    let half_pi = Wide::from_u128(PI66).value.scalbn(-65);
    let w = wide(x);
    let k = (w / half_pi)
        .value
        .round_to_integral(Round::NearestTiesToEven)
        .value;
    let r = ((w - (k * hi).value).value - (k * lo).value).value;
    let quadrant = (k.to_i128(128).value & 3) as u32;
    let (rh, rl) = split_wide(r);
    let (s, c) = rh.sin_cos();
    // First-order correction for the low part of the reduced angle.
    (s + c * rl, c - s * rl, quadrant)
}

/// sin and cos of `x` from the reduced angle and quadrant.
fn sin_cos(x: F80) -> (f64, f64) {
    let (s, c, q) = reduce(x);
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
        _ if tiny(x) => {
            let (a, b) = f(F80::ZERO);
            Angle::Done(
                with(tiny_angle(x, a.value), denormal),
                b.map(|b| with(tiny_angle(x, b.value), denormal)),
            )
        }
        _ => {
            let (a, b) = f(x);
            Angle::Done(with(a, denormal), b.map(|b| with(b, denormal)))
        }
    }
}

/// For |x| < 2^-40: sin x = tan x = x and cos x = 1 to well beyond double precision; the
/// function's value at 0 tells which.
fn tiny_angle(x: F80, at_zero: F80) -> Outcome {
    let value = if at_zero == F80::ZERO {
        x.canonical()
    } else {
        at_zero
    };
    Outcome {
        value,
        exceptions: exc::PE | tiny_result(value),
        c1: false,
    }
}

/// The exact value at 0 (used for the tiny-angle shortcut), or the computed one.
fn at(x: F80, zero: F80, v: impl Fn(f64, f64) -> f64) -> Outcome {
    if x == F80::ZERO {
        return exact(zero);
    }
    let (s, c) = sin_cos(x);
    inexact(v(s, c))
}

/// `fsin`.
pub fn sin(x: F80) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(x), None);
    }
    angle(x, |x| (at(x, F80::ZERO, |s, _| s), None))
}

/// `fcos`.
pub fn cos(x: F80) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(F80::ONE), None);
    }
    angle(x, |x| (at(x, F80::ONE, |_, c| c), None))
}

/// `fsincos`: (sin, cos).
pub fn sincos(x: F80) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(x), Some(exact(F80::ONE)));
    }
    angle(x, |x| {
        (at(x, F80::ZERO, |s, _| s), Some(at(x, F80::ONE, |_, c| c)))
    })
}

/// `fptan`: tan(x) (the instruction then pushes 1.0).
pub fn tan(x: F80) -> Angle {
    if x.class() == Class::Zero {
        return Angle::Done(exact(x), None);
    }
    angle(x, |x| (at(x, F80::ZERO, |s, c| s / c), None))
}

fn exact(v: F80) -> Outcome {
    Outcome {
        value: v,
        exceptions: 0,
        c1: false,
    }
}

/// `a × b` and `a ÷ b` rounded to odd, so that the final rounding is not a double rounding.
fn mul_odd(a: Wide, b: Wide) -> Wide {
    sticky(a.mul_r(b, Round::TowardZero))
}

fn div_odd(a: Wide, b: Wide) -> Wide {
    sticky(a.div_r(b, Round::TowardZero))
}

/// A double as a wide value (exact).
fn wide_f64(v: f64) -> Wide {
    wide(from_f64(v))
}

/// Rounds a wide value to an inexact register result (round to nearest).
fn inexact_wide(w: Wide) -> Outcome {
    let r = round_to_register(w, Precision::Extended, Round::NearestTiesToEven, 0x3F);
    Outcome {
        value: r.value,
        exceptions: exc::PE | (r.exceptions & exc::OE) | tiny_result(r.value),
        c1: false,
    }
}

/// Whether |x| < 2^-40: small enough that the first term of a series is the answer at
/// double accuracy, and possibly beyond the range of `f64`.
fn tiny(x: F80) -> bool {
    x.exp() < 0x3FFF - 40
}

/// `f2xm1`: 2^x - 1 for -1 ≤ x ≤ 1 (undefined outside; computed anyway).
pub fn exp2m1(x: F80) -> Outcome {
    let denormal = match screen(x, x) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let ln2 = std::f64::consts::LN_2;
    match x.class() {
        Class::Zero => exact(x),
        Class::Infinity if x.sign() => exact(F80::ONE.with_sign(true)),
        Class::Infinity => exact(x),
        _ if tiny(x) => with(inexact_wide(mul_odd(wide(x), wide_f64(ln2))), denormal),
        // Outside the domain [-1, 1] the reference CPU (AMD family 1Ah) leaves the operand
        // and reports an inexact result.
        _ if x.exp() >= 0x3FFF && x != F80::ONE && x != F80::ONE.with_sign(true) => Outcome {
            value: x,
            exceptions: exc::PE | denormal,
            c1: false,
        },
        _ => {
            let (hi, lo) = split(x);
            let e = (hi * ln2).exp_m1();
            with(inexact(e + (e + 1.0) * ln2 * lo), denormal)
        }
    }
}

/// log2(x) for a finite positive x, in f64, accurate near 1.
fn log2(x: F80) -> f64 {
    if x.exp() == 0x3FFE || x.exp() == 0x3FFF {
        // x in [0.5, 2): log2(1 + (x - 1)) with x - 1 exact.
        let d = (wide(x) - wide(F80::ONE)).value;
        let (dh, dl) = split_wide(d);
        return (dh.ln_1p() + dl / (1.0 + dh)) / std::f64::consts::LN_2;
    }
    let leading_zeros = x.sig.leading_zeros() as i32;
    let e = x.exp().max(1) as i32 - 16383 - leading_zeros;
    let m = F80 {
        sign_exp: 0x3FFF,
        sig: x.sig << leading_zeros,
    };
    let (mh, ml) = split(m);
    e as f64 + mh.log2() + ml / (mh * std::f64::consts::LN_2)
}

/// A wide value as a pair of doubles: the nearest double and the nearest double to the rest.
fn split_wide(w: Wide) -> (f64, f64) {
    let hi: Double = w.convert_r(Round::NearestTiesToEven, &mut false).value;
    let hi_w: Wide = hi.convert(&mut false).value;
    let lo: Double = (w - hi_w).value.convert(&mut false).value;
    (
        f64::from_bits(hi.to_bits() as u64),
        f64::from_bits(lo.to_bits() as u64),
    )
}

/// `fyl2x`: y × log2(x).
pub fn ylog2x(y: F80, x: F80) -> Outcome {
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
    with(inexact_wide(mul_odd(wide(y), wide_f64(log2(x)))), denormal)
}

/// `fyl2xp1`: y × log2(x + 1), for |x| < 1 - √2/2 (computed anyway outside).
pub fn ylog2xp1(y: F80, x: F80) -> Outcome {
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
    let l = if tiny(x) {
        mul_odd(wide(x), wide_f64(std::f64::consts::LOG2_E))
    } else if x.exp() < 0x3FFD {
        // |x| < 1/4: log1p keeps the relative accuracy that 1 + x would lose.
        let (xh, xl) = split(x);
        wide_f64((xh.ln_1p() + xl / (1.0 + xh)) / std::f64::consts::LN_2)
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
        wide_f64(log2(r.value))
    };
    with(inexact_wide(mul_odd(wide(y), l)), denormal)
}

/// `fpatan`: atan2(y, x), the angle of the point (x, y).
pub fn atan2(y: F80, x: F80) -> Outcome {
    let denormal = match screen(y, x) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let (cy, cx) = (y.class(), x.class());
    if cy == Class::Zero || cx == Class::Infinity || cy == Class::Infinity || cx == Class::Zero {
        // The sign rules of f64's atan2 are the hardware's; ±π, ±π/2, ±π/4, ±3π/4 are
        // inexact, ±0 exact.
        let r = sign_only(y).atan2(sign_only(x));
        return with(
            if r == 0.0 {
                exact(from_f64(r))
            } else {
                inexact(r)
            },
            denormal,
        );
    }
    // Scale both by the same power of two so they fit a double (the angle is unchanged).
    let shift = 16383 - y.exp().max(x.exp()).max(1) as i32;
    let (ys, xs) = (wide(y).scalbn(shift), wide(x).scalbn(shift));
    let (yh, yl) = split_wide(ys);
    let (xh, xl) = split_wide(xs);
    if yh == 0.0 || xh == 0.0 || (yh / xh).abs() < 1e-30 {
        // |y/x| beyond the reach of f64's range: atan2 is y/x, or ±π + y/x.
        let q = div_odd(wide(y), wide(x));
        if !x.sign() && xh != 0.0 {
            return with(inexact_wide(q), denormal);
        }
        if xh == 0.0 {
            let half_pi = std::f64::consts::FRAC_PI_2;
            return with(inexact(if y.sign() { -half_pi } else { half_pi }), denormal);
        }
        let pi = wide_f64(std::f64::consts::PI);
        let r = if y.sign() {
            (q - pi).value
        } else {
            (pi + q).value
        };
        return with(inexact_wide(r), denormal);
    }
    let r = yh.atan2(xh);
    // d atan2(y, x) = (x dy - y dx) / (x² + y²).
    let correction = (xh * yl - yh * xl) / (xh * xh + yh * yh);
    with(inexact(r + correction), denormal)
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
        match sin(f(1.0)) {
            Angle::Done(o, None) => assert!(close(o.value, 1f64.sin())),
            _ => panic!(),
        }
        assert!(matches!(sin(f(1e30)), Angle::OutOfRange));
        assert!(close(ylog2x(f(3.0), f(8.0)).value, 9.0));
        assert!(close(exp2m1(f(0.5)).value, 2f64.sqrt() - 1.0));
        assert!(close(
            atan2(f(1.0), f(-1.0)).value,
            3.0 * std::f64::consts::FRAC_PI_4
        ));
        assert_eq!(ylog2x(f(1.0), f(0.0)).exceptions, exc::ZE);
        assert_eq!(ylog2x(f(1.0), f(-2.0)).value, F80::INDEFINITE);
    }
}
