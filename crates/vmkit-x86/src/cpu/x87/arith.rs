//! Exact x87 arithmetic on register values: the four operations with precision control,
//! square root, compare, round to integer, scale, extract, partial remainders; operand
//! checks (unsupported formats, NaNs, denormals) in the order the hardware applies them.
//!
//! Every function is pure: it takes operands and the control word and returns the value to
//! write with the exceptions raised. Whether the value is written (unmasked invalid, zero
//! divide and denormal exceptions leave the destination alone) is decided by the caller.

use super::f80::{Class, F80};
use super::round::{exc, round_to_register, rounding, sticky, wide, Precision, Wide};
use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round, Status};
use std::cmp::Ordering;

/// A value to write and what computing it raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The result.
    pub value: F80,
    /// Exception flags (IE DE ZE OE UE PE; SF is the caller's).
    pub exceptions: u16,
    /// C1: the result was rounded up in magnitude.
    pub c1: bool,
}

impl Outcome {
    fn exact(value: F80) -> Outcome {
        Outcome {
            value,
            exceptions: 0,
            c1: false,
        }
    }

    fn invalid() -> Outcome {
        Outcome {
            value: F80::INDEFINITE,
            exceptions: exc::IE,
            c1: false,
        }
    }
}

/// The four basic operations (reverse forms swap the operands before calling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a × b.
    Mul,
    /// a ÷ b.
    Div,
}

/// The QNaN an operation on NaN operands returns (x87 rules): a signaling NaN is quieted;
/// between two NaNs of the same kind the larger significand wins (ties: the positive one,
/// then `a`); a QNaN wins over an SNaN. IE is raised when either is signaling.
pub fn propagate_nan(a: F80, b: F80) -> Outcome {
    let (ca, cb) = (a.class(), b.class());
    let signaling = ca == Class::SNaN || cb == Class::SNaN;
    let pick = match (a.is_nan(), b.is_nan()) {
        (true, false) => a,
        (false, true) => b,
        _ if ca == Class::QNaN && cb == Class::SNaN => a,
        _ if ca == Class::SNaN && cb == Class::QNaN => b,
        _ => match a.sig.cmp(&b.sig) {
            Ordering::Greater => a,
            Ordering::Less => b,
            Ordering::Equal if a.sign() && !b.sign() => b,
            Ordering::Equal => a,
        },
    };
    Outcome {
        value: pick.quieted(),
        exceptions: if signaling { exc::IE } else { 0 },
        c1: false,
    }
}

/// Operand screening shared by arithmetic: unsupported formats and NaNs end the operation
/// (`Err` holds its outcome); otherwise returns the denormal-operand flag.
fn screen(operands: &[F80]) -> Result<u16, Outcome> {
    if operands.iter().any(|x| x.class() == Class::Unsupported) {
        return Err(Outcome::invalid());
    }
    match operands {
        [a, b] if a.is_nan() || b.is_nan() => return Err(propagate_nan(*a, *b)),
        [a] if a.is_nan() => return Err(propagate_nan(*a, *a)),
        _ => {}
    }
    Ok(if operands.iter().any(|x| x.class() == Class::Denormal) {
        exc::DE
    } else {
        0
    })
}

fn apply(op: BinOp, a: Wide, b: Wide, round: Round) -> rustc_apfloat::StatusAnd<Wide> {
    match op {
        BinOp::Add => a.add_r(b, round),
        BinOp::Sub => a.sub_r(b, round),
        BinOp::Mul => a.mul_r(b, round),
        BinOp::Div => a.div_r(b, round),
    }
}

/// `a op b` rounded as the control word says (precision and rounding control).
pub fn binary(op: BinOp, a: F80, b: F80, cw: u16) -> Outcome {
    let denormal = match screen(&[a, b]) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let (ca, cb) = (a.class(), b.class());
    let inf = |c| c == Class::Infinity;
    let zero = |c| c == Class::Zero;
    let invalid = match op {
        BinOp::Add => inf(ca) && inf(cb) && a.sign() != b.sign(),
        BinOp::Sub => inf(ca) && inf(cb) && a.sign() == b.sign(),
        BinOp::Mul => (inf(ca) && zero(cb)) || (zero(ca) && inf(cb)),
        BinOp::Div => (inf(ca) && inf(cb)) || (zero(ca) && zero(cb)),
    };
    if invalid {
        return Outcome::invalid();
    }
    if op == BinOp::Div && zero(cb) && !inf(ca) {
        // Zero divide is detected before a denormal dividend is.
        return Outcome {
            value: F80::INFINITY.with_sign(a.sign() != b.sign()),
            exceptions: exc::ZE,
            c1: false,
        };
    }
    let rc = rounding(cw);
    let (wa, wb) = (wide(a), wide(b));
    let mut r = apply(op, wa, wb, Round::TowardZero);
    if r.value.is_zero() {
        // Exact zero: its sign depends on the rounding mode (x - x is -0 rounding down).
        r = apply(op, wa, wb, rc);
    }
    let rounded = round_to_register(sticky(r), Precision::from_cw(cw), rc, cw);
    Outcome {
        value: rounded.value,
        exceptions: rounded.exceptions | denormal,
        c1: rounded.rounded_up,
    }
}

