//! The 80-bit extended format as raw bits, and its conversions from and to the other
//! formats x87 loads and stores: IEEE single and double, 16/32/64-bit integers, 18-digit
//! packed BCD.
//!
//! Registers hold raw bits, so `fld m80` / `fstp m80` / `fld st(i)` move any pattern,
//! including the ones the 387 and later refuse in arithmetic (unnormals, pseudo-NaNs,
//! pseudo-infinities). Arithmetic goes through `rustc_apfloat`'s `X87DoubleExtended`, whose
//! decoding of pseudo-denormals (exponent 0, integer bit set) gives their true value
//! (1.f × 2^-16382), as the hardware does.

use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round, Status};

/// An x87 extended-precision value: sign, 15-bit biased exponent, 64-bit significand with
/// an explicit integer bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F80 {
    /// Sign (bit 15) and biased exponent (bits 0-14).
    pub sign_exp: u16,
    /// Significand, integer bit in bit 63.
    pub sig: u64,
}

/// How the x87 classifies an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// ±0.
    Zero,
    /// Exponent 0, significand non-zero (pseudo-denormals included: integer bit set).
    Denormal,
    /// A normal finite number.
    Normal,
    /// ±∞.
    Infinity,
    /// Quiet NaN (bits 63 and 62 set).
    QNaN,
    /// Signaling NaN (bit 63 set, bit 62 clear, fraction non-zero).
    SNaN,
    /// Unnormals, pseudo-NaNs and pseudo-infinities: invalid operands since the 387.
    Unsupported,
}

const INT_BIT: u64 = 1 << 63;
const QUIET_BIT: u64 = 1 << 62;

/// The bit width and value range of an integer memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntWidth {
    /// `m16int`.
    I16,
    /// `m32int`.
    I32,
    /// `m64int`.
    I64,
}

impl IntWidth {
    /// Size in bytes.
    pub fn bytes(self) -> u32 {
        match self {
            IntWidth::I16 => 2,
            IntWidth::I32 => 4,
            IntWidth::I64 => 8,
        }
    }

    /// Size in bits.
    pub fn bits(self) -> usize {
        self.bytes() as usize * 8
    }

    /// The "integer indefinite" a masked invalid store writes: the most negative value.
    pub fn indefinite(self) -> u64 {
        1 << (self.bits() - 1)
    }
}

impl F80 {
    /// +0.
    pub const ZERO: F80 = F80 {
        sign_exp: 0,
        sig: 0,
    };
    /// +1.
    pub const ONE: F80 = F80 {
        sign_exp: 0x3FFF,
        sig: INT_BIT,
    };
    /// The QNaN indefinite: the masked response to an invalid operation.
    pub const INDEFINITE: F80 = F80 {
        sign_exp: 0xFFFF,
        sig: 0xC000_0000_0000_0000,
    };
    /// +∞.
    pub const INFINITY: F80 = F80 {
        sign_exp: 0x7FFF,
        sig: INT_BIT,
    };

    /// From the 80-bit memory image (little-endian, significand first).
    pub fn from_bytes(b: [u8; 10]) -> F80 {
        let mut sig = [0u8; 8];
        sig.copy_from_slice(&b[..8]);
        F80 {
            sign_exp: u16::from_le_bytes([b[8], b[9]]),
            sig: u64::from_le_bytes(sig),
        }
    }

