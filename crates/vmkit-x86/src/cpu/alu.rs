//! IA-32 integer operations with their exact EFLAGS results.
//!
//! This module owns the arithmetic of the integer instructions and nothing else: no
//! registers, no memory, no decoding, no faults beyond [`DivideError`]. Every function is
//! pure, `#[inline]`, allocation-free and total (no input panics), so the interpreter can
//! call it on its hot path and `tests/alu_vs_cpu.rs` can compare it with the real CPU.
//! That comparison is why the module is public (`vmkit_x86::cpu::alu`): an embedder can
//! also compute exact flags with it; its flag-merging helpers stay private.
//!
//! # Conventions
//!
//! * Operands are `u32`s of which only the low [`Width::bits`] bits are read; results come
//!   back zero-extended.
//! * `flags` is the whole EFLAGS register before the instruction. The EFLAGS returned equal
//!   it except in the status bits the instruction writes: `inc`/`dec` keep CF, rotates keep
//!   SF ZF AF PF, a shift count of 0 changes nothing, and TF IF DF and the system bits
//!   always pass through.
//! * Where the architecture leaves a status flag undefined ([`undefined_flags`]), the
//!   function still writes what the reference CPU writes: an AMD Zen 5 (family 1Ah), the
//!   machine these values were measured on. Each function's doc says what that is. Another
//!   CPU may differ there (Intel does, for several), so compare with one only outside those
//!   bits.
//! * Shift and rotate counts are masked to 5 bits as the CPU does for 8/16/32-bit operands.
//!
//! The summary of the undefined values, on the reference CPU: logic ops clear AF; shifts
//! (not rotates) with a non-zero count set AF; the OF of multi-bit shifts and rotates is the
//! one-bit formula applied to the last one-bit step; `mul`/`imul` keep SF ZF AF PF;
//! `div`/`idiv` keep CF OF, set AF and clear SF ZF PF; `bt*` keep OF SF AF PF; `bsf`/`bsr`
//! clear CF OF SF AF and set PF from the bit index (ZF and PF set for a zero source).

use super::flags::{AF, CF, OF, PF, SF, STATUS, ZF};

/// Operand size of an integer instruction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Width {
    /// 8-bit operands (`al`, `byte ptr`).
    B8 = 0,
    /// 16-bit operands (`ax`, `word ptr`).
    W16 = 1,
    /// 32-bit operands (`eax`, `dword ptr`).
    D32 = 2,
}

impl Width {
    /// All three widths, narrowest first.
    pub const ALL: [Width; 3] = [Width::B8, Width::W16, Width::D32];

    /// The operand's size in bits: 8, 16 or 32.
    #[inline(always)]
    pub const fn bits(self) -> u32 {
        8 << self as u32
    }

    /// The operand's bits: `0xff`, `0xffff` or `0xffff_ffff`.
    #[inline(always)]
    pub const fn mask(self) -> u32 {
        u32::MAX >> (32 - self.bits())
    }

    /// The operand's sign bit: `0x80`, `0x8000` or `0x8000_0000`.
    #[inline(always)]
    pub const fn sign_bit(self) -> u32 {
        1 << (self.bits() - 1)
    }

    /// `value`'s low `bits()` bits sign-extended to `i32`.
    #[inline(always)]
    pub const fn sign_extend(self, value: u32) -> i32 {
        let unused = 32 - self.bits();
        ((value << unused) as i32) >> unused
    }
}

/// Why `div`/`idiv`/`aam` raise #DE.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DivideError {
    /// The divisor is zero.
    DivideByZero,
    /// The quotient does not fit in the destination register.
    Overflow,
}

impl core::fmt::Display for DivideError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DivideError::DivideByZero => "divide by zero",
            DivideError::Overflow => "quotient overflow",
        })
    }
}

impl std::error::Error for DivideError {}

/// The operations of this module, to ask [`undefined_flags`] and [`undefined_result`] about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// [`add`]
    Add,
    /// [`adc`]
    Adc,
    /// [`sub`]
    Sub,
    /// [`sbb`]
    Sbb,
    /// [`cmp`]
    Cmp,
    /// [`neg`]
    Neg,
    /// [`inc`]
    Inc,
    /// [`dec`]
    Dec,
    /// [`and`]
    And,
    /// [`or`]
    Or,
    /// [`xor`]
    Xor,
    /// [`test()`]
    Test,
    /// [`shl`] (= [`sal`])
    Shl,
    /// [`shr`]
    Shr,
    /// [`sar`]
    Sar,
    /// [`rol`]
    Rol,
    /// [`ror`]
    Ror,
    /// [`rcl`]
    Rcl,
    /// [`rcr`]
    Rcr,
    /// [`shld`]
    Shld,
    /// [`shrd`]
    Shrd,
    /// [`mul`]
    Mul,
    /// [`imul`] (one-operand form)
    Imul,
    /// [`imul_trunc`] (two- and three-operand forms)
    ImulTrunc,
    /// [`div`]
    Div,
    /// [`idiv`]
    Idiv,
    /// [`bt`]
    Bt,
    /// [`bts`]
    Bts,
    /// [`btr`]
    Btr,
    /// [`btc`]
    Btc,
    /// [`bsf`]
    Bsf,
    /// [`bsr`]
    Bsr,
    /// [`bswap`]
    Bswap,
    /// [`daa`]
    Daa,
    /// [`das`]
    Das,
    /// [`aaa`]
    Aaa,
    /// [`aas`]
    Aas,
    /// [`aam`]
    Aam,
    /// [`aad`]
    Aad,
}

