//! Rounding an exact (or round-to-odd) intermediate to what the x87 writes: a register value
//! with precision control (24, 53 or 64 significand bits, always the extended exponent
//! range), with the flags the rounding raises and the C1 "rounded up" bit.
//!
//! Arithmetic first computes in [`Wide`] (96-bit significand, 18-bit exponent) rounded
//! toward zero, then ORs the sticky bit into the last place when anything was lost
//! ("round to odd"). Rounding that value again to p ≤ 64 bits gives the correctly rounded
//! result in every mode, because 96 ≥ p + 2: no double rounding. The wide exponent range
//! means the intermediate itself never overflows or underflows.

use super::f80::F80;
use rustc_apfloat::ieee::{Double, IeeeFloat, Semantics, Single, X87DoubleExtended};
use rustc_apfloat::{Float, FloatConvert, Round, Status, StatusAnd};

/// Semantics of [`Wide`].
pub struct WideS;
impl Semantics for WideS {
    const BITS: usize = 114;
    const EXP_BITS: usize = 18;
}
/// The intermediate format: 96-bit significand, exponent range ±131070.
pub type Wide = IeeeFloat<WideS>;

/// Semantics of [`Ext24`].
pub struct Ext24S;
impl Semantics for Ext24S {
    const BITS: usize = 39;
    const EXP_BITS: usize = 15;
}
/// Precision control "single": 24-bit significand, extended exponent range.
pub type Ext24 = IeeeFloat<Ext24S>;

/// Semantics of [`Ext53`].
pub struct Ext53S;
impl Semantics for Ext53S {
    const BITS: usize = 68;
    const EXP_BITS: usize = 15;
}
/// Precision control "double": 53-bit significand, extended exponent range.
pub type Ext53 = IeeeFloat<Ext53S>;

/// The precision-control field of the control word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 24 bits (PC = 00).
    Single,
    /// 53 bits (PC = 10).
    Double,
    /// 64 bits (PC = 11; the reserved PC = 01 behaves the same here).
    Extended,
}

impl Precision {
    /// From the control word.
    pub fn from_cw(cw: u16) -> Precision {
        match (cw >> 8) & 3 {
            0 => Precision::Single,
            2 => Precision::Double,
            _ => Precision::Extended,
        }
    }
}

/// The rounding-control field of the control word.
pub fn rounding(cw: u16) -> Round {
    match (cw >> 10) & 3 {
        0 => Round::NearestTiesToEven,
        1 => Round::TowardNegative,
        2 => Round::TowardPositive,
        _ => Round::TowardZero,
    }
}

/// Status word exception bits.
pub mod exc {
    /// Invalid operation.
    pub const IE: u16 = 1 << 0;
    /// Denormal operand.
    pub const DE: u16 = 1 << 1;
    /// Zero divide.
    pub const ZE: u16 = 1 << 2;
    /// Overflow.
    pub const OE: u16 = 1 << 3;
    /// Underflow.
    pub const UE: u16 = 1 << 4;
    /// Precision (inexact result).
    pub const PE: u16 = 1 << 5;
    /// Stack fault (with IE; C1 tells overflow from underflow).
    pub const SF: u16 = 1 << 6;
}

/// A rounded register result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    /// The value to write.
    pub value: F80,
    /// Exceptions raised (OE, UE, PE).
    pub exceptions: u16,
    /// C1: the magnitude grew in rounding.
    pub rounded_up: bool,
}

/// Turns a toward-zero result into its round-to-odd form: if bits were lost, the last
/// significand bit is forced to 1 so that a later rounding sees them.
pub fn sticky(r: StatusAnd<Wide>) -> Wide {
    if r.status.contains(Status::INEXACT) {
        Wide::from_bits(r.value.to_bits() | 1)
    } else {
        r.value
    }
}

/// Widens a register value (finite or infinite) exactly.
pub fn wide(x: F80) -> Wide {
    x.to_ext().convert(&mut false).value
}

