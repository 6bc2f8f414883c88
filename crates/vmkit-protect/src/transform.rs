//! Transforms: the invertible one-operand operations that VMProtect 2 chains to encrypt
//! opcodes, immediates, handler-table entries and entry offsets (seed 000's `trans`).
//!
//! A [`Transform`] works at an operand [`Size`] (8, 16, 32 or 64 bits) on the low bits of
//! a value, exactly as the native instruction that performs it does, and has an inverse
//! that undoes it at every width. A [`KeyChain`] is VMP2's rolling-key decryption: combine
//! with the key, three transforms, update the key from the result.

use crate::rng::Rng;
use core::fmt;
use vmkit_isa::{Instr, Op, Operand, Reg, Size};

/// One invertible operation on the low `size` bits of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `x + k`.
    Add(u64),
    /// `x - k`.
    Sub(u64),
    /// `x ^ k`.
    Xor(u64),
    /// `!x`.
    Not,
    /// `-x`.
    Neg,
    /// Rotate left by `n` (taken modulo the width).
    Rol(u32),
    /// Rotate right by `n` (taken modulo the width).
    Ror(u32),
    /// `x + 1`.
    Inc,
    /// `x - 1`.
    Dec,
    /// Reverse the bytes (the identity at 8 bits).
    Bswap,
}

impl Transform {
    /// Applies the transform to the low `size` bits of `x`; the result is zero-extended.
    pub fn apply(self, x: u64, size: Size) -> u64 {
        let m = size.mask();
        let bits = size.bits();
        let x = x & m;
        let r = match self {
            Transform::Add(k) => x.wrapping_add(k),
            Transform::Sub(k) => x.wrapping_sub(k),
            Transform::Xor(k) => x ^ k,
            Transform::Not => !x,
            Transform::Neg => x.wrapping_neg(),
            Transform::Rol(n) => rotl(x, n % bits, bits),
            Transform::Ror(n) => rotl(x, (bits - n % bits) % bits, bits),
            Transform::Inc => x.wrapping_add(1),
            Transform::Dec => x.wrapping_sub(1),
            Transform::Bswap => x.swap_bytes() >> (64 - bits),
        };
        r & m
    }

    /// The transform that undoes this one at every width.
    pub fn inverse(self) -> Transform {
        match self {
            Transform::Add(k) => Transform::Sub(k),
            Transform::Sub(k) => Transform::Add(k),
            Transform::Rol(n) => Transform::Ror(n),
            Transform::Ror(n) => Transform::Rol(n),
            Transform::Inc => Transform::Dec,
            Transform::Dec => Transform::Inc,
            t @ (Transform::Xor(_) | Transform::Not | Transform::Neg | Transform::Bswap) => t,
        }
    }

    /// A random transform that changes values at `size` (never the identity).
    pub fn random(rng: &mut Rng, size: Size) -> Transform {
        let bits = size.bits();
        loop {
            let k = rng.next_u64() & size.mask();
            let t = match rng.below(10) {
                0 => Transform::Add(k),
                1 => Transform::Sub(k),
                2 => Transform::Xor(k),
                3 => Transform::Not,
                4 => Transform::Neg,
                5 => Transform::Rol(1 + rng.below(bits as u64 - 1) as u32),
                6 => Transform::Ror(1 + rng.below(bits as u64 - 1) as u32),
                7 => Transform::Inc,
                8 => Transform::Dec,
                _ => Transform::Bswap,
            };
            let identity = match t {
                Transform::Add(0) | Transform::Sub(0) | Transform::Xor(0) => true,
                Transform::Bswap => size == Size::B,
                _ => false,
            };
            if !identity {
                return t;
            }
        }
    }