/// Result of a comparison: `None` when unordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compared {
    /// a compared with b.
    pub order: Option<Ordering>,
    /// IE (a NaN for ordered compares, an SNaN for unordered ones, unsupported formats) and
    /// DE.
    pub exceptions: u16,
}

/// Compares `a` with `b`. `quiet` (the `fucom` family) raises IE only for signaling NaNs.
pub fn compare(a: F80, b: F80, quiet: bool) -> Compared {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return Compared {
            order: None,
            exceptions: exc::IE,
        };
    }
    if a.is_nan() || b.is_nan() {
        let signaling = ca == Class::SNaN || cb == Class::SNaN;
        return Compared {
            order: None,
            exceptions: if signaling || !quiet { exc::IE } else { 0 },
        };
    }
    let denormal = if ca == Class::Denormal || cb == Class::Denormal {
        exc::DE
    } else {
        0
    };
    Compared {
        order: a.to_ext().partial_cmp(&b.to_ext()),
        exceptions: denormal,
    }
}

/// `fsqrt`: correctly rounded with precision and rounding control.
pub fn sqrt(x: F80, cw: u16) -> Outcome {
    let denormal = match screen(&[x]) {
        Ok(d) => d,
        Err(o) => return o,
    };
    match x.class() {
        Class::Zero => return Outcome::exact(x),
        Class::Infinity if !x.sign() => return Outcome::exact(x),
        _ if x.sign() => return Outcome::invalid(),
        _ => {}
    }
    // x = m × 2^e with m a 64-bit integer whose top bit is set.
    let (m, e) = normalized(x);
    let (m, e) = if e % 2 != 0 {
        ((m as u128) << 1, e - 1)
    } else {
        (m as u128, e)
    };
    // sqrt(m × 4^k) to 73 bits with a remainder, then scaled back.
    const K: u32 = 40;
    let (root, inexact) = isqrt_scaled(m, K);
    let mut w = Wide::from_u128(root).value.scalbn(e / 2 - K as i32);
    if inexact {
        w = Wide::from_bits(w.to_bits() | 1);
    }
    let rounded = round_to_register(w, Precision::from_cw(cw), rounding(cw), cw);
    Outcome {
        value: rounded.value,
        exceptions: rounded.exceptions | denormal,
        c1: rounded.rounded_up,
    }
}

/// A finite non-zero value as (significand with bit 63 set, exponent of its last bit).
fn normalized(x: F80) -> (u64, i32) {
    let leading_zeros = x.sig.leading_zeros();
    let exp = x.exp().max(1) as i32;
    (
        x.sig << leading_zeros,
        exp - 16383 - 63 - leading_zeros as i32,
    )
}

/// Integer square root of `m × 4^k` by the digit recurrence: the root and whether a
/// remainder was left.
fn isqrt_scaled(m: u128, k: u32) -> (u128, bool) {
    let pairs = (128 - m.leading_zeros()).div_ceil(2) + k;
    let (mut rem, mut root) = (0u128, 0u128);
    for i in (0..pairs).rev() {
        let pair = if i >= k { (m >> (2 * (i - k))) & 3 } else { 0 };
        rem = (rem << 2) | pair;
        let trial = (root << 2) | 1;
        root <<= 1;
        if rem >= trial {
            rem -= trial;
            root |= 1;
        }
    }
    (root, rem != 0)
}

/// `frndint`: rounds to an integer with the rounding control (not precision control).
pub fn round_int(x: F80, cw: u16) -> Outcome {
    let denormal = match screen(&[x]) {
        Ok(d) => d,
        Err(o) => return o,
    };
    if matches!(x.class(), Class::Zero | Class::Infinity) {
        return Outcome::exact(x);
    }
    let e = x.to_ext();
    let r = e.round_to_integral(rounding(cw));
    let inexact = r.status.contains(Status::INEXACT);
    Outcome {
        value: F80::from_ext(r.value),
        exceptions: denormal | if inexact { exc::PE } else { 0 },
        c1: inexact && r.value.abs() > e.abs(),
    }
}