/// The status flags that `op` leaves architecturally undefined (Intel SDM; the AMD APM
/// agrees or is stricter) at this width and shift/rotate `count` (as given, before masking;
/// other operations ignore it).
///
/// The functions of this module still write a definite value there, the reference CPU's
/// (see the module doc); compare with another CPU only outside these bits.
#[inline]
pub fn undefined_flags(op: AluOp, width: Width, count: u32) -> u32 {
    let count = count & 0x1f;
    match op {
        AluOp::Add
        | AluOp::Adc
        | AluOp::Sub
        | AluOp::Sbb
        | AluOp::Cmp
        | AluOp::Neg
        | AluOp::Inc
        | AluOp::Dec
        | AluOp::Bswap => 0,
        AluOp::And | AluOp::Or | AluOp::Xor | AluOp::Test => AF,
        // CF is the last bit shifted out, undefined once the count reaches the width (only
        // reachable at 8 and 16 bits); SAR's shifted-out bits are all sign copies.
        AluOp::Shl | AluOp::Shr => match count {
            0 => 0,
            1 => AF,
            c if c >= width.bits() => AF | OF | CF,
            _ => AF | OF,
        },
        AluOp::Sar => match count {
            0 => 0,
            1 => AF,
            _ => AF | OF,
        },
        AluOp::Rol | AluOp::Ror | AluOp::Rcl | AluOp::Rcr => match count {
            0 | 1 => 0,
            _ => OF,
        },
        AluOp::Shld | AluOp::Shrd => match count {
            0 => 0,
            1 => AF,
            c if c > width.bits() => STATUS,
            _ => AF | OF,
        },
        AluOp::Mul | AluOp::Imul | AluOp::ImulTrunc => SF | ZF | AF | PF,
        AluOp::Div | AluOp::Idiv => STATUS,
        AluOp::Bt | AluOp::Bts | AluOp::Btr | AluOp::Btc => OF | SF | AF | PF,
        AluOp::Bsf | AluOp::Bsr => CF | OF | SF | AF | PF,
        AluOp::Daa | AluOp::Das => OF,
        AluOp::Aaa | AluOp::Aas => OF | SF | ZF | PF,
        AluOp::Aam | AluOp::Aad => OF | AF | CF,
    }
}

