//! The mathematical cores of the x87 transcendentals in a 124-bit-significand soft float
//! ([`Big`], through `rustc_apfloat`): log2, log2(1 + x), 2^x - 1, atan, and sin/cos of a
//! reduced angle, each by argument reduction and a power series summed until the terms fall
//! below 2^-130 of the sum. The 60 bits beyond the register's 64 leave room for the error of
//! the series (a few units of 2^-124), so the register result rounded from them is the
//! correctly rounded one except in cases closer to a rounding boundary than 2^-120 relative.
//! Where the CPU's results show a rounded intermediate, [`CPU_INTERMEDIATE_BITS`] follows
//! the CPU instead.
//!
//! This module owns only finite arithmetic on values already screened by
//! `transcendental` (no NaNs, infinities or invalid domains reach it) and knows nothing of
//! the status word.

use super::round::{sticky, Wide};
use rustc_apfloat::ieee::{IeeeFloat, Semantics};
use rustc_apfloat::{Float, FloatConvert, Round};

/// Semantics of [`Big`].
pub struct BigS;
impl Semantics for BigS {
    const BITS: usize = 142;
    const EXP_BITS: usize = 18;
}
/// The working format: 124-bit significand, exponent range ±131070 (any product or
/// quotient of two register values fits).
pub type Big = IeeeFloat<BigS>;

/// Terms smaller than the sum by this power of two end a series.
const SERIES_END: i32 = 130;

fn int(n: i128) -> Big {
    Big::from_i128(n).value
}

fn add(a: Big, b: Big) -> Big {
    (a + b).value
}

fn sub(a: Big, b: Big) -> Big {
    (a - b).value
}

fn mul(a: Big, b: Big) -> Big {
    (a * b).value
}

fn div(a: Big, b: Big) -> Big {
    (a / b).value
}

/// Whether `term` no longer changes `sum` at the working precision (with margin).
fn negligible(term: Big, sum: Big) -> bool {
    term.is_zero() || (!sum.is_zero() && term.ilogb() < sum.ilogb() - SERIES_END)
}

/// The end of a series: the sum moved one unit of its last place toward the first term left
/// out, so that a sum which happens to be short (sin x = x for a tiny x) still rounds as the
/// value it approximates, which is never exactly representable, in every mode and for C1.
fn settle(sum: Big, next_term: Big) -> Big {
    if next_term.is_zero() {
        sum
    } else if next_term.is_negative() {
        sum.next_down().value
    } else {
        sum.next_up().value
    }
}

/// A register-width value widened exactly.
pub fn from_wide(w: Wide) -> Big {
    w.convert(&mut false).value
}

/// `b` rounded to nearest (ties to even) at `bits` significant bits.
pub fn round_to_bits(b: Big, bits: i32) -> Big {
    if b.is_zero() {
        return b;
    }
    let shift = bits - 1 - b.ilogb();
    b.scalbn(shift)
        .round_to_integral(Round::NearestTiesToEven)
        .value
        .scalbn(-shift)
}

/// Rounds to the intermediate format toward zero with the sticky bit (round to odd), so
/// that the final rounding to the register is not a double rounding.
pub fn to_wide(b: Big) -> Wide {
    sticky(b.convert_r(Round::TowardZero, &mut false))
}

/// atanh(s) = s + s³/3 + s⁵/5 + … for |s| ≤ 1/3.
fn atanh_series(s: Big) -> Big {
    let s2 = mul(s, s);
    let mut power = s;
    let mut sum = s;
    let mut k = 1;
    loop {
        power = mul(power, s2);
        k += 2;
        let term = div(power, int(k));
        if negligible(term, sum) {
            return settle(sum, term);
        }
        sum = add(sum, term);
    }
}

/// atan(s) = s - s³/3 + s⁵/5 - … for |s| ≤ 1/2.
fn atan_series(s: Big) -> Big {
    let s2 = mul(s, s);
    let mut power = s;
    let mut sum = s;
    let mut k = 1;
    loop {
        power = -mul(power, s2);
        k += 2;
        let term = div(power, int(k));
        if negligible(term, sum) {
            return settle(sum, term);
        }
        sum = add(sum, term);
    }
}

