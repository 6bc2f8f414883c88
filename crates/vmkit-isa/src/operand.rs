//! Operands: registers, sizes, condition codes and addressing modes.

use core::fmt;

/// Number of addressable registers: sixteen general registers and the stack pointer.
pub const REG_COUNT: usize = 17;

/// A register: `r0`..`r15` (general, 64 bits) or `sp` (the stack pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// The stack pointer, encoded as register number 16.
    pub const SP: Reg = Reg(16);

    /// The register with encoding `n`, if `n` names one (`0..=16`).
    pub const fn new(n: u8) -> Option<Reg> {
        if (n as usize) < REG_COUNT {
            Some(Reg(n))
        } else {
            None
        }
    }

    /// General register `rN`; panics at compile time or run time if `n > 15`.
    pub const fn r(n: u8) -> Reg {
        assert!(n < 16, "general registers are r0..r15");
        Reg(n)
    }

    /// The register's encoding (`0..=16`), also its index in a register file.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The register's encoding byte.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// Parses `r0`..`r15` or `sp` (case-insensitive).
    pub fn parse(name: &str) -> Option<Reg> {
        let lower = name.to_ascii_lowercase();
        if lower == "sp" {
            return Some(Reg::SP);
        }
        let digits = lower.strip_prefix('r')?;
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        let n: u8 = digits.parse().ok()?;
        (n < 16).then_some(Reg(n))
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Reg::SP {
            f.write_str("sp")
        } else {
            write!(f, "r{}", self.0)
        }
    }
}

/// Operand size of a sized instruction: its low two opcode bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// 8 bits (`.b`).
    B = 0,
    /// 16 bits (`.w`).
    W = 1,
    /// 32 bits (`.d`).
    D = 2,
    /// 64 bits (`.q`, the default).
    Q = 3,
}

impl Size {
    /// All sizes, smallest first.
    pub const ALL: [Size; 4] = [Size::B, Size::W, Size::D, Size::Q];

    /// The size encoded by the low two bits of `bits`.
    pub const fn from_bits(bits: u8) -> Size {
        match bits & 3 {
            0 => Size::B,
            1 => Size::W,
            2 => Size::D,
            _ => Size::Q,
        }
    }

    /// Width in bytes.
    pub const fn bytes(self) -> u32 {
        1 << self as u32
    }

    /// Width in bits.
    pub const fn bits(self) -> u32 {
        8 << self as u32
    }

    /// Mask of the low `bits()` bits.
    pub const fn mask(self) -> u64 {
        match self {
            Size::B => 0xFF,
            Size::W => 0xFFFF,
            Size::D => 0xFFFF_FFFF,
            Size::Q => u64::MAX,
        }
    }

    /// Mask of the sign bit.
    pub const fn sign_bit(self) -> u64 {
        1 << (self.bits() - 1)
    }

    /// Sign-extends the low `bits()` bits of `v` to 64 bits.
    pub const fn sign_extend(self, v: u64) -> u64 {
        let shift = 64 - self.bits();
        (((v << shift) as i64) >> shift) as u64
    }

    /// Mnemonic suffix letter: `b`, `w`, `d` or `q`.
    pub const fn suffix(self) -> char {
        match self {
            Size::B => 'b',
            Size::W => 'w',
            Size::D => 'd',
            Size::Q => 'q',
        }
    }

    /// Parses a suffix letter.
    pub fn from_suffix(s: &str) -> Option<Size> {
        match s.to_ascii_lowercase().as_str() {
            "b" => Some(Size::B),
            "w" => Some(Size::W),
            "d" => Some(Size::D),
            "q" => Some(Size::Q),
            _ => None,
        }
    }
}

/// Bits of the flags register (as pushed by `pushf`): LBVM's order, ZF CF OF, then SF.
pub mod flag {
    /// Zero flag.
    pub const ZF: u64 = 1 << 0;
    /// Carry flag (unsigned overflow / borrow).
    pub const CF: u64 = 1 << 1;
    /// Overflow flag (signed overflow).
    pub const OF: u64 = 1 << 2;
    /// Sign flag.
    pub const SF: u64 = 1 << 3;
    /// All defined flag bits.
    pub const ALL: u64 = ZF | CF | OF | SF;
}