    /// The 80-bit memory image.
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.sig.to_le_bytes());
        b[8..].copy_from_slice(&self.sign_exp.to_le_bytes());
        b
    }

    /// As one integer: sign and exponent in bits 64-79.
    pub fn to_bits(self) -> u128 {
        ((self.sign_exp as u128) << 64) | self.sig as u128
    }

    /// From [`F80::to_bits`]'s layout.
    pub fn from_bits(bits: u128) -> F80 {
        F80 {
            sign_exp: (bits >> 64) as u16,
            sig: bits as u64,
        }
    }

    /// The sign bit.
    pub fn sign(self) -> bool {
        self.sign_exp & 0x8000 != 0
    }

    /// The biased exponent.
    pub fn exp(self) -> u16 {
        self.sign_exp & 0x7FFF
    }

    /// This value with the sign bit set to `negative`.
    pub fn with_sign(self, negative: bool) -> F80 {
        F80 {
            sign_exp: (self.sign_exp & 0x7FFF) | if negative { 0x8000 } else { 0 },
            sig: self.sig,
        }
    }

    /// The operand class.
    pub fn class(self) -> Class {
        let exp = self.exp();
        if exp == 0 {
            if self.sig == 0 {
                Class::Zero
            } else {
                Class::Denormal
            }
        } else if self.sig & INT_BIT == 0 {
            Class::Unsupported
        } else if exp == 0x7FFF {
            if self.sig == INT_BIT {
                Class::Infinity
            } else if self.sig & QUIET_BIT != 0 {
                Class::QNaN
            } else {
                Class::SNaN
            }
        } else {
            Class::Normal
        }
    }

    /// Whether the value is a NaN (quiet or signaling).
    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNaN | Class::SNaN)
    }

    /// The value in its canonical encoding: a pseudo-denormal gets exponent 1, as the
    /// hardware writes it back after using it.
    pub fn canonical(self) -> F80 {
        if self.class() == Class::Denormal {
            F80::from_ext(self.to_ext()).with_sign(self.sign())
        } else {
            self
        }
    }

    /// This NaN made quiet (bit 62 set).
    pub fn quieted(self) -> F80 {
        F80 {
            sign_exp: self.sign_exp,
            sig: self.sig | QUIET_BIT,
        }
    }

    /// The value for arithmetic. Only meaningful for zeros, denormals, normals and
    /// infinities; NaNs and unsupported formats are handled before arithmetic.
    pub fn to_ext(self) -> X87DoubleExtended {
        X87DoubleExtended::from_bits(self.to_bits())
    }

    /// From an arithmetic result (never a NaN: NaN results are built from raw bits).
    pub fn from_ext(v: X87DoubleExtended) -> F80 {
        F80::from_bits(v.to_bits())
    }

    /// Widens an IEEE single: exact. Returns the value (a signaling NaN stays signaling, so
    /// that NaN propagation sees its kind) and what the load noticed.
    pub fn from_f32_bits(bits: u32) -> (F80, Loaded) {
        widen(bits as u64, 32, 8)
    }

    /// Widens an IEEE double: exact (see [`F80::from_f32_bits`]).
    pub fn from_f64_bits(bits: u64) -> (F80, Loaded) {
        widen(bits, 64, 11)
    }

    /// Converts a 64-bit signed integer: exact.
    pub fn from_i64(v: i64) -> F80 {
        if v == 0 {
            return F80::ZERO;
        }
        let mag = v.unsigned_abs();
        let shift = mag.leading_zeros();
        F80 {
            sign_exp: (0x3FFF + 63 - shift as u16) | if v < 0 { 0x8000 } else { 0 },
            sig: mag << shift,
        }
    }

    /// A NaN narrowed to a `bits`-wide IEEE format with `exp_bits` exponent bits: the
    /// payload's top bits are kept, the result is quiet.
    pub fn nan_to_ieee(self, bits: u32, exp_bits: u32) -> u64 {
        let frac_bits = bits - 1 - exp_bits;
        let sign = (self.sign() as u64) << (bits - 1);
        let exp = ((1u64 << exp_bits) - 1) << frac_bits;
        let frac = ((self.sig | QUIET_BIT) & !INT_BIT) >> (63 - frac_bits);
        sign | exp | frac
    }

    /// Rounds to an integer with `rc` and converts to `width` bits (two's complement in the
    /// low bits of the result). Returns `None` when the value does not fit (or is a NaN,
    /// infinity or unsupported): the caller stores the integer indefinite.
    pub fn to_int(self, width: IntWidth, rc: Round) -> Option<IntResult> {
        match self.class() {
            Class::Zero => Some(IntResult {
                value: 0,
                inexact: false,
                rounded_up: false,
            }),
            Class::Denormal | Class::Normal => {
                let x = self.to_ext();
                let r = x.round_to_integral(rc);
                let mut exact = true;
                let v = r
                    .value
                    .to_i128_r(width.bits(), Round::TowardZero, &mut exact);
                if v.status.contains(Status::INVALID_OP) {
                    return None;
                }
                let inexact = r.status.contains(Status::INEXACT);
                Some(IntResult {
                    value: v.value as u64 & (u64::MAX >> (64 - width.bits())),
                    inexact,
                    rounded_up: inexact && r.value.abs() > x.abs(),
                })
            }
            _ => None,
        }
    }

    /// Packed BCD (18 digits and a sign byte) to a value: exact. Invalid digits give an
    /// undefined result on hardware; here they are taken at face value.
    pub fn from_bcd(b: [u8; 10]) -> F80 {
        let mut v: i64 = 0;
        for byte in b[..9].iter().rev() {
            v = v * 100 + (byte >> 4) as i64 * 10 + (byte & 0xF) as i64;
        }
        if b[9] & 0x80 != 0 {
            if v == 0 {
                return F80::ZERO.with_sign(true);
            }
            v = -v;
        }
        F80::from_i64(v)
    }
}

/// What widening a memory operand noticed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The source was a signaling NaN (invalid operation; the value was quieted).
    pub signaling: bool,
    /// The source was denormal (denormal-operand exception).
    pub denormal: bool,
}