/// `fscale`: `a × 2^trunc(b)`, exact unless it overflows or underflows.
pub fn scale(a: F80, b: F80, cw: u16) -> Outcome {
    let denormal = match screen(&[a, b]) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let (ca, cb) = (a.class(), b.class());
    if cb == Class::Infinity {
        return match (ca, b.sign()) {
            (Class::Zero, false) | (Class::Infinity, true) => Outcome::invalid(),
            (Class::Zero, true) | (Class::Infinity, false) => Outcome::exact(a),
            (_, false) => Outcome {
                value: F80::INFINITY.with_sign(a.sign()),
                exceptions: denormal,
                c1: false,
            },
            (_, true) => Outcome {
                value: F80::ZERO.with_sign(a.sign()),
                exceptions: denormal,
                c1: false,
            },
        };
    }
    if matches!(ca, Class::Zero | Class::Infinity) {
        return Outcome {
            value: a,
            exceptions: denormal,
            c1: false,
        };
    }
    // Beyond ±70000 every scale over- or underflows the same way.
    let n = b
        .to_ext()
        .round_to_integral(Round::TowardZero)
        .value
        .to_i128(32)
        .value
        .clamp(-70_000, 70_000) as i32;
    let w = wide(a).scalbn(n);
    let rounded = round_to_register(w, Precision::Extended, rounding(cw), cw);
    Outcome {
        value: rounded.value,
        exceptions: rounded.exceptions | denormal,
        c1: rounded.rounded_up,
    }
}

/// `fxtract`: (exponent, significand) of `x`, the significand with exponent 0. A zero gives
/// (-∞, ±0) and raises ZE.
pub fn extract(x: F80) -> (Outcome, F80) {
    let denormal = match screen(&[x]) {
        Ok(d) => d,
        Err(o) => return (o, o.value),
    };
    match x.class() {
        Class::Zero => (
            Outcome {
                value: F80::INFINITY.with_sign(true),
                exceptions: exc::ZE,
                c1: false,
            },
            x,
        ),
        Class::Infinity => (Outcome::exact(F80::INFINITY), x),
        _ => {
            let (m, e) = normalized(x);
            let exponent = F80::from_i64(e as i64 + 63);
            let significand = F80 {
                sign_exp: 0x3FFF | if x.sign() { 0x8000 } else { 0 },
                sig: m,
            };
            (
                Outcome {
                    value: exponent,
                    exceptions: denormal,
                    c1: false,
                },
                significand,
            )
        }
    }
}

/// A partial remainder and its condition codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remainder {
    /// The (partial) remainder.
    pub outcome: Outcome,
    /// Low three quotient bits (C0 = Q2, C3 = Q1, C1 = Q0) when complete.
    pub quotient: u8,
    /// C2: the reduction is incomplete (exponents more than 63 apart).
    pub incomplete: bool,
}

/// `fprem` (`nearest` false: truncating quotient, result has a's sign) and `fprem1`
/// (`nearest` true: IEEE remainder). Exact.
pub fn remainder(a: F80, b: F80, nearest: bool) -> Remainder {
    let done = |outcome: Outcome| Remainder {
        outcome,
        quotient: 0,
        incomplete: false,
    };
    let denormal = match screen(&[a, b]) {
        Ok(d) => d,
        Err(o) => return done(o),
    };
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Infinity || cb == Class::Zero {
        return done(Outcome::invalid());
    }
    if ca == Class::Zero || cb == Class::Infinity {
        // Passed through canonically: a pseudo-denormal comes back with exponent 1.
        return done(Outcome {
            value: a.canonical(),
            exceptions: denormal,
            c1: false,
        });
    }
    let (ma, ea) = normalized(a);
    let (mb, eb) = normalized(b);
    let d = ea - eb;
    if d < -1 || (d == -1 && !nearest) {
        // |a| < |b| (and, for fprem1, |a| < |b|/2): a is the remainder.
        // Passed through canonically: a pseudo-denormal comes back with exponent 1.
        return done(Outcome {
            value: a.canonical(),
            exceptions: denormal,
            c1: false,
        });
    }
    if d >= 64 {
        // One reduction step of N bits, N in 32..=63 as Intel's processors choose it.
        let n = (d & 31) | 32;
        let r = ((ma as u128) << n) % mb as u128;
        let value = from_scaled(r, eb + d - n, a.sign());
        return Remainder {
            outcome: Outcome {
                value,
                exceptions: denormal,
                c1: false,
            },
            quotient: 0,
            incomplete: true,
        };
    }
    // Both on the grid of the smaller exponent: |a| = A × 2^lo, |b| = B × 2^lo.
    let lo = ea.min(eb);
    let big_a = (ma as u128) << (ea - lo);
    let big_b = (mb as u128) << (eb - lo);
    let (mut q, mut r) = (big_a / big_b, big_a % big_b);
    let mut negative = a.sign();
    if nearest && (2 * r > big_b || (2 * r == big_b && q & 1 == 1)) {
        r = big_b - r;
        q += 1;
        negative = !negative;
    }
    let value = if r == 0 {
        F80::ZERO.with_sign(a.sign())
    } else {
        from_scaled(r, lo, negative)
    };
    Remainder {
        outcome: Outcome {
            value,
            exceptions: denormal,
            c1: false,
        },
        quotient: (q & 7) as u8,
        incomplete: false,
    }
}