macro_rules! conditions {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal, $text:literal, [$($alias:literal),*]; )*) => {
        /// A condition on the flags, used by `jcc`, `setcc` and `cmovcc`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Cond {
            $( $(#[doc = $doc])* $name = $code, )*
        }

        impl Cond {
            /// All conditions in encoding order.
            pub const ALL: [Cond; 14] = [$(Cond::$name),*];

            /// The condition with encoding `code`.
            pub const fn from_code(code: u8) -> Option<Cond> {
                match code {
                    $( $code => Some(Cond::$name), )*
                    _ => None,
                }
            }

            /// Canonical name, as in `jz` / `setz`.
            pub const fn name(self) -> &'static str {
                match self { $( Cond::$name => $text, )* }
            }

            /// Parses a canonical name or an alias (`e` for `z`, `c` for `b`, ...).
            pub fn parse(s: &str) -> Option<Cond> {
                let s = s.to_ascii_lowercase();
                match s.as_str() {
                    $( $text $(| $alias)* => Some(Cond::$name), )*
                    _ => None,
                }
            }
        }
    };
}

conditions! {
    /// OF = 1
    O = 0, "o", [];
    /// OF = 0
    No = 1, "no", [];
    /// CF = 1 (unsigned below)
    B = 2, "b", ["c", "nae"];
    /// CF = 0 (unsigned above or equal)
    Ae = 3, "ae", ["nc", "nb"];
    /// ZF = 1
    Z = 4, "z", ["e"];
    /// ZF = 0
    Nz = 5, "nz", ["ne"];
    /// CF = 1 or ZF = 1 (unsigned below or equal)
    Be = 6, "be", ["na"];
    /// CF = 0 and ZF = 0 (unsigned above)
    A = 7, "a", ["nbe"];
    /// SF = 1
    S = 8, "s", [];
    /// SF = 0
    Ns = 9, "ns", [];
    /// SF != OF (signed less)
    L = 10, "l", ["nge"];
    /// SF = OF (signed greater or equal)
    Ge = 11, "ge", ["nl"];
    /// ZF = 1 or SF != OF (signed less or equal)
    Le = 12, "le", ["ng"];
    /// ZF = 0 and SF = OF (signed greater)
    G = 13, "g", ["nle"];
}

impl Cond {
    /// Evaluates the condition on a flags value laid out as in [`flag`].
    #[inline(always)]
    pub const fn holds(self, flags: u64) -> bool {
        let zf = flags & flag::ZF != 0;
        let cf = flags & flag::CF != 0;
        let of = flags & flag::OF != 0;
        let sf = flags & flag::SF != 0;
        match self {
            Cond::O => of,
            Cond::No => !of,
            Cond::B => cf,
            Cond::Ae => !cf,
            Cond::Z => zf,
            Cond::Nz => !zf,
            Cond::Be => cf || zf,
            Cond::A => !cf && !zf,
            Cond::S => sf,
            Cond::Ns => !sf,
            Cond::L => sf != of,
            Cond::Ge => sf == of,
            Cond::Le => zf || sf != of,
            Cond::G => !zf && sf == of,
        }
    }

    /// The opposite condition.
    pub const fn negate(self) -> Cond {
        match Cond::from_code(self as u8 ^ 1) {
            Some(c) => c,
            None => self,
        }
    }
}

/// How an immediate is stored: the encoder picks the shortest, the decoder keeps what it saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImmWidth {
    /// One byte, sign-extended.
    I8,
    /// Four bytes, sign-extended.
    I32,
    /// Eight bytes.
    I64,
}

impl ImmWidth {
    /// The shortest width that holds `v`.
    pub const fn shortest(v: i64) -> ImmWidth {
        if v >= i8::MIN as i64 && v <= i8::MAX as i64 {
            ImmWidth::I8
        } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
            ImmWidth::I32
        } else {
            ImmWidth::I64
        }
    }

    /// Whether `v` fits this width.
    pub const fn holds(self, v: i64) -> bool {
        match self {
            ImmWidth::I8 => v >= i8::MIN as i64 && v <= i8::MAX as i64,
            ImmWidth::I32 => v >= i32::MIN as i64 && v <= i32::MAX as i64,
            ImmWidth::I64 => true,
        }
    }
}