    /// Whether the transform is one the protector can build at `size`: a constant that
    /// fits the width, a rotation by 1 to width - 1. (The arithmetic would take any
    /// value modulo the width, but a profile that says `ror 99` or `xor 0x1ff` at 8 bits
    /// is not what any build wrote, so it is refused rather than reinterpreted.)
    pub fn check(self, size: Size) -> Result<(), String> {
        let bits = size.bits();
        match self {
            Transform::Add(k) | Transform::Sub(k) | Transform::Xor(k) if k & !size.mask() != 0 => {
                Err(format!("`{self}` has a constant wider than {bits} bits"))
            }
            Transform::Rol(n) | Transform::Ror(n) if n == 0 || n >= bits => Err(format!(
                "`{self}` rotates by {n}; at {bits} bits a rotation is by 1 to {}",
                bits - 1
            )),
            _ => Ok(()),
        }
    }

    /// The native instruction that applies the transform to register `r` at `size`.
    pub fn instr(self, r: Reg, size: Size) -> Instr {
        let reg = Operand::Reg(r);
        let two = |op, k: u64| Instr::new(op, size, &[reg, imm_at(k, size)]);
        match self {
            Transform::Add(k) => two(Op::Add, k),
            Transform::Sub(k) => two(Op::Sub, k),
            Transform::Xor(k) => two(Op::Xor, k),
            Transform::Rol(n) => two(Op::Rol, n as u64),
            Transform::Ror(n) => two(Op::Ror, n as u64),
            Transform::Not => Instr::new(Op::Not, size, &[reg]),
            Transform::Neg => Instr::new(Op::Neg, size, &[reg]),
            Transform::Inc => Instr::new(Op::Inc, size, &[reg]),
            Transform::Dec => Instr::new(Op::Dec, size, &[reg]),
            Transform::Bswap => Instr::new(Op::Bswap, size, &[reg]),
        }
    }

    /// Recognises a native instruction that applies a transform to one register: the
    /// register, the size and the transform. The inverse of [`Transform::instr`].
    pub fn from_instr(i: &Instr) -> Option<(Reg, Size, Transform)> {
        let Operand::Reg(r) = i.operands[0] else {
            return None;
        };
        let k = || match i.operands[1] {
            Operand::Imm { value, .. } => Some(value as u64 & i.size.mask()),
            _ => None,
        };
        let t = match i.op {
            Op::Add => Transform::Add(k()?),
            Op::Sub => Transform::Sub(k()?),
            Op::Xor => Transform::Xor(k()?),
            Op::Rol => Transform::Rol(k()? as u32 % i.size.bits()),
            Op::Ror => Transform::Ror(k()? as u32 % i.size.bits()),
            Op::Not => Transform::Not,
            Op::Neg => Transform::Neg,
            Op::Inc => Transform::Inc,
            Op::Dec => Transform::Dec,
            Op::Bswap => Transform::Bswap,
            _ => return None,
        };
        Some((r, i.size, t))
    }

    /// Parses the text form written by `Display` (`add 0x1f`, `not`, `rol 5`, ...).
    pub fn parse(s: &str) -> Option<Transform> {
        let mut words = s.split_whitespace();
        let name = words.next()?;
        let arg = words.next();
        if words.next().is_some() {
            return None;
        }
        let num = || arg.and_then(parse_number);
        let t = match name {
            "add" => Transform::Add(num()?),
            "sub" => Transform::Sub(num()?),
            "xor" => Transform::Xor(num()?),
            "rol" => Transform::Rol(u32::try_from(num()?).ok()?),
            "ror" => Transform::Ror(u32::try_from(num()?).ok()?),
            _ if arg.is_some() => return None,
            "not" => Transform::Not,
            "neg" => Transform::Neg,
            "inc" => Transform::Inc,
            "dec" => Transform::Dec,
            "bswap" => Transform::Bswap,
            _ => return None,
        };
        Some(t)
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transform::Add(k) => write!(f, "add {k:#x}"),
            Transform::Sub(k) => write!(f, "sub {k:#x}"),
            Transform::Xor(k) => write!(f, "xor {k:#x}"),
            Transform::Rol(n) => write!(f, "rol {n}"),
            Transform::Ror(n) => write!(f, "ror {n}"),
            Transform::Not => f.write_str("not"),
            Transform::Neg => f.write_str("neg"),
            Transform::Inc => f.write_str("inc"),
            Transform::Dec => f.write_str("dec"),
            Transform::Bswap => f.write_str("bswap"),
        }
    }
}