/// ln 2, from its first 128 bits (0.B17217F7D1CF79ABC9E3B39803F2F6AF40F3…).
pub fn ln2() -> Big {
    Big::from_u128(0xB172_17F7_D1CF_79AB_C9E3_B398_03F2_F6AF)
        .value
        .scalbn(-128)
}

/// π, from its first 128 bits (3.243F6A8885A308D313198A2E03707344A409…).
pub fn pi() -> Big {
    Big::from_u128(0xC90F_DAA2_2168_C234_C4C6_628B_80DC_1CD1)
        .value
        .scalbn(-126)
}

/// log2 of a finite positive value: x = 2^e × m with m in [√2/2, √2), ln m = 2 atanh((m -
/// 1)/(m + 1)), where m - 1 is exact.
pub fn log2(x: Big) -> Big {
    let mut e = x.ilogb();
    let mut m = x.scalbn(-e);
    if m > Big::from_u128(0x0016_A09E_667F_3BCD).value.scalbn(-52) {
        m = m.scalbn(-1);
        e += 1;
    }
    let s = div(sub(m, int(1)), add(m, int(1)));
    let ln_m = mul(int(2), atanh_series(s));
    add(int(e as i128), div(ln_m, ln2()))
}

/// log2(1 + x) for x > -1, keeping the relative accuracy for small x:
/// ln(1 + x) = 2 atanh(x / (2 + x)).
pub fn log2_1p(x: Big) -> Big {
    if x.abs() < int(1).scalbn(-1) {
        let s = div(x, add(int(2), x));
        return div(mul(int(2), atanh_series(s)), ln2());
    }
    log2(add(int(1), x))
}

/// e^t - 1 for |t| ≤ 2^-8 (Taylor series).
fn expm1_series(t: Big) -> Big {
    let mut term = t;
    let mut sum = t;
    let mut k = 1;
    loop {
        k += 1;
        term = div(mul(term, t), int(k));
        if negligible(term, sum) {
            return settle(sum, term);
        }
        sum = add(sum, term);
    }
}

/// 2^x - 1 for |x| ≤ 1 (and beyond, less efficiently): e^t - 1 with t = x ln 2, halved
/// until small, then doubled back through e^2u - 1 = (e^u - 1)(e^u - 1 + 2), which keeps
/// the relative accuracy near 0.
pub fn exp2m1(x: Big) -> Big {
    let t = mul(x, ln2());
    let halvings = (t.ilogb() + 9).max(0);
    let mut e = expm1_series(t.scalbn(-halvings));
    for _ in 0..halvings {
        e = mul(e, add(e, int(2)));
    }
    e
}

/// atan(q) for q ≥ 0: atan q = π/2 - atan(1/q) above 1, then π/4 + atan((q - 1)/(q + 1))
/// above tan(π/8), then the series on |s| < 0.42.
fn atan(q: Big) -> Big {
    if q > int(1) {
        return sub(pi().scalbn(-1), atan(div(int(1), q)));
    }
    if q > Big::from_u128(0x6_A09E_667F_3BCD).value.scalbn(-52) {
        let s = div(sub(q, int(1)), add(q, int(1)));
        return add(pi().scalbn(-2), atan_series(s));
    }
    atan_series(q)
}

/// The significand width of the CPU's internal intermediates where its results show one:
/// AMD family 19h rounds log2(x) and log2(1 + x) to 68 bits before multiplying by y
/// (`fyl2x`, `fyl2xp1`) and the ratio of the smaller to the larger of |y| and |x| before
/// taking its arctangent (`fpatan`). Measured with `x87_vs_cpu.rs`: at 68 bits, rounding to
/// nearest, more results are bit-exact than with the exact intermediate (3,869 of 4,000
/// random operands for `fyl2x` and for `fyl2xp1`, against 3,854 and 3,842; 3,922 for
/// `fpatan`, against 3,902) and than at 64 to 76 bits or rounding toward zero. Rounding
/// the other instructions' intermediates (the reduced angle, x ln 2, sin and cos before
/// tan's quotient, or their results) matches fewer or the same, so those are exact.
pub const CPU_INTERMEDIATE_BITS: i32 = 68;