/// `r × 2^e` with sign, exact (the caller guarantees it is representable).
fn from_scaled(r: u128, e: i32, negative: bool) -> F80 {
    let v = X87DoubleExtended::from_u128(r)
        .value
        .scalbn_r(e, Round::TowardZero);
    F80::from_ext(v).with_sign(negative)
}

/// `fxam`'s class code in C3 C2 C0 (status-word bit positions), C1 = sign.
pub fn examine(x: F80, empty: bool) -> u16 {
    use super::state::sw::{C0, C1, C2, C3};
    let class = if empty {
        C3 | C0
    } else {
        match x.class() {
            Class::Unsupported => 0,
            Class::QNaN | Class::SNaN => C0,
            Class::Normal => C2,
            Class::Infinity => C2 | C0,
            Class::Zero => C3,
            Class::Denormal => C3 | C2,
        }
    };
    class | if x.sign() { C1 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> F80 {
        F80::from_f64_bits(v.to_bits()).0
    }

    #[test]
    fn basic_operations_round_like_doubles_under_double_precision() {
        let cw = 0x027F;
        for (a, b) in [(1.0, 3.0), (0.1, 0.2), (1e200, 1e-10), (-2.5, 7.0)] {
            assert_eq!(binary(BinOp::Add, f(a), f(b), cw).value, f(a + b));
            assert_eq!(binary(BinOp::Sub, f(a), f(b), cw).value, f(a - b));
            assert_eq!(binary(BinOp::Mul, f(a), f(b), cw).value, f(a * b));
            assert_eq!(binary(BinOp::Div, f(a), f(b), cw).value, f(a / b));
            assert_eq!(sqrt(f(a.abs()), cw).value, f(a.abs().sqrt()));
        }
        let zero = binary(BinOp::Sub, f(1.0), f(1.0), 0x037F | 0x0400);
        assert!(zero.value.sign(), "x - x rounds to -0 when rounding down");
    }

    #[test]
    fn invalid_operations_give_the_indefinite() {
        let inf = F80::INFINITY;
        assert_eq!(binary(BinOp::Sub, inf, inf, 0x37F), Outcome::invalid());
        assert_eq!(sqrt(f(-1.0), 0x37F), Outcome::invalid());
        let z = binary(BinOp::Div, f(1.0), f(-0.0), 0x37F);
        assert_eq!((z.value, z.exceptions), (inf.with_sign(true), exc::ZE));
    }

    #[test]
    fn remainders_are_exact() {
        let r = remainder(f(7.0), f(2.0), false);
        assert_eq!((r.outcome.value, r.quotient), (f(1.0), 3));
        let r = remainder(f(7.0), f(2.0), true);
        assert_eq!((r.outcome.value, r.quotient), (f(-1.0), 4));
        let r = remainder(f(1e300), f(3.0), false);
        assert!(r.incomplete);
        let r = remainder(f(5.5), f(1e10), false);
        assert_eq!(r.outcome.value, f(5.5));
    }

    #[test]
    fn extract_and_scale_are_inverse() {
        let (e, s) = extract(f(-48.0));
        assert_eq!((e.value, s), (f(5.0), f(-1.5)));
        assert_eq!(scale(s, e.value, 0x37F).value, f(-48.0));
    }
}