/// Rounds an intermediate to a register value with precision control `pc` and rounding
/// `rc`, with the masked responses to overflow and underflow, or, when those exceptions
/// are unmasked (`masks` is the control word), the result with its exponent wrapped by
/// 24576 as the hardware delivers it to a handler.
pub fn round_to_register(w: Wide, pc: Precision, rc: Round, masks: u16) -> Rounded {
    fn extended<T: Float + FloatConvert<X87DoubleExtended>>(
        r: Stored<T>,
    ) -> Stored<X87DoubleExtended> {
        r.map(|v| v.convert(&mut false).value)
    }
    let r = match pc {
        Precision::Single => extended(round_to::<Ext24>(w, rc)),
        Precision::Double => extended(round_to::<Ext53>(w, rc)),
        Precision::Extended => round_to::<X87DoubleExtended>(w, rc),
    };
    let (unmasked_under, unmasked_over) = (masks & exc::UE == 0, masks & exc::OE == 0);
    let wrapped = |by: i32, flag: u16| {
        let mut r = round_to_register(w.scalbn(by), pc, rc, 0x3F);
        r.exceptions = (r.exceptions & exc::PE) | flag;
        r
    };
    let tiny = match pc {
        Precision::Single => is_tiny::<Ext24>(w, rc),
        Precision::Double => is_tiny::<Ext53>(w, rc),
        Precision::Extended => is_tiny::<X87DoubleExtended>(w, rc),
    };
    if unmasked_under && tiny {
        return wrapped(24576, exc::UE);
    }
    if unmasked_over && r.exceptions & exc::OE != 0 {
        return wrapped(-24576, exc::OE);
    }
    Rounded {
        value: F80::from_ext(r.value),
        exceptions: r.exceptions,
        rounded_up: r.rounded_up,
    }
}

/// A memory-format result (IEEE single or double bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored<T> {
    /// The bits to store.
    pub value: T,
    /// Exceptions raised (OE, UE, PE).
    pub exceptions: u16,
    /// C1: the magnitude grew in rounding.
    pub rounded_up: bool,
}

/// Narrows a finite or infinite register value to IEEE single. With overflow or underflow
/// unmasked in `masks`, the exception alone is reported (nothing is stored).
pub fn to_f32_bits(x: F80, rc: Round, masks: u16) -> Stored<u32> {
    narrow::<Single>(x, rc, masks).map(|v| v.to_bits() as u32)
}

/// Narrows to IEEE double (see [`to_f32_bits`]).
pub fn to_f64_bits(x: F80, rc: Round, masks: u16) -> Stored<u64> {
    narrow::<Double>(x, rc, masks).map(|v| v.to_bits() as u64)
}

impl<T> Stored<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Stored<U> {
        Stored {
            value: f(self.value),
            exceptions: self.exceptions,
            rounded_up: self.rounded_up,
        }
    }
}

fn narrow<T>(x: F80, rc: Round, masks: u16) -> Stored<T>
where
    T: Float + FloatConvert<Wide>,
    Wide: FloatConvert<T>,
{
    let w = wide(x);
    let mut r = round_to::<T>(w, rc);
    if masks & exc::UE == 0 && is_tiny::<T>(w, rc) {
        r.exceptions = exc::UE;
    } else if masks & exc::OE == 0 && r.exceptions & exc::OE != 0 {
        r.exceptions = exc::OE;
    }
    r
}

/// Whether `w` is tiny for `T` as the x87 detects it, after rounding: non-zero, and below
/// `T`'s smallest normal magnitude once rounded to `T`'s precision with an unbounded
/// exponent (a value just below the boundary that rounds up to it is not tiny).
fn is_tiny<T>(w: Wide, rc: Round) -> bool
where
    T: Float,
    Wide: FloatConvert<T>,
{
    let min_normal = Wide::from_u128(1).value.scalbn(T::MIN_EXP);
    if !w.is_finite_non_zero() || w.abs() >= min_normal {
        return false;
    }
    // Scaled to [0.5, 1) the value is normal in `T`; rounding shows whether it reaches 1.
    let scaled: T = w.scalbn(-T::MIN_EXP).convert_r(rc, &mut false).value;
    scaled.abs() < T::from_u128(1).value
}