/// Where a memory operand's first address comes from (one of 004's base addressing modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// `[r]`: register-indirect.
    Reg(Reg),
    /// `[r + disp]`: register plus 32-bit displacement.
    Based {
        /// Base register.
        base: Reg,
        /// Signed displacement.
        disp: i32,
    },
    /// `[base + index*scale + disp]`: 004's array mode; the base is optional.
    Indexed {
        /// Base register, if any.
        base: Option<Reg>,
        /// Index register.
        index: Reg,
        /// log2 of the scale (0..=3: scale 1, 2, 4, 8).
        scale_log2: u8,
        /// Signed displacement.
        disp: i32,
    },
    /// `[addr]`: direct (absolute) address.
    Abs(u32),
    /// `k[off]`: offset into the constant pool (004's constant segment).
    Const(u32),
}

/// A memory operand: an address mode plus 004's indirection depth.
///
/// `depth` counts the extra dereferences: 0 is `[x]`, 1 is `[[x]]` (the address is first
/// replaced by the 64-bit value stored there), up to 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    /// The first address.
    pub addr: Addr,
    /// Extra dereferences, `0..=MAX_DEPTH`.
    pub depth: u8,
}

impl Mem {
    /// Largest indirection depth (extra dereferences).
    pub const MAX_DEPTH: u8 = 3;

    /// A memory operand with no extra indirection.
    pub const fn new(addr: Addr) -> Mem {
        Mem { addr, depth: 0 }
    }
}

/// A decoded operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Operand {
    /// No operand in this slot.
    #[default]
    None,
    /// A register.
    Reg(Reg),
    /// An immediate, sign-extended to 64 bits and truncated to the operand size when used.
    Imm {
        /// The value.
        value: i64,
        /// How it is encoded.
        width: ImmWidth,
    },
    /// A memory location.
    Mem(Mem),
    /// A condition code.
    Cond(Cond),
    /// A branch displacement relative to the next instruction.
    Rel(i32),
    /// An 8-bit number (system call).
    U8(u8),
    /// A 16-bit number (host function index).
    U16(u16),
}

impl Operand {
    /// An immediate in its shortest encoding.
    pub const fn imm(value: i64) -> Operand {
        Operand::Imm {
            value,
            width: ImmWidth::shortest(value),
        }
    }

    /// A memory operand with no extra indirection.
    pub const fn mem(addr: Addr) -> Operand {
        Operand::Mem(Mem::new(addr))
    }
}

/// What an instruction's operand slot accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// A writable location: register or memory.
    Dst,
    /// A value: register, immediate or memory.
    Src,
    /// A memory operand only (its address is what matters).
    Mem,
    /// A condition code, folded into the mnemonic (`jz`, `setnz`).
    Cond,
    /// A 32-bit branch displacement.
    Rel,
    /// An 8-bit number.
    U8,
    /// A 16-bit number.
    U16,
}

impl Slot {
    /// Whether `op` is acceptable in this slot.
    pub fn accepts(self, op: &Operand) -> bool {
        matches!(
            (self, op),
            (Slot::Dst, Operand::Reg(_) | Operand::Mem(_))
                | (
                    Slot::Src,
                    Operand::Reg(_) | Operand::Mem(_) | Operand::Imm { .. }
                )
                | (Slot::Mem, Operand::Mem(_))
                | (Slot::Cond, Operand::Cond(_))
                | (Slot::Rel, Operand::Rel(_))
                | (Slot::U8, Operand::U8(_))
                | (Slot::U16, Operand::U16(_))
        )
    }

    /// Short name used in the reference table and in usage messages (`dst`, `src`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Slot::Dst => "dst",
            Slot::Src => "src",
            Slot::Mem => "mem",
            Slot::Cond => "cond",
            Slot::Rel => "target",
            Slot::U8 => "n8",
            Slot::U16 => "n16",
        }
    }

    /// Short description used in error messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Slot::Dst => "a register or memory operand",
            Slot::Src => "a register, immediate or memory operand",
            Slot::Mem => "a memory operand",
            Slot::Cond => "a condition",
            Slot::Rel => "a branch target",
            Slot::U8 => "a number 0..255",
            Slot::U16 => "a number 0..65535",
        }
    }
}
