//! A decoded instruction and its binary encoding.
//!
//! Layout: one opcode byte, then each operand slot in order:
//! - `Cond`: one byte, the condition code;
//! - `Rel`: four bytes, little-endian signed displacement from the next instruction;
//! - `U8` / `U16`: one / two bytes;
//! - `Dst`, `Src`, `Mem`: a mode byte, then the mode's payload (see [`mode`]).
//!
//! Every byte sequence either decodes to exactly one instruction, and re-encodes to the same
//! bytes, or is rejected with a [`DecodeError`].

use crate::op::{Op, OpcodeEntry, OPCODE_MAP};
use crate::operand::{Addr, Cond, ImmWidth, Mem, Operand, Reg, Size, Slot};
use core::fmt;

/// Longest possible encoding in bytes (`cmp` with two 8-byte immediates... plus slack).
pub const MAX_INSTR_LEN: usize = 20;

/// Operand mode bytes: the low nibble selects the mode, bits 4-5 the indirection depth
/// (memory modes only), bits 6-7 must be zero.
pub mod mode {
    /// `rN`: payload is one register byte.
    pub const REG: u8 = 0;
    /// Immediate, payload i8.
    pub const IMM8: u8 = 1;
    /// Immediate, payload i32 LE.
    pub const IMM32: u8 = 2;
    /// Immediate, payload u64 LE.
    pub const IMM64: u8 = 3;
    /// `[rN]`: payload one register byte.
    pub const IND: u8 = 4;
    /// `[rN + disp]`: register byte, i32 LE.
    pub const BASED: u8 = 5;
    /// `[base + index*scale + disp]`: base byte (0xFF = none), index byte (bits 0-4
    /// register, bits 5-6 log2 scale, bit 7 zero), i32 LE.
    pub const INDEXED: u8 = 6;
    /// `[addr]`: u32 LE absolute address.
    pub const ABS: u8 = 7;
    /// `[cp + off]`: u32 LE offset into the constant pool.
    pub const CONST: u8 = 8;
    /// Base byte value meaning "no base register" in `INDEXED`.
    pub const NO_BASE: u8 = 0xFF;
}

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// The operation.
    pub op: Op,
    /// Operand size (`Size::Q` for plain instructions).
    pub size: Size,
    /// Operands; slots past the instruction's arity are `Operand::None`.
    pub operands: [Operand; 3],
}