/// atan2(y, x) for finite nonzero y and x: the angle of the point (x, y) in (-π, π], from
/// the ratio of the smaller to the larger of |y| and |x| rounded as the CPU rounds it (see
/// [`CPU_INTERMEDIATE_BITS`]).
pub fn atan2(y: Big, x: Big) -> Big {
    let (ay, ax) = (y.abs(), x.abs());
    let ratio = |a, b| round_to_bits(div(a, b), CPU_INTERMEDIATE_BITS);
    let mut a = if ay <= ax {
        atan(ratio(ay, ax))
    } else {
        sub(pi().scalbn(-1), atan(ratio(ax, ay)))
    };
    if x.is_negative() {
        a = sub(pi(), a);
    }
    if y.is_negative() {
        -a
    } else {
        a
    }
}

/// (sin r, cos r) for |r| ≤ π/4 + a little (Taylor series).
pub fn sin_cos(r: Big) -> (Big, Big) {
    let r2 = mul(r, r);
    let mut term = r;
    let mut sin = r;
    let mut k = 1;
    loop {
        term = -div(mul(term, r2), int((k + 1) * (k + 2)));
        k += 2;
        if negligible(term, sin) {
            sin = settle(sin, term);
            break;
        }
        sin = add(sin, term);
    }
    let mut term = int(1);
    let mut cos = int(1);
    let mut k = 0;
    loop {
        term = -div(mul(term, r2), int((k + 1) * (k + 2)));
        k += 2;
        if negligible(term, cos) {
            cos = settle(cos, term);
            break;
        }
        cos = add(cos, term);
    }
    (sin, cos)
}

/// The CPU's π for angle reduction, rounded to 66 bits: 0x3.243F6A8885A308D3.
const PI66: u128 = 0x3_243F_6A88_85A3_08D3;

/// Reduces an angle (|x| < 2^63) as the x87 does: by multiples of π/2 with π rounded to 66
/// bits, exactly. Returns the reduced angle (|r| ≤ π/4 roughly) and the quadrant (k mod 4).
pub fn reduce(x: Big) -> (Big, u32) {
    // π66/2 = PI66 × 2^-65; k × π66/2 needs up to 128 bits, so it is subtracted in two
    // 33-bit halves, each product and difference exact at 124 bits.
    let half_pi = Big::from_u128(PI66).value.scalbn(-65);
    let hi = Big::from_u128(PI66 >> 33 << 33).value.scalbn(-65);
    let lo = Big::from_u128(PI66 & ((1 << 33) - 1)).value.scalbn(-65);
    let k = div(x, half_pi)
        .round_to_integral(Round::NearestTiesToEven)
        .value;
    let r = sub(sub(x, mul(k, hi)), mul(k, lo));
    let quadrant = (k.to_i128(128).value & 3) as u32;
    (r, quadrant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> Big {
        Big::from_i128((v * 2f64.powi(60)) as i128)
            .value
            .scalbn(-60)
    }

    fn to_f64(b: Big) -> f64 {
        let d: rustc_apfloat::ieee::Double = b.convert(&mut false).value;
        f64::from_bits(d.to_bits() as u64)
    }

    #[test]
    fn constants_and_functions_agree_with_f64() {
        assert_eq!(to_f64(ln2()), std::f64::consts::LN_2);
        assert_eq!(to_f64(pi()), std::f64::consts::PI);
        // The constants against their series: ln 2 = 2 atanh(1/3), π by Machin's formula.
        let third = div(int(1), int(3));
        let ln2_series = mul(int(2), atanh_series(third));
        assert!(sub(ln2(), ln2_series).abs() <= int(1).scalbn(-120));
        let machin = sub(
            mul(int(16), atan_series(div(int(1), int(5)))),
            mul(int(4), atan_series(div(int(1), int(239)))),
        );
        assert!(sub(pi(), machin).abs() <= int(1).scalbn(-118));
        let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 1e-15;
        assert!(close(to_f64(log2(f(3.0))), 3f64.log2()));
        assert!(close(to_f64(log2_1p(f(0.1))), 1.1f64.log2()));
        assert!(close(to_f64(exp2m1(f(0.3))), 2f64.powf(0.3) - 1.0));
        assert!(close(to_f64(atan2(f(1.0), f(-3.0))), 1f64.atan2(-3.0)));
        let (s, c) = sin_cos(f(0.5));
        assert!(close(to_f64(s), 0.5f64.sin()) && close(to_f64(c), 0.5f64.cos()));
    }
}