/// A number as profiles and transforms write it: `0x` hex or decimal.
pub(crate) fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn rotl(x: u64, n: u32, bits: u32) -> u64 {
    if n == 0 {
        x
    } else {
        (x << n) | (x >> (bits - n))
    }
}

/// An immediate operand holding `k` as the instruction at `size` will read it (the
/// encoder sign-extends, so the shortest encoding of the sign-extended value is used).
pub fn imm_at(k: u64, size: Size) -> Operand {
    Operand::imm(size.sign_extend(k & size.mask()) as i64)
}

/// How a rolling key combines with a value: VMP2's `xor al, bl` and its add/sub variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyOp {
    /// `x + key`.
    Add,
    /// `x - key`.
    Sub,
    /// `x ^ key`.
    Xor,
}

impl KeyOp {
    /// `a op b` at `size`.
    pub fn apply(self, a: u64, b: u64, size: Size) -> u64 {
        let r = match self {
            KeyOp::Add => a.wrapping_add(b),
            KeyOp::Sub => a.wrapping_sub(b),
            KeyOp::Xor => a ^ b,
        };
        r & size.mask()
    }

    /// The `x` with `apply(x, b) == y`.
    pub fn solve(self, y: u64, b: u64, size: Size) -> u64 {
        let r = match self {
            KeyOp::Add => y.wrapping_sub(b),
            KeyOp::Sub => y.wrapping_add(b),
            KeyOp::Xor => y ^ b,
        };
        r & size.mask()
    }

    /// The native operation.
    pub fn op(self) -> Op {
        match self {
            KeyOp::Add => Op::Add,
            KeyOp::Sub => Op::Sub,
            KeyOp::Xor => Op::Xor,
        }
    }

    /// The key operation a native operation performs, if any.
    pub fn from_op(op: Op) -> Option<KeyOp> {
        match op {
            Op::Add => Some(KeyOp::Add),
            Op::Sub => Some(KeyOp::Sub),
            Op::Xor => Some(KeyOp::Xor),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            KeyOp::Add => "add",
            KeyOp::Sub => "sub",
            KeyOp::Xor => "xor",
        }
    }

    /// Parses [`KeyOp::name`].
    pub fn parse(s: &str) -> Option<KeyOp> {
        match s {
            "add" => Some(KeyOp::Add),
            "sub" => Some(KeyOp::Sub),
            "xor" => Some(KeyOp::Xor),
            _ => None,
        }
    }

    fn random(rng: &mut Rng) -> KeyOp {
        *rng.pick(&[KeyOp::Add, KeyOp::Sub, KeyOp::Xor])
    }
}

/// Three transforms applied in order, without a key (vm_entry's decryption of the pushed
/// offset, and in the same shape the single-transform table encryption).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chain3 {
    /// The transforms, applied first to last.
    pub t: [Transform; 3],
}

impl Chain3 {
    /// A random chain at `size`.
    pub fn random(rng: &mut Rng, size: Size) -> Chain3 {
        Chain3 {
            t: [(); 3].map(|_| Transform::random(rng, size)),
        }
    }

    /// Decrypts: applies the transforms in order.
    pub fn apply(&self, x: u64, size: Size) -> u64 {
        self.t.iter().fold(x, |v, t| t.apply(v, size))
    }

    /// Encrypts: the inverse of [`Chain3::apply`].
    pub fn invert(&self, y: u64, size: Size) -> u64 {
        self.t
            .iter()
            .rev()
            .fold(y, |v, t| t.inverse().apply(v, size))
    }
}