/// Why bytes do not decode to an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end before the instruction does.
    Truncated {
        /// Bytes the instruction needs (at least).
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
    /// No instruction has this opcode.
    UndefinedOpcode(u8),
    /// Undefined operand mode byte.
    BadMode {
        /// Operand slot (0-based).
        slot: usize,
        /// The mode byte.
        byte: u8,
    },
    /// The mode is defined but not allowed in this slot (an immediate as destination, say).
    ModeNotAllowed {
        /// Operand slot (0-based).
        slot: usize,
        /// What the slot needs.
        expected: &'static str,
    },
    /// Undefined register number.
    BadRegister {
        /// Operand slot (0-based).
        slot: usize,
        /// The register byte.
        byte: u8,
    },
    /// Undefined condition code.
    BadCondition(u8),
    /// The index byte of an indexed operand has its reserved bit set.
    BadIndexByte {
        /// Operand slot (0-based).
        slot: usize,
        /// The index byte.
        byte: u8,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, available } => write!(
                f,
                "truncated instruction: needs {needed} bytes, only {available} available"
            ),
            DecodeError::UndefinedOpcode(b) => write!(f, "undefined opcode {b:#04x}"),
            DecodeError::BadMode { slot, byte } => {
                write!(f, "undefined mode byte {byte:#04x} in operand {}", slot + 1)
            }
            DecodeError::ModeNotAllowed { slot, expected } => {
                write!(f, "operand {} must be {expected}", slot + 1)
            }
            DecodeError::BadRegister { slot, byte } => {
                write!(f, "undefined register {byte:#04x} in operand {}", slot + 1)
            }
            DecodeError::BadCondition(c) => write!(f, "undefined condition code {c:#04x}"),
            DecodeError::BadIndexByte { slot, byte } => write!(
                f,
                "reserved bit set in index byte {byte:#04x} of operand {}",
                slot + 1
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.bytes.get(self.pos..self.pos + N) {
            Some(s) => {
                self.pos += N;
                let mut out = [0; N];
                out.copy_from_slice(s);
                Ok(out)
            }
            None => Err(DecodeError::Truncated {
                needed: self.pos + N,
                available: self.bytes.len(),
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn reg(&mut self, slot: usize) -> Result<Reg, DecodeError> {
        let byte = self.u8()?;
        Reg::new(byte).ok_or(DecodeError::BadRegister { slot, byte })
    }
}

fn decode_operand(r: &mut Reader<'_>, slot: usize, kind: Slot) -> Result<Operand, DecodeError> {
    match kind {
        Slot::Cond => {
            let c = r.u8()?;
            return Cond::from_code(c)
                .map(Operand::Cond)
                .ok_or(DecodeError::BadCondition(c));
        }
        Slot::Rel => return Ok(Operand::Rel(r.i32()?)),
        Slot::U8 => return Ok(Operand::U8(r.u8()?)),
        Slot::U16 => return Ok(Operand::U16(u16::from_le_bytes(r.take()?))),
        Slot::Dst | Slot::Src | Slot::Mem => {}
    }
    let byte = r.u8()?;
    let kind_bits = byte & 0x0F;
    let depth = (byte >> 4) & 3;
    if byte & 0xC0 != 0 {
        return Err(DecodeError::BadMode { slot, byte });
    }
    let op = match kind_bits {
        mode::REG | mode::IMM8 | mode::IMM32 | mode::IMM64 if depth != 0 => {
            return Err(DecodeError::BadMode { slot, byte })
        }
        mode::REG => Operand::Reg(r.reg(slot)?),
        mode::IMM8 => Operand::Imm {
            value: r.u8()? as i8 as i64,
            width: ImmWidth::I8,
        },
        mode::IMM32 => Operand::Imm {
            value: r.i32()? as i64,
            width: ImmWidth::I32,
        },
        mode::IMM64 => Operand::Imm {
            value: i64::from_le_bytes(r.take()?),
            width: ImmWidth::I64,
        },
        mode::IND => Operand::Mem(Mem {
            addr: Addr::Reg(r.reg(slot)?),
            depth,
        }),
        mode::BASED => {
            let base = r.reg(slot)?;
            let disp = r.i32()?;
            Operand::Mem(Mem {
                addr: Addr::Based { base, disp },
                depth,
            })
        }
        mode::INDEXED => {
            let base_byte = r.u8()?;
            let base = if base_byte == mode::NO_BASE {
                None
            } else {
                Some(Reg::new(base_byte).ok_or(DecodeError::BadRegister {
                    slot,
                    byte: base_byte,
                })?)
            };
            let index_byte = r.u8()?;
            if index_byte & 0x80 != 0 {
                return Err(DecodeError::BadIndexByte {
                    slot,
                    byte: index_byte,
                });
            }
            let index = Reg::new(index_byte & 0x1F).ok_or(DecodeError::BadRegister {
                slot,
                byte: index_byte & 0x1F,
            })?;
            let disp = r.i32()?;
            Operand::Mem(Mem {
                addr: Addr::Indexed {
                    base,
                    index,
                    scale_log2: (index_byte >> 5) & 3,
                    disp,
                },
                depth,
            })
        }
        mode::ABS => Operand::Mem(Mem {
            addr: Addr::Abs(r.u32()?),
            depth,
        }),
        mode::CONST => Operand::Mem(Mem {
            addr: Addr::Const(r.u32()?),
            depth,
        }),
        _ => return Err(DecodeError::BadMode { slot, byte }),
    };
    if !kind.accepts(&op) {
        return Err(DecodeError::ModeNotAllowed {
            slot,
            expected: kind.describe(),
        });
    }
    Ok(op)
}

/// Decodes one instruction from the start of `bytes`; returns it and its length.
pub fn decode(bytes: &[u8]) -> Result<(Instr, usize), DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let opcode = r.u8()?;
    let (op, size) = match OPCODE_MAP[opcode as usize] {
        OpcodeEntry::Defined(op, size) => (op, size),
        OpcodeEntry::Undefined => return Err(DecodeError::UndefinedOpcode(opcode)),
    };
    let mut operands = [Operand::None; 3];
    for (i, &slot) in op.info().slots.iter().enumerate() {
        operands[i] = decode_operand(&mut r, i, slot)?;
    }
    Ok((Instr { op, size, operands }, r.pos))
}

/// Why an [`Instr`] cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Operand `slot` does not fit what the instruction accepts there.
    WrongOperand {
        /// The instruction.
        op: Op,
        /// Operand slot (0-based).
        slot: usize,
        /// What the slot accepts.
        expected: &'static str,
    },
    /// An immediate does not fit the width it asks for.
    ImmediateTooWide {
        /// The value.
        value: i64,
        /// The requested width.
        width: ImmWidth,
    },
    /// Indirection depth above [`Mem::MAX_DEPTH`] or scale above 8.
    OutOfRange(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::WrongOperand { op, slot, expected } => write!(
                f,
                "operand {} of `{}` must be {expected}",
                slot + 1,
                op.info().mnemonic
            ),
            EncodeError::ImmediateTooWide { value, width } => {
                write!(f, "immediate {value} does not fit {width:?}")
            }
            EncodeError::OutOfRange(what) => write!(f, "{what} out of range"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl Instr {
    /// An instruction with up to three operands; unused ones are `Operand::None`.
    pub fn new(op: Op, size: Size, ops: &[Operand]) -> Instr {
        let mut operands = [Operand::None; 3];
        operands[..ops.len()].copy_from_slice(ops);
        let size = if op.is_sized() { size } else { Size::Q };
        Instr { op, size, operands }
    }

    /// The operands that the instruction uses.
    pub fn operands(&self) -> &[Operand] {
        &self.operands[..self.op.arity()]
    }

    /// Checks operands against the instruction's slots.
    pub fn validate(&self) -> Result<(), EncodeError> {
        for (i, slot) in self.op.info().slots.iter().enumerate() {
            let operand = &self.operands[i];
            if !slot.accepts(operand) {
                return Err(EncodeError::WrongOperand {
                    op: self.op,
                    slot: i,
                    expected: slot.describe(),
                });
            }
            match operand {
                Operand::Imm { value, width } if !width.holds(*value) => {
                    return Err(EncodeError::ImmediateTooWide {
                        value: *value,
                        width: *width,
                    })
                }
                Operand::Mem(m) => {
                    if m.depth > Mem::MAX_DEPTH {
                        return Err(EncodeError::OutOfRange("indirection depth"));
                    }
                    if let Addr::Indexed { scale_log2, .. } = m.addr {
                        if scale_log2 > 3 {
                            return Err(EncodeError::OutOfRange("scale"));
                        }
                    }
                }
                _ => {}
            }
        }
        for operand in &self.operands[self.op.arity()..] {
            if *operand != Operand::None {
                return Err(EncodeError::OutOfRange("operand count"));
            }
        }
        Ok(())
    }

    /// Appends the encoding to `out` and returns its length.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        self.validate()?;
        let start = out.len();
        out.push(self.op.opcode(self.size));
        for operand in self.operands() {
            encode_operand(operand, out);
        }
        Ok(out.len() - start)
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(MAX_INSTR_LEN);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Length of the encoding in bytes.
    pub fn len(&self) -> usize {
        1 + self.operands().iter().map(operand_len).sum::<usize>()
    }

    /// Always false: an instruction has at least its opcode byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn operand_len(op: &Operand) -> usize {
    match op {
        Operand::None => 0,
        Operand::Cond(_) | Operand::U8(_) => 1,
        Operand::U16(_) => 2,
        Operand::Rel(_) => 4,
        Operand::Reg(_) => 2,
        Operand::Imm { width, .. } => match width {
            ImmWidth::I8 => 2,
            ImmWidth::I32 => 5,
            ImmWidth::I64 => 9,
        },
        Operand::Mem(m) => match m.addr {
            Addr::Reg(_) => 2,
            Addr::Based { .. } => 6,
            Addr::Indexed { .. } => 7,
            Addr::Abs(_) | Addr::Const(_) => 5,
        },
    }
}

fn encode_operand(op: &Operand, out: &mut Vec<u8>) {
    match *op {
        Operand::None => {}
        Operand::Cond(c) => out.push(c as u8),
        Operand::U8(n) => out.push(n),
        Operand::U16(n) => out.extend_from_slice(&n.to_le_bytes()),
        Operand::Rel(d) => out.extend_from_slice(&d.to_le_bytes()),
        Operand::Reg(r) => out.extend_from_slice(&[mode::REG, r.code()]),
        Operand::Imm { value, width } => match width {
            ImmWidth::I8 => out.extend_from_slice(&[mode::IMM8, value as i8 as u8]),
            ImmWidth::I32 => {
                out.push(mode::IMM32);
                out.extend_from_slice(&(value as i32).to_le_bytes());
            }
            ImmWidth::I64 => {
                out.push(mode::IMM64);
                out.extend_from_slice(&value.to_le_bytes());
            }
        },
        Operand::Mem(Mem { addr, depth }) => {
            let d = depth << 4;
            match addr {
                Addr::Reg(r) => out.extend_from_slice(&[mode::IND | d, r.code()]),
                Addr::Based { base, disp } => {
                    out.extend_from_slice(&[mode::BASED | d, base.code()]);
                    out.extend_from_slice(&disp.to_le_bytes());
                }
                Addr::Indexed {
                    base,
                    index,
                    scale_log2,
                    disp,
                } => {
                    out.push(mode::INDEXED | d);
                    out.push(base.map_or(mode::NO_BASE, Reg::code));
                    out.push(index.code() | (scale_log2 << 5));
                    out.extend_from_slice(&disp.to_le_bytes());
                }
                Addr::Abs(a) => {
                    out.push(mode::ABS | d);
                    out.extend_from_slice(&a.to_le_bytes());
                }
                Addr::Const(o) => {
                    out.push(mode::CONST | d);
                    out.extend_from_slice(&o.to_le_bytes());
                }
            }
        }
    }
}
