//! The virtual instruction set of a protected program's VM: a stack machine in the style
//! of VMProtect 2.
//!
//! The virtual stack holds 64-bit slots and grows down. Binary operations take
//! `[.., x, y]` (y on top) and leave `[.., result, flags]`; flags are the native flag
//! bits (`ZF CF OF SF`) exactly as the native instruction computes them. Operations whose
//! flags depend on the old flags (carries, shifts by zero, rotates) take
//! `[.., old_flags, x, y]`. Virtual registers are 64-bit slots of the VM context,
//! addressed by a byte offset carried as an immediate.
//!
//! Each kind is implemented by one or more *handlers* (native code generated per build);
//! the opcode byte that selects a handler is encrypted, and so is the immediate.

use core::fmt;
use vmkit_isa::Size;

/// What a virtual instruction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VKind {
    /// Push an immediate of the size's width, sign-extended to 64 bits.
    PushI(Size),
    /// Push virtual register (context slot at the immediate byte offset), zero-extended
    /// from the size.
    LoadV(Size),
    /// Pop into the low bytes of a virtual register (the rest is kept).
    StoreV(Size),
    /// `[.., addr]` -> `[.., mem[addr]]`, zero-extended.
    Read(Size),
    /// `[.., value, addr]` -> `[..]`: `mem[addr] = value`.
    Write(Size),
    /// `x + y`, flags.
    Add(Size),
    /// `!(x & y)`; ZF SF of the result, CF OF clear.
    Nand(Size),
    /// `x + y + CF(old)`, flags.
    Adc(Size),
    /// `x - y - CF(old)`, flags.
    Sbb(Size),
    /// Low half of `x * y` (unsigned), flags.
    Mul(Size),
    /// Low half of `x * y` (signed), flags.
    Imul(Size),
    /// `x << y`, flags (old flags when the count is 0).
    Shl(Size),
    /// `x >> y` (logical), flags.
    Shr(Size),
    /// `x >> y` (arithmetic), flags.
    Sar(Size),
    /// Rotate left, flags (only CF changes).
    Rol(Size),
    /// Rotate right, flags (only CF changes).
    Ror(Size),
    /// High half of `x * y` (unsigned).
    Mulh(Size),
    /// High half of `x * y` (signed).
    Imulh(Size),
    /// `x / y` (unsigned; faults on zero).
    Div(Size),
    /// `x / y` (signed).
    Idiv(Size),
    /// `x % y` (unsigned).
    Rem(Size),
    /// `x % y` (signed).
    Irem(Size),
    /// Sign-extend the low bits of the top slot to 64 bits.
    Sext(Size),
    /// Reverse the bytes of the low bits of the top slot.
    Bswap(Size),
    /// IEEE double `x + y`.
    Fadd,
    /// `x - y`.
    Fsub,
    /// `x * y`.
    Fmul,
    /// `x / y`.
    Fdiv,
    /// `min(x, y)`.
    Fmin,
    /// `max(x, y)`.
    Fmax,
    /// `sqrt(x)`.
    Fsqrt,
    /// `-x`.
    Fneg,
    /// `|x|`.
    Fabs,
    /// Signed integer to double.
    Cvtif,
    /// Double to signed integer (truncating).
    Cvtfi,
    /// `[.., x, y]` -> `[.., flags]` of the float comparison.
    Fcmp,
    /// Pop the address of a virtual block: continue there, the key restarts from it.
    Jmp,
    /// Pop a native address: leave the VM (native registers and flags from the context)
    /// and continue there.
    Exit,
}

/// The stack effect of a kind: slots popped, slots pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEffect {
    /// Slots taken from the stack.
    pub pops: u8,
    /// Slots left on the stack.
    pub pushes: u8,
}

macro_rules! sized_kinds {
    ($($k:ident),*) => {
        [$(VKind::$k(Size::B), VKind::$k(Size::W), VKind::$k(Size::D), VKind::$k(Size::Q)),*]
    };
}

impl VKind {
    /// Every kind, in a fixed order.
    pub fn all() -> Vec<VKind> {
        let mut v: Vec<VKind> = sized_kinds!(
            PushI, LoadV, StoreV, Read, Write, Add, Nand, Adc, Sbb, Mul, Imul, Shl, Shr, Sar, Rol,
            Ror, Mulh, Imulh, Div, Idiv, Rem, Irem, Bswap
        )
        .to_vec();
        v.extend([
            VKind::Sext(Size::B),
            VKind::Sext(Size::W),
            VKind::Sext(Size::D),
        ]);
        v.extend([
            VKind::Fadd,
            VKind::Fsub,
            VKind::Fmul,
            VKind::Fdiv,
            VKind::Fmin,
            VKind::Fmax,
            VKind::Fsqrt,
            VKind::Fneg,
            VKind::Fabs,
            VKind::Cvtif,
            VKind::Cvtfi,
            VKind::Fcmp,
            VKind::Jmp,
            VKind::Exit,
        ]);
        v
    }