/// True when the architecture leaves `op`'s *result* undefined at this width and count,
/// whatever the operands: 16-bit `shld`/`shrd` with a masked count above 16, and 16-bit
/// `bswap`. (`bsf`/`bsr` with a zero source are operand-dependent; both vendors keep the
/// destination, as [`bsf`] does.)
#[inline]
pub fn undefined_result(op: AluOp, width: Width, count: u32) -> bool {
    match op {
        AluOp::Shld | AluOp::Shrd => width != Width::D32 && count & 0x1f > 16,
        AluOp::Bswap => width != Width::D32,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Flag helpers

/// PF for `result`: set when its low byte has an even number of ones.
#[inline(always)]
fn parity(result: u32) -> u32 {
    // Fold the byte into a nibble; 0x9669 has bit n set for every even-parity nibble n.
    let nibble = (result ^ (result >> 4)) & 0xf;
    ((0x9669 >> nibble) & 1) << 2
}

/// SF, ZF and PF for a `result` already masked to `w`.
#[inline(always)]
fn szp(w: Width, result: u32) -> u32 {
    let sf = ((result >> (w.bits() - 1)) & 1) << 7;
    let zf = ((result == 0) as u32) << 6;
    sf | zf | parity(result)
}

/// The most significant bit of `value` (masked to `w`) as 0 or 1.
#[inline(always)]
fn msb(w: Width, value: u32) -> u32 {
    (value >> (w.bits() - 1)) & 1
}

/// `flags` with the bits in `written` replaced by `new`.
#[inline(always)]
fn merge(flags: u32, written: u32, new: u32) -> u32 {
    (flags & !written) | new
}

/// OF bit from a 0/1 value.
#[inline(always)]
fn of_bit(bit: u32) -> u32 {
    bit << 11
}

// ---------------------------------------------------------------------------------------------
// Add and subtract

#[inline(always)]
fn add_with_carry(w: Width, a: u32, b: u32, carry: u32, flags: u32) -> (u32, u32) {
    let m = w.mask();
    let (a, b) = (a & m, b & m);
    let wide = a as u64 + b as u64 + carry as u64;
    let r = wide as u32 & m;
    let cf = ((wide >> w.bits()) & 1) as u32;
    let af = (a ^ b ^ r) & AF;
    let of = of_bit(msb(w, (a ^ r) & (b ^ r)));
    (r, merge(flags, STATUS, cf | af | of | szp(w, r)))
}

#[inline(always)]
fn sub_with_borrow(w: Width, a: u32, b: u32, borrow: u32, flags: u32) -> (u32, u32) {
    let m = w.mask();
    let (a, b) = (a & m, b & m);
    let wide = (a as u64).wrapping_sub(b as u64 + borrow as u64);
    let r = wide as u32 & m;
    let cf = (wide >> 63) as u32;
    let af = (a ^ b ^ r) & AF;
    let of = of_bit(msb(w, (a ^ b) & (a ^ r)));
    (r, merge(flags, STATUS, cf | af | of | szp(w, r)))
}

/// `dst + src`; sets OF SF ZF AF PF CF.
#[inline]
pub fn add(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    add_with_carry(w, dst, src, 0, flags)
}

/// `dst + src + CF`; sets OF SF ZF AF PF CF.
#[inline]
pub fn adc(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    add_with_carry(w, dst, src, flags & CF, flags)
}

/// `dst - src`; sets OF SF ZF AF PF CF (CF = borrow).
#[inline]
pub fn sub(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    sub_with_borrow(w, dst, src, 0, flags)
}

/// `dst - (src + CF)`; sets OF SF ZF AF PF CF (CF = borrow).
#[inline]
pub fn sbb(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    sub_with_borrow(w, dst, src, flags & CF, flags)
}

/// flags of `a - b`, result discarded; sets OF SF ZF AF PF CF. Returns only EFLAGS.
#[inline]
pub fn cmp(w: Width, a: u32, b: u32, flags: u32) -> u32 {
    sub_with_borrow(w, a, b, 0, flags).1
}

/// `0 - dst`; sets OF SF ZF AF PF, CF = (dst != 0).
#[inline]
pub fn neg(w: Width, dst: u32, flags: u32) -> (u32, u32) {
    sub_with_borrow(w, 0, dst, 0, flags)
}

/// `dst + 1`; sets OF SF ZF AF PF, keeps CF.
#[inline]
pub fn inc(w: Width, dst: u32, flags: u32) -> (u32, u32) {
    let (r, f) = add_with_carry(w, dst, 1, 0, flags);
    (r, merge(f, CF, flags & CF))
}

/// `dst - 1`; sets OF SF ZF AF PF, keeps CF.
#[inline]
pub fn dec(w: Width, dst: u32, flags: u32) -> (u32, u32) {
    let (r, f) = sub_with_borrow(w, dst, 1, 0, flags);
    (r, merge(f, CF, flags & CF))
}

// ---------------------------------------------------------------------------------------------
// Logic

/// EFLAGS after a logical op with result `r`: SF ZF PF from `r`, OF = CF = 0, and AF
/// (undefined) = 0 as on the reference CPU.
#[inline(always)]
fn logic_flags(w: Width, r: u32, flags: u32) -> u32 {
    merge(flags, STATUS, szp(w, r))
}

/// `dst & src`; sets SF ZF PF, clears OF CF; AF undefined (cleared).
#[inline]
pub fn and(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    let r = dst & src & w.mask();
    (r, logic_flags(w, r, flags))
}

/// `dst | src`; sets SF ZF PF, clears OF CF; AF undefined (cleared).
#[inline]
pub fn or(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    let r = (dst | src) & w.mask();
    (r, logic_flags(w, r, flags))
}

/// `dst ^ src`; sets SF ZF PF, clears OF CF; AF undefined (cleared).
#[inline]
pub fn xor(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    let r = (dst ^ src) & w.mask();
    (r, logic_flags(w, r, flags))
}

/// flags of `a & b`, result discarded; sets SF ZF PF, clears OF CF; AF undefined (cleared).
/// Returns only EFLAGS.
#[inline]
pub fn test(w: Width, a: u32, b: u32, flags: u32) -> u32 {
    logic_flags(w, a & b & w.mask(), flags)
}

// ---------------------------------------------------------------------------------------------
// Shifts and rotates. `c` is `count & 31`; c = 0 changes neither the operand nor any flag.
// For c > 1 the reference CPU computes OF with the one-bit formula on the last one-bit
// step, which is what each function below writes.

/// `dst << c`; CF = last bit shifted out (0 once c > bits), SF ZF PF from the result,
/// OF = MSB(result) ^ CF (defined for c = 1), AF undefined (set).
#[inline]
pub fn shl(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let wide = (v as u64) << c;
    let r = wide as u32 & w.mask();
    let cf = ((wide >> w.bits()) & 1) as u32;
    let of = of_bit(msb(w, r) ^ cf);
    (r, merge(flags, STATUS, cf | of | szp(w, r) | AF))
}

/// `sal` is [`shl`]: `dst << c`.
pub use self::shl as sal;

/// `dst >> c` (logical); CF = last bit shifted out, SF ZF PF from the result,
/// OF = MSB(dst) for c = 1 (and 0 for c > 1, the MSB before the last step), AF undefined
/// (set).
#[inline]
pub fn shr(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let before_last = v >> (c - 1);
    let r = before_last >> 1;
    let cf = before_last & 1;
    let of = of_bit(msb(w, before_last));
    (r, merge(flags, STATUS, cf | of | szp(w, r) | AF))
}

/// `dst >> c` (arithmetic); CF = last bit shifted out, SF ZF PF from the result, OF = 0
/// (defined for c = 1; also 0 for c > 1), AF undefined (set).
#[inline]
pub fn sar(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let before_last = w.sign_extend(v) >> (c - 1);
    let r = (before_last >> 1) as u32 & w.mask();
    let cf = (before_last & 1) as u32;
    (r, merge(flags, STATUS, cf | szp(w, r) | AF))
}

/// `dst` rotated left by `c % bits`; CF = LSB(result), OF = MSB(result) ^ CF (defined for
/// c = 1; same formula above), SF ZF AF PF kept. A c that is a multiple of the width
/// leaves `dst` alone but still writes CF and OF.
#[inline]
pub fn rol(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let t = c & (w.bits() - 1);
    let r = if t == 0 {
        v
    } else {
        ((v << t) | (v >> (w.bits() - t))) & w.mask()
    };
    let cf = r & 1;
    (r, merge(flags, CF | OF, cf | of_bit(msb(w, r) ^ cf)))
}

/// `dst` rotated right by `c % bits`; CF = MSB(result), OF = MSB(result) ^ MSB-1(result)
/// (defined for c = 1; same formula above), SF ZF AF PF kept. A c that is a multiple of
/// the width leaves `dst` alone but still writes CF and OF.
#[inline]
pub fn ror(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let t = c & (w.bits() - 1);
    let r = if t == 0 {
        v
    } else {
        ((v >> t) | (v << (w.bits() - t))) & w.mask()
    };
    let cf = msb(w, r);
    (
        r,
        merge(
            flags,
            CF | OF,
            cf | of_bit(cf ^ ((r >> (w.bits() - 2)) & 1)),
        ),
    )
}

/// `CF:dst` rotated left by `c % (bits + 1)`; CF = the bit rotated into it,
/// OF = MSB(result) ^ CF (defined for c = 1; same formula above), SF ZF AF PF kept.
#[inline]
pub fn rcl(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let n = w.bits();
    let t = c % (n + 1);
    let x = (((flags & CF) as u64) << n) | v as u64;
    let rotated = ((x << t) | (x >> (n + 1 - t))) & ((1u64 << (n + 1)) - 1);
    let r = rotated as u32 & w.mask();
    let cf = ((rotated >> n) & 1) as u32;
    (r, merge(flags, CF | OF, cf | of_bit(msb(w, r) ^ cf)))
}

/// `dst:CF` rotated right by `c % (bits + 1)`; CF = the bit rotated into it,
/// OF = MSB(result) ^ MSB-1(result) (for c = 1 that is old CF ^ MSB(dst); same formula
/// above), SF ZF AF PF kept.
#[inline]
pub fn rcr(w: Width, dst: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let v = dst & w.mask();
    if c == 0 {
        return (v, flags);
    }
    let n = w.bits();
    let t = c % (n + 1);
    let x = (((flags & CF) as u64) << n) | v as u64;
    let rotated = ((x >> t) | (x << (n + 1 - t))) & ((1u64 << (n + 1)) - 1);
    let r = rotated as u32 & w.mask();
    let cf = ((rotated >> n) & 1) as u32;
    (
        r,
        merge(
            flags,
            CF | OF,
            cf | of_bit(msb(w, r) ^ ((r >> (n - 2)) & 1)),
        ),
    )
}

/// `dst << c | src >> (bits - c)` (16/32-bit; an 8-bit `w` acts as 16-bit); CF = last bit
/// shifted out of dst, SF ZF PF from the result, OF = CF ^ MSB(dst << c) (for c = 1:
/// MSB(result) ^ MSB(dst), the sign change), AF undefined (set). 16-bit with c > 16 is
/// undefined: the reference CPU returns `src` rotated left by `c - 16`, CF = OF = 0.
#[inline]
pub fn shld(w: Width, dst: u32, src: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let w = if w == Width::B8 { Width::W16 } else { w };
    let (n, m) = (w.bits(), w.mask());
    let (d, s) = (dst & m, src & m);
    if c == 0 {
        return (d, flags);
    }
    let (r, cf) = if c <= n {
        let x = ((d as u64) << n) | s as u64;
        (((x << c) >> n) as u32 & m, ((x >> (2 * n - c)) & 1) as u32)
    } else {
        (((s << (c - 16)) | (s >> (32 - c))) & m, 0)
    };
    // The sign is taken from dst's bits alone: for c < bits that is MSB(result), but at
    // 16-bit c = 16 it makes OF = CF.
    let of = of_bit(cf ^ msb(w, (d << c) & m));
    (r, merge(flags, STATUS, cf | of | szp(w, r) | AF))
}

/// `dst >> c | src << (bits - c)` (16/32-bit; an 8-bit `w` acts as 16-bit); CF = last bit
/// shifted out of dst, SF ZF PF from the result, OF = MSB(result) ^ MSB-1(result) (for
/// c = 1: MSB(result) ^ MSB(dst), the sign change), AF undefined (set). 16-bit with c > 16
/// is undefined: the reference CPU returns `src` rotated right by `c - 16`, CF = 0, OF by
/// the same formula.
#[inline]
pub fn shrd(w: Width, dst: u32, src: u32, count: u32, flags: u32) -> (u32, u32) {
    let c = count & 0x1f;
    let w = if w == Width::B8 { Width::W16 } else { w };
    let (n, m) = (w.bits(), w.mask());
    let (d, s) = (dst & m, src & m);
    if c == 0 {
        return (d, flags);
    }
    let (r, cf) = if c <= n {
        let x = ((s as u64) << n) | d as u64;
        ((x >> c) as u32 & m, ((x >> (c - 1)) & 1) as u32)
    } else {
        (((s >> (c - 16)) | (s << (32 - c))) & m, 0)
    };
    let of = of_bit(msb(w, r) ^ ((r >> (n - 2)) & 1));
    (r, merge(flags, STATUS, cf | of | szp(w, r) | AF))
}

// ---------------------------------------------------------------------------------------------
// Multiply and divide

/// `hi:lo = a * b` unsigned (8-bit: `AX = AL * src`; 16: `DX:AX`; 32: `EDX:EAX`); returns
/// `(lo, hi, eflags)`; CF = OF = (hi != 0); SF ZF AF PF undefined (kept).
#[inline]
pub fn mul(w: Width, a: u32, b: u32, flags: u32) -> (u32, u32, u32) {
    let m = w.mask();
    let product = (a & m) as u64 * (b & m) as u64;
    let lo = product as u32 & m;
    let hi = (product >> w.bits()) as u32 & m;
    (lo, hi, merge(flags, CF | OF, (hi != 0) as u32 * (CF | OF)))
}

/// `hi:lo = a * b` signed (one-operand `imul`; registers as for [`mul`]); returns
/// `(lo, hi, eflags)`; CF = OF = (product != sign-extended lo); SF ZF AF PF undefined
/// (kept).
#[inline]
pub fn imul(w: Width, a: u32, b: u32, flags: u32) -> (u32, u32, u32) {
    let product = w.sign_extend(a) as i64 * w.sign_extend(b) as i64;
    let lo = product as u32 & w.mask();
    let hi = (product >> w.bits()) as u32 & w.mask();
    let overflow = product != w.sign_extend(lo) as i64;
    (lo, hi, merge(flags, CF | OF, overflow as u32 * (CF | OF)))
}

/// `dst = trunc(a * b)` signed (two- and three-operand `imul`, 16/32-bit); CF = OF = (the
/// product does not fit in dst); SF ZF AF PF undefined (kept).
#[inline]
pub fn imul_trunc(w: Width, a: u32, b: u32, flags: u32) -> (u32, u32) {
    let (lo, _, f) = imul(w, a, b, flags);
    (lo, f)
}

/// `(quotient, remainder) = hi:lo / divisor` unsigned (8-bit: `AL, AH = AX / src`; 16:
/// `AX, DX = DX:AX / src`; 32: `EAX, EDX = EDX:EAX / src`); #DE when the divisor is 0 or
/// the quotient does not fit. All status flags undefined: see [`div_flags`].
#[inline]
pub fn div(w: Width, lo: u32, hi: u32, divisor: u32) -> Result<(u32, u32), DivideError> {
    let m = w.mask();
    let divisor = (divisor & m) as u64;
    if divisor == 0 {
        return Err(DivideError::DivideByZero);
    }
    let dividend = (((hi & m) as u64) << w.bits()) | (lo & m) as u64;
    let quotient = dividend / divisor;
    if quotient > m as u64 {
        return Err(DivideError::Overflow);
    }
    Ok((quotient as u32, (dividend % divisor) as u32))
}

/// `(quotient, remainder) = hi:lo / divisor` signed, quotient rounded toward zero,
/// remainder with the dividend's sign (registers as for [`div`]); #DE when the divisor is 0
/// or the quotient does not fit (-2^(bits-1) is accepted). All status flags undefined: see
/// [`div_flags`].
#[inline]
pub fn idiv(w: Width, lo: u32, hi: u32, divisor: u32) -> Result<(u32, u32), DivideError> {
    let m = w.mask();
    let divisor = w.sign_extend(divisor) as i64;
    if divisor == 0 {
        return Err(DivideError::DivideByZero);
    }
    let raw = (((hi & m) as u64) << w.bits()) | (lo & m) as u64;
    let unused = 64 - 2 * w.bits();
    let dividend = ((raw << unused) as i64) >> unused;
    // Only i64::MIN / -1 (32-bit) wraps, to i64::MIN, which the range check rejects.
    let quotient = dividend.wrapping_div(divisor);
    let limit = w.sign_bit() as i64;
    if quotient >= limit || quotient < -limit {
        return Err(DivideError::Overflow);
    }
    Ok((
        quotient as u32 & m,
        dividend.wrapping_rem(divisor) as u32 & m,
    ))
}

/// EFLAGS after a `div`/`idiv` that did not fault. All status flags are architecturally
/// undefined; the reference CPU keeps CF and OF, sets AF and clears SF ZF PF, whatever the
/// operands.
#[inline]
pub fn div_flags(flags: u32) -> u32 {
    merge(flags, SF | ZF | AF | PF, AF)
}

// ---------------------------------------------------------------------------------------------
// Bit operations (register forms: the bit offset is taken modulo the width; for a memory
// operand the caller first moves the address by offset / 8, as the CPU does).

/// CF = bit `offset % bits` of `base`; ZF kept; OF SF AF PF undefined (kept). Returns only
/// EFLAGS.
#[inline]
pub fn bt(w: Width, base: u32, offset: u32, flags: u32) -> u32 {
    merge(flags, CF, (base >> (offset & (w.bits() - 1))) & 1)
}

/// `dst | 1 << (offset % bits)`; CF = the old bit; ZF kept; OF SF AF PF undefined (kept).
#[inline]
pub fn bts(w: Width, dst: u32, offset: u32, flags: u32) -> (u32, u32) {
    let bit = 1 << (offset & (w.bits() - 1));
    ((dst | bit) & w.mask(), bt(w, dst, offset, flags))
}

/// `dst & !(1 << (offset % bits))`; CF = the old bit; ZF kept; OF SF AF PF undefined
/// (kept).
#[inline]
pub fn btr(w: Width, dst: u32, offset: u32, flags: u32) -> (u32, u32) {
    let bit = 1 << (offset & (w.bits() - 1));
    (dst & !bit & w.mask(), bt(w, dst, offset, flags))
}

/// `dst ^ 1 << (offset % bits)`; CF = the old bit; ZF kept; OF SF AF PF undefined (kept).
#[inline]
pub fn btc(w: Width, dst: u32, offset: u32, flags: u32) -> (u32, u32) {
    let bit = 1 << (offset & (w.bits() - 1));
    ((dst ^ bit) & w.mask(), bt(w, dst, offset, flags))
}

/// EFLAGS after `bsf`/`bsr` found bit `index` (or nothing): ZF = nothing found; CF OF SF AF
/// PF undefined: the reference CPU clears CF OF SF AF and sets PF from the index, or sets
/// it when nothing was found.
#[inline(always)]
fn bit_scan_flags(index: Option<u32>, flags: u32) -> u32 {
    match index {
        Some(i) => merge(flags, STATUS, parity(i)),
        None => merge(flags, STATUS, ZF | PF),
    }
}

/// `dst = index of the lowest set bit of src`; ZF = (src == 0), and then dst is returned
/// unchanged; CF OF SF AF PF undefined (cleared; PF from the index, set if src == 0).
#[inline]
pub fn bsf(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    let s = src & w.mask();
    if s == 0 {
        (dst & w.mask(), bit_scan_flags(None, flags))
    } else {
        let index = s.trailing_zeros();
        (index, bit_scan_flags(Some(index), flags))
    }
}

/// `dst = index of the highest set bit of src`; ZF = (src == 0), and then dst is returned
/// unchanged; CF OF SF AF PF undefined (cleared; PF from the index, set if src == 0).
#[inline]
pub fn bsr(w: Width, dst: u32, src: u32, flags: u32) -> (u32, u32) {
    let s = src & w.mask();
    if s == 0 {
        (dst & w.mask(), bit_scan_flags(None, flags))
    } else {
        let index = 31 - s.leading_zeros();
        (index, bit_scan_flags(Some(index), flags))
    }
}

/// `dst` with its 4 bytes reversed (32-bit); no flags. 16-bit `bswap` is undefined: the
/// reference CPU writes 0 (an 8-bit `w` acts as 16-bit).
#[inline]
pub fn bswap(w: Width, dst: u32) -> u32 {
    match w {
        Width::D32 => dst.swap_bytes(),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Decimal adjusts (valid in 32-bit mode only). On the reference CPU every undefined flag
// comes from the binary add or subtract the adjust performs.

/// The corrections `daa`/`das` apply to `al`: (low-nibble adjust, high-digit adjust).
#[inline(always)]
fn decimal_adjust(al: u32, flags: u32) -> (bool, bool) {
    (
        (al & 0xf) > 9 || flags & AF != 0,
        al > 0x99 || flags & CF != 0,
    )
}

/// `AL = decimal adjust of AL after add` (+6 if AL.lo > 9 or AF; +0x60 if AL > 0x99 or CF);
/// AF CF = the adjusts made, SF ZF PF from AL; OF undefined (that of the binary add).
#[inline]
pub fn daa(al: u32, flags: u32) -> (u32, u32) {
    let al = al & 0xff;
    let (low, high) = decimal_adjust(al, flags);
    let correction = (low as u32) * 0x06 + (high as u32) * 0x60;
    let (r, f) = add_with_carry(Width::B8, al, correction, 0, flags);
    (
        r,
        merge(f, CF | AF, ((high as u32) * CF) | ((low as u32) * AF)),
    )
}

/// `AL = decimal adjust of AL after subtract` (-6 if AL.lo > 9 or AF; -0x60 if AL > 0x99 or
/// CF); AF = low adjust, CF = high adjust or a borrow from the -6, SF ZF PF from AL; OF
/// undefined (that of the binary subtract).
#[inline]
pub fn das(al: u32, flags: u32) -> (u32, u32) {
    let al = al & 0xff;
    let (low, high) = decimal_adjust(al, flags);
    let correction = (low as u32) * 0x06 + (high as u32) * 0x60;
    let (r, f) = sub_with_borrow(Width::B8, al, correction, 0, flags);
    let cf = high || (low && al < 6);
    (
        r,
        merge(f, CF | AF, ((cf as u32) * CF) | ((low as u32) * AF)),
    )
}

/// `AX = ASCII adjust of AX after add`: if AL.lo > 9 or AF { AX += 0x106 }; AL &= 0xf;
/// AF = CF = adjusted; OF SF ZF PF undefined (those of the 16-bit add).
#[inline]
pub fn aaa(ax: u32, flags: u32) -> (u32, u32) {
    let ax = ax & 0xffff;
    let adjust = (ax & 0xf) > 9 || flags & AF != 0;
    let (r, f) = add_with_carry(Width::W16, ax, (adjust as u32) * 0x106, 0, flags);
    (r & 0xff0f, merge(f, CF | AF, (adjust as u32) * (CF | AF)))
}

/// `AX = ASCII adjust of AX after subtract`: if AL.lo > 9 or AF { AX -= 0x106 }; AL &= 0xf;
/// AF = CF = adjusted; OF SF ZF PF undefined (those of the 16-bit subtract).
#[inline]
pub fn aas(ax: u32, flags: u32) -> (u32, u32) {
    let ax = ax & 0xffff;
    let adjust = (ax & 0xf) > 9 || flags & AF != 0;
    let (r, f) = sub_with_borrow(Width::W16, ax, (adjust as u32) * 0x106, 0, flags);
    (r & 0xff0f, merge(f, CF | AF, (adjust as u32) * (CF | AF)))
}

/// `AH = AL / base; AL = AL % base` (`aam imm8`, usually 10); #DE if base is 0; SF ZF PF
/// from AL; OF AF CF undefined (cleared). Returns `(AX, eflags)`.
#[inline]
pub fn aam(al: u32, base: u32, flags: u32) -> Result<(u32, u32), DivideError> {
    let (al, base) = (al & 0xff, base & 0xff);
    if base == 0 {
        return Err(DivideError::DivideByZero);
    }
    let r = al % base;
    Ok((
        (al / base) << 8 | r,
        merge(flags, STATUS, szp(Width::B8, r)),
    ))
}

/// `AL = AL + AH * base; AH = 0` (`aad imm8`, usually 10); SF ZF PF from AL; OF AF CF
/// undefined (those of the 8-bit add of AL and the low byte of AH * base). Returns
/// `(AX, eflags)`.
#[inline]
pub fn aad(ax: u32, base: u32, flags: u32) -> (u32, u32) {
    let scaled = ((ax >> 8) & 0xff) * (base & 0xff);
    add_with_carry(Width::B8, ax, scaled, 0, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::DF;

    #[test]
    fn width_helpers() {
        assert_eq!(Width::ALL.map(Width::bits), [8, 16, 32]);
        assert_eq!(Width::ALL.map(Width::mask), [0xff, 0xffff, 0xffff_ffff]);
        assert_eq!(Width::ALL.map(Width::sign_bit), [0x80, 0x8000, 0x8000_0000]);
        assert_eq!(
            Width::ALL.map(|w| w.sign_extend(0xffff_ff80)),
            [-128, -128, -128]
        );
        assert_eq!(
            Width::ALL.map(|w| w.sign_extend(0x7f80)),
            [-128, 0x7f80, 0x7f80]
        );
    }

    #[test]
    fn hand_checked_examples() {
        // 0x7f + 1 overflows into the sign bit with a carry out of bit 3.
        assert_eq!(add(Width::B8, 0x7f, 1, 0), (0x80, OF | SF | AF));
        assert_eq!(sub(Width::D32, 0, 1, 0), (u32::MAX, CF | SF | AF | PF));
        assert_eq!(
            inc(Width::W16, 0xffff, CF | DF),
            (0, CF | DF | ZF | PF | AF)
        );
        assert_eq!(shl(Width::B8, 0x81, 1, 0), (0x02, CF | OF | AF));
        assert_eq!(shl(Width::B8, 0x81, 32, SF), (0x81, SF));
        assert_eq!(rcr(Width::B8, 0x01, 1, CF), (0x80, CF | OF));
        assert_eq!(mul(Width::B8, 0x10, 0x10, ZF), (0x00, 0x01, ZF | CF | OF));
        assert_eq!(idiv(Width::B8, 0x00, 0xff, 2), Ok((0x80, 0)));
        assert_eq!(
            idiv(Width::D32, 0, 0x8000_0000, u32::MAX),
            Err(DivideError::Overflow)
        );
        assert_eq!(
            div(Width::W16, 1, 0, 0x1_0000),
            Err(DivideError::DivideByZero)
        );
        assert_eq!(bsr(Width::D32, 7, 0, 0), (7, ZF | PF));
        assert_eq!(daa(0x9a, 0), (0x00, CF | AF | ZF | PF));
        assert_eq!(aaa(0x000b, 0).0, 0x0101);
        assert_eq!(aam(0x35, 10, 0), Ok((0x0503, PF)));
        assert_eq!(aad(0x0503, 10, 0), (0x35, PF));
    }

    /// No operand, count or flags value makes any operation panic (overflow checks are on
    /// in test builds), results stay within the width, and non-status flags pass through.
    #[test]
    fn total_on_awkward_inputs() {
        let values = [
            0,
            1,
            0x7f,
            0x80,
            0xff,
            0x7fff,
            0x8000,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            u32::MAX,
        ];
        let others = !STATUS;
        for w in Width::ALL {
            for &a in &values {
                for &b in &values {
                    for flags in [0, u32::MAX] {
                        let binary = [
                            add, adc, sub, sbb, and, or, xor, shl, shr, sar, rol, ror, rcl, rcr,
                            imul_trunc, bts, btr, btc, bsf, bsr,
                        ];
                        for op in binary {
                            let (r, f) = op(w, a, b, flags);
                            assert!(r <= w.mask() && f & others == flags & others);
                        }
                        for op in [shld, shrd] {
                            for count in [0, 1, 15, 16, 17, 31, 32, u32::MAX] {
                                let (r, f) = op(w, a, b, count, flags);
                                assert!(r <= w.mask().max(0xffff) && f & others == flags & others);
                            }
                        }
                        let _ = (
                            cmp(w, a, b, flags),
                            test(w, a, b, flags),
                            bt(w, a, b, flags),
                        );
                        let _ = (mul(w, a, b, flags), imul(w, a, b, flags), bswap(w, a));
                        let _ = (
                            div(w, a, b, a ^ b),
                            idiv(w, a, b, a ^ b),
                            div(w, a, b, b),
                            idiv(w, a, b, b),
                        );
                        let _ = (neg(w, a, flags), inc(w, a, flags), dec(w, a, flags));
                        let _ = (daa(a, flags), das(a, flags), aaa(a, flags), aas(a, flags));
                        let _ = (aam(a, b, flags), aad(a, b, flags));
                    }
                }
            }
        }
    }
}
