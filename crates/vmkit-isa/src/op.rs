//! The [`Op`] enum and per-opcode metadata, expanded from [`for_each_op!`](crate::for_each_op).

use crate::operand::{Size, Slot};

/// Whether an instruction has one opcode or one per operand size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// One opcode; no size suffix.
    Plain,
    /// Four opcodes `base+0..=base+3` for byte, word, dword and qword.
    Sized,
}

/// Static description of one instruction.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    /// The instruction.
    pub op: Op,
    /// First (or only) opcode byte.
    pub opcode: u8,
    /// Assembler mnemonic; for `Cond`-first instructions, the prefix before the condition.
    pub mnemonic: &'static str,
    /// Plain or sized.
    pub form: Form,
    /// Operand slots, in order.
    pub slots: &'static [Slot],
    /// One-line pseudo-semantics.
    pub doc: &'static str,
}

impl OpInfo {
    /// Whether the condition is folded into the mnemonic (`jz`, `setnz`, `cmovl`).
    pub fn has_cond(&self) -> bool {
        self.slots.first() == Some(&Slot::Cond)
    }
}

macro_rules! define_ops {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal, $mn:literal, $form:ident, [$($slot:ident),*]; )*) => {
        /// Every vmkit instruction (one variant per table line).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Op {
            $( $(#[doc = $doc])* $name, )*
        }

        /// Metadata for every instruction, indexed by `Op as usize`.
        pub static OPS: &[OpInfo] = &[
            $( OpInfo {
                op: Op::$name,
                opcode: $code,
                mnemonic: $mn,
                form: define_ops!(@form $form),
                slots: &[$(Slot::$slot),*],
                doc: concat!($($doc),*),
            }, )*
        ];
    };
    (@form plain) => { Form::Plain };
    (@form sized) => { Form::Sized };
}

crate::for_each_op!(define_ops);

impl Op {
    /// This instruction's metadata.
    #[inline]
    pub fn info(self) -> &'static OpInfo {
        &OPS[self as usize]
    }

    /// Number of operand slots.
    #[inline]
    pub fn arity(self) -> usize {
        self.info().slots.len()
    }

    /// Whether the instruction has size variants.
    #[inline]
    pub fn is_sized(self) -> bool {
        self.info().form == Form::Sized
    }

    /// The opcode byte of this instruction at `size` (size is ignored for plain ones).
    #[inline]
    pub fn opcode(self, size: Size) -> u8 {
        let info = self.info();
        match info.form {
            Form::Plain => info.opcode,
            Form::Sized => info.opcode + size as u8,
        }
    }

    /// Whether the instruction may transfer control somewhere other than the next instruction
    /// (or stop the machine): it ends a decoded block.
    pub fn ends_block(self) -> bool {
        matches!(
            self,
            Op::Halt
                | Op::Brk
                | Op::Ret
                | Op::Jmp
                | Op::JmpInd
                | Op::Call
                | Op::CallInd
                | Op::Jcc
                | Op::Sys
                | Op::Hcall
        )
    }
}

/// What an opcode byte means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpcodeEntry {
    /// No instruction has this opcode.
    Undefined,
    /// The instruction and its operand size (`Size::Q` for plain instructions).
    Defined(Op, Size),
}

const fn build_opcode_map() -> [OpcodeEntry; 256] {
    let mut map = [OpcodeEntry::Undefined; 256];
    let mut i = 0;
    while i < OPS_LEN {
        let info = &OPS_CONST[i];
        match info.1 {
            Form::Plain => map[info.0 as usize] = OpcodeEntry::Defined(info.2, Size::Q),
            Form::Sized => {
                let mut s = 0;
                while s < 4 {
                    map[info.0 as usize + s] =
                        OpcodeEntry::Defined(info.2, Size::from_bits(s as u8));
                    s += 1;
                }
            }
        }
        i += 1;
    }
    map
}

macro_rules! define_const_table {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal, $mn:literal, $form:ident, [$($slot:ident),*]; )*) => {
        const OPS_CONST: &[(u8, Form, Op)] = &[ $( ($code, define_ops!(@form $form), Op::$name), )* ];
    };
}
crate::for_each_op!(define_const_table);
const OPS_LEN: usize = OPS_CONST.len();

/// Opcode byte to instruction, for the decoder.
pub(crate) static OPCODE_MAP: [OpcodeEntry; 256] = build_opcode_map();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_do_not_overlap_and_map_back() {
        let mut seen = [None::<Op>; 256];
        for info in OPS {
            let n = if info.form == Form::Sized { 4 } else { 1 };
            if info.form == Form::Sized {
                assert_eq!(
                    info.opcode % 4,
                    0,
                    "{:?} sized opcode must be 4-aligned",
                    info.op
                );
            }
            for k in 0..n {
                let code = info.opcode as usize + k;
                assert!(
                    seen[code].is_none(),
                    "opcode {code:#04x} used by {:?} and {:?}",
                    seen[code],
                    info.op
                );
                seen[code] = Some(info.op);
                match OPCODE_MAP[code] {
                    OpcodeEntry::Defined(op, size) => {
                        assert_eq!(op, info.op);
                        assert_eq!(op.opcode(size), code as u8);
                    }
                    OpcodeEntry::Undefined => panic!("{code:#x} missing"),
                }
            }
        }
        assert_eq!(
            OPCODE_MAP[0],
            OpcodeEntry::Undefined,
            "0x00 must stay undefined so zeroed memory faults"
        );
    }

    #[test]
    fn ops_table_is_indexed_by_op() {
        for (i, info) in OPS.iter().enumerate() {
            assert_eq!(info.op as usize, i);
            assert!(!info.doc.trim().is_empty());
        }
    }
}