/// VMP2's rolling-key decryption at one width: `x = t3(t2(t1(e op key)))`, then
/// `key = key op x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyChain {
    /// How the key combines with the encrypted value, and how it is updated.
    pub key_op: KeyOp,
    /// The three transforms.
    pub chain: Chain3,
    /// The width of the values (and of the key bits used).
    pub size: Size,
}

impl KeyChain {
    /// [`Transform::check`] for each transform at the chain's width.
    pub fn check(&self) -> Result<(), String> {
        self.chain.check(self.size)
    }

    /// A random chain at `size`.
    pub fn random(rng: &mut Rng, size: Size) -> KeyChain {
        KeyChain {
            key_op: KeyOp::random(rng),
            chain: Chain3::random(rng, size),
            size,
        }
    }

    /// Decrypts `e` with `key`: the plain value and the next key (only the low `size`
    /// bits of the key change, as in the native code).
    pub fn decrypt(&self, e: u64, key: u64) -> (u64, u64) {
        let s = self.size;
        let x = self.chain.apply(self.key_op.apply(e, key, s), s);
        (x, merge_low(key, self.key_op.apply(key, x, s), s))
    }

    /// Encrypts `x` with `key`: the stored value and the next key.
    pub fn encrypt(&self, x: u64, key: u64) -> (u64, u64) {
        let s = self.size;
        let e = self.key_op.solve(self.chain.invert(x, s), key, s);
        (
            e,
            merge_low(key, self.key_op.apply(key, x & s.mask(), s), s),
        )
    }
}

/// `full` with its low `size` bits replaced by `low`: what a sized native write does.
pub fn merge_low(full: u64, low: u64, size: Size) -> u64 {
    (full & !size.mask()) | (low & size.mask())
}

impl Chain3 {
    /// [`Transform::check`] for each transform at `size`.
    pub fn check(&self, size: Size) -> Result<(), String> {
        self.t.iter().try_for_each(|t| t.check(size))
    }

    /// Parses the text form written by `Display`: three transforms separated by `;`.
    pub fn parse(s: &str) -> Option<Chain3> {
        let t: Vec<Transform> = s.split(';').map(Transform::parse).collect::<Option<_>>()?;
        Some(Chain3 {
            t: t.try_into().ok()?,
        })
    }
}

impl KeyChain {
    /// Parses the text form written by `Display`: `xor.b key; add 0x5; not; rol 3`.
    pub fn parse(s: &str) -> Option<KeyChain> {
        let (head, rest) = s.split_once(';')?;
        let (op, size) = head.trim().strip_suffix(" key")?.split_once('.')?;
        Some(KeyChain {
            key_op: KeyOp::parse(op)?,
            chain: Chain3::parse(rest)?,
            size: Size::ALL
                .into_iter()
                .find(|z| size.chars().eq([z.suffix()]))?,
        })
    }
}

impl fmt::Display for Chain3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}; {}", self.t[0], self.t[1], self.t[2])
    }
}

impl fmt::Display for KeyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} key; {}",
            self.key_op.name(),
            self.size.suffix(),
            self.chain
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_and_bswap_at_each_width() {
        assert_eq!(Transform::Rol(4).apply(0x12, Size::B), 0x21);
        assert_eq!(Transform::Ror(8).apply(0x1234, Size::W), 0x3412);
        assert_eq!(Transform::Bswap.apply(0x1234_5678, Size::D), 0x7856_3412);
        assert_eq!(Transform::Bswap.apply(0xAB, Size::B), 0xAB);
        assert_eq!(Transform::Neg.apply(1, Size::W), 0xFFFF);
    }

    #[test]
    fn text_round_trip() {
        let mut rng = Rng::new(7);
        for size in Size::ALL {
            for _ in 0..200 {
                let t = Transform::random(&mut rng, size);
                assert_eq!(Transform::parse(&t.to_string()), Some(t));
                let c = KeyChain::random(&mut rng, size);
                assert_eq!(KeyChain::parse(&c.to_string()), Some(c));
                assert_eq!(Chain3::parse(&c.chain.to_string()), Some(c.chain));
            }
        }
    }
}