    /// Bytes of immediate that follow the opcode.
    pub fn imm_bytes(self) -> u32 {
        match self {
            VKind::PushI(s) => s.bytes(),
            VKind::LoadV(_) | VKind::StoreV(_) => 1,
            _ => 0,
        }
    }

    /// The immediate's width, if the kind has one.
    pub fn imm_size(self) -> Option<Size> {
        match self {
            VKind::PushI(s) => Some(s),
            VKind::LoadV(_) | VKind::StoreV(_) => Some(Size::B),
            _ => None,
        }
    }

    /// The operation's size, for sized kinds.
    pub fn size(self) -> Option<Size> {
        use VKind::*;
        match self {
            PushI(s) | LoadV(s) | StoreV(s) | Read(s) | Write(s) | Add(s) | Nand(s) | Adc(s)
            | Sbb(s) | Mul(s) | Imul(s) | Shl(s) | Shr(s) | Sar(s) | Rol(s) | Ror(s) | Mulh(s)
            | Imulh(s) | Div(s) | Idiv(s) | Rem(s) | Irem(s) | Sext(s) | Bswap(s) => Some(s),
            _ => None,
        }
    }

    /// Slots popped and pushed.
    pub fn stack_effect(self) -> StackEffect {
        use VKind::*;
        let (pops, pushes) = match self {
            PushI(_) | LoadV(_) => (0, 1),
            StoreV(_) | Jmp | Exit => (1, 0),
            Read(_) | Sext(_) | Bswap(_) | Fsqrt | Fneg | Fabs | Cvtif | Cvtfi => (1, 1),
            Write(_) => (2, 0),
            Add(_) | Nand(_) | Mul(_) | Imul(_) => (2, 2),
            Adc(_) | Sbb(_) | Shl(_) | Shr(_) | Sar(_) | Rol(_) | Ror(_) => (3, 2),
            Mulh(_) | Imulh(_) | Div(_) | Idiv(_) | Rem(_) | Irem(_) | Fadd | Fsub | Fmul
            | Fdiv | Fmin | Fmax | Fcmp => (2, 1),
        };
        StackEffect { pops, pushes }
    }

    /// Whether a handler of this kind ends the virtual block (it does not fall through to
    /// the next virtual instruction).
    pub fn ends_block(self) -> bool {
        matches!(self, VKind::Jmp | VKind::Exit)
    }

    /// The name used in listings and profiles: `add.q`, `loadv.b`, `fsqrt`, `jmp`.
    pub fn name(self) -> String {
        use VKind::*;
        let base = match self {
            PushI(_) => "push",
            LoadV(_) => "loadv",
            StoreV(_) => "storev",
            Read(_) => "read",
            Write(_) => "write",
            Add(_) => "add",
            Nand(_) => "nand",
            Adc(_) => "adc",
            Sbb(_) => "sbb",
            Mul(_) => "mul",
            Imul(_) => "imul",
            Shl(_) => "shl",
            Shr(_) => "shr",
            Sar(_) => "sar",
            Rol(_) => "rol",
            Ror(_) => "ror",
            Mulh(_) => "mulh",
            Imulh(_) => "imulh",
            Div(_) => "div",
            Idiv(_) => "idiv",
            Rem(_) => "rem",
            Irem(_) => "irem",
            Sext(_) => "sext",
            Bswap(_) => "bswap",
            Fadd => "fadd",
            Fsub => "fsub",
            Fmul => "fmul",
            Fdiv => "fdiv",
            Fmin => "fmin",
            Fmax => "fmax",
            Fsqrt => "fsqrt",
            Fneg => "fneg",
            Fabs => "fabs",
            Cvtif => "cvtif",
            Cvtfi => "cvtfi",
            Fcmp => "fcmp",
            Jmp => "jmp",
            Exit => "exit",
        };
        match self.size() {
            Some(s) => format!("{base}.{}", s.suffix()),
            None => base.to_string(),
        }
    }

    /// Parses [`VKind::name`].
    pub fn parse(s: &str) -> Option<VKind> {
        VKind::all().into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for VKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A virtual instruction before encryption: a kind and its immediate (0 if none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VOp {
    /// What it does.
    pub kind: VKind,
    /// The immediate, zero-extended from the kind's width.
    pub imm: u64,
}

impl fmt::Display for VOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            VKind::LoadV(_) | VKind::StoreV(_) => {
                write!(f, "{} {}", self.kind, crate::context::slot_name(self.imm))
            }
            VKind::PushI(s) => write!(f, "{} {:#x}", self.kind, s.sign_extend(self.imm)),
            _ => write!(f, "{}", self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse() {
        let all = VKind::all();
        for k in &all {
            assert_eq!(VKind::parse(&k.name()), Some(*k));
        }
        let mut names: Vec<String> = all.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(all.len() < 256);
    }
}