/// An integer conversion's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntResult {
    /// The integer, zero-extended from its width.
    pub value: u64,
    /// Rounding lost bits (precision exception).
    pub inexact: bool,
    /// The magnitude grew in rounding (C1).
    pub rounded_up: bool,
}

/// Widens an IEEE binary format of `bits` bits with `exp_bits` exponent bits.
fn widen(bits: u64, width: u32, exp_bits: u32) -> (F80, Loaded) {
    let frac_bits = width - 1 - exp_bits;
    let sign = (bits >> (width - 1)) & 1 == 1;
    let exp = ((bits >> frac_bits) & ((1 << exp_bits) - 1)) as i32;
    let frac = bits & ((1 << frac_bits) - 1);
    let max_exp = (1 << exp_bits) - 1;
    let bias = (1 << (exp_bits - 1)) - 1;
    let mut loaded = Loaded::default();
    let value = if exp == max_exp {
        // Infinity or NaN: the fraction moves to the top of the 63 fraction bits.
        let sig = INT_BIT | (frac << (63 - frac_bits));
        loaded.signaling = frac != 0 && sig & QUIET_BIT == 0;
        F80 {
            sign_exp: 0x7FFF,
            sig,
        }
    } else if exp == 0 && frac == 0 {
        F80::ZERO
    } else if exp == 0 {
        loaded.denormal = true;
        let shift = frac.leading_zeros();
        // frac × 2^(1 - bias - frac_bits), normalised so its top bit is the integer bit.
        let e = 1 - bias - frac_bits as i32 + 63 - shift as i32;
        F80 {
            sign_exp: (e + 0x3FFF) as u16,
            sig: frac << shift,
        }
    } else {
        F80 {
            sign_exp: (exp - bias + 0x3FFF) as u16,
            sig: INT_BIT | (frac << (63 - frac_bits)),
        }
    };
    (value.with_sign(sign), loaded)
}

/// Packs `v` (|v| < 10^18) as 18 BCD digits and a sign byte.
pub fn to_bcd(v: i64, negative: bool) -> [u8; 10] {
    let mut b = [0u8; 10];
    let mut m = v.unsigned_abs();
    for byte in b[..9].iter_mut() {
        let lo = (m % 10) as u8;
        m /= 10;
        let hi = (m % 10) as u8;
        m /= 10;
        *byte = (hi << 4) | lo;
    }
    if negative {
        b[9] = 0x80;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(F80::ZERO.class(), Class::Zero);
        assert_eq!(F80::ONE.class(), Class::Normal);
        assert_eq!(F80::INFINITY.class(), Class::Infinity);
        assert_eq!(F80::INDEFINITE.class(), Class::QNaN);
        let snan = F80 {
            sign_exp: 0x7FFF,
            sig: INT_BIT | 1,
        };
        assert_eq!(snan.class(), Class::SNaN);
        let unnormal = F80 {
            sign_exp: 0x3FFF,
            sig: 1,
        };
        assert_eq!(unnormal.class(), Class::Unsupported);
        let pseudo_denormal = F80 {
            sign_exp: 0,
            sig: INT_BIT,
        };
        assert_eq!(pseudo_denormal.class(), Class::Denormal);
        assert_eq!(
            F80::from_ext(pseudo_denormal.to_ext()),
            F80 {
                sign_exp: 1,
                sig: INT_BIT
            },
            "a pseudo-denormal is worth 2^-16382"
        );
    }

    #[test]
    fn a_signaling_nan_widens_signaling() {
        let (snan, l) = F80::from_f32_bits(0x7F80_0001);
        assert!(l.signaling);
        assert_eq!(snan.class(), Class::SNaN);
        assert_eq!(snan.nan_to_ieee(32, 8), 0x7FC0_0001);
    }

    #[test]
    fn integers_and_bcd() {
        for v in [0i64, 1, -1, i64::MAX, i64::MIN, 123_456_789] {
            let x = F80::from_i64(v);
            let r = x.to_int(IntWidth::I64, Round::NearestTiesToEven).unwrap();
            assert_eq!(r.value as i64, v);
        }
        let half = F80::from_f64_bits(2.5f64.to_bits()).0;
        assert_eq!(
            half.to_int(IntWidth::I16, Round::NearestTiesToEven)
                .unwrap()
                .value,
            2
        );
        assert_eq!(
            half.to_int(IntWidth::I16, Round::TowardPositive)
                .unwrap()
                .value,
            3
        );
        let big = F80::from_i64(40000);
        assert_eq!(big.to_int(IntWidth::I16, Round::NearestTiesToEven), None);
        let bcd = to_bcd(-1234, true);
        assert_eq!(bcd[..2], [0x34, 0x12]);
        assert_eq!(F80::from_bcd(bcd), F80::from_i64(-1234));
    }
}