/// Rounds `w` to `T` with `rc`, with the IEEE flags as the x87 raises them: PE when
/// inexact, OE when the result rounded with an unbounded exponent exceeds `T`'s range
/// (apfloat reports the largest-finite responses of directed rounding as merely inexact),
/// UE when tiny (see [`is_tiny`]) and inexact.
fn round_to<T>(w: Wide, rc: Round) -> Stored<T>
where
    T: Float + FloatConvert<Wide>,
    Wide: FloatConvert<T>,
{
    let r: StatusAnd<T> = w.convert_r(rc, &mut false);
    let back: Wide = r.value.convert(&mut false).value;
    let inexact = r.status.contains(Status::INEXACT);
    let mut exceptions = if inexact { exc::PE } else { 0 };
    if w.is_finite() && w.abs() > T::largest().convert(&mut false).value {
        let scaled: T = w.scalbn(-(T::MAX_EXP + 1)).convert_r(rc, &mut false).value;
        if scaled.abs() >= T::from_u128(1).value {
            exceptions |= exc::OE;
        }
    }
    if inexact && is_tiny::<T>(w, rc) {
        exceptions |= exc::UE;
    }
    Stored {
        value: r.value,
        exceptions,
        rounded_up: inexact && back.abs() > w.abs(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> F80 {
        F80::from_f64_bits(v.to_bits()).0
    }

    #[test]
    fn precision_control_rounds_the_significand_only() {
        let third = sticky(wide(f(1.0)).div_r(wide(f(3.0)), Round::TowardZero));
        let r = round_to_register(third, Precision::Single, Round::NearestTiesToEven, 0x3F);
        assert_eq!(r.value, f((1.0f32 / 3.0) as f64));
        assert_eq!(r.exceptions, exc::PE);
        let r = round_to_register(third, Precision::Double, Round::NearestTiesToEven, 0x3F);
        assert_eq!(r.value, f(1.0 / 3.0));
        // 2^-16000 is far below double's range, yet PC = double keeps it normal.
        let tiny = wide(f(1.0)).scalbn(-16000);
        let r = round_to_register(tiny, Precision::Double, Round::NearestTiesToEven, 0x3F);
        assert_eq!(r.exceptions, 0);
        assert_eq!(r.value.exp(), 0x3FFF - 16000);
    }

    #[test]
    fn overflow_follows_the_rounding_mode() {
        let huge = wide(f(1.0)).scalbn(20000);
        let r = round_to_register(huge, Precision::Extended, Round::TowardZero, 0x3F);
        assert_eq!(
            r.value,
            F80 {
                sign_exp: 0x7FFE,
                sig: u64::MAX
            }
        );
        assert_eq!(r.exceptions, exc::OE | exc::PE);
        let r = round_to_register(huge, Precision::Extended, Round::NearestTiesToEven, 0x3F);
        assert_eq!(r.value, F80::INFINITY);
        assert!(r.rounded_up);
    }

    #[test]
    fn widening_then_narrowing_is_exact() {
        for v in [
            0.0f64,
            -0.0,
            1.5,
            -3.25e-310,
            1e300,
            f64::MIN_POSITIVE,
            5e-324,
        ] {
            let (x, _) = F80::from_f64_bits(v.to_bits());
            let back = to_f64_bits(x, Round::NearestTiesToEven, 0x3F);
            assert_eq!(back.value, v.to_bits(), "{v}");
            assert_eq!(back.exceptions, 0);
        }
        for v in [0.1f32, -1e-45, 3.4e38, -0.0] {
            let (x, _) = F80::from_f32_bits(v.to_bits());
            let back = to_f32_bits(x, Round::NearestTiesToEven, 0x3F);
            assert_eq!(back.value, v.to_bits());
        }
    }
}
