//! # vmkit-isa: the vmkit native instruction set
//!
//! The ISA is data: [`for_each_op!`] lists every instruction once, and this crate expands it
//! into the [`Op`] enum, the opcode map, the encoder ([`Instr::encode`]), the decoder
//! ([`decode`]), the text form ([`format_instr`]) and the reference table in `docs/isa.md`
//! ([`reference_markdown`]). The machine, assembler, disassembler and protector all build on
//! these; none of them repeats an opcode number.
//!
//! ```
//! use vmkit_isa::{decode, Instr, Op, Operand, Reg, Size};
//! let add = Instr::new(Op::Add, Size::B, &[Operand::Reg(Reg::r(1)), Operand::imm(5)]);
//! let bytes = add.encode().unwrap();
//! let (back, len) = decode(&bytes).unwrap();
//! assert_eq!((back, len), (add, bytes.len()));
//! assert_eq!(back.to_string(), "add.b r1, 5");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod instr;
mod op;
mod operand;
pub mod syscall;
mod table;
mod text;

pub use instr::{decode, mode, DecodeError, EncodeError, Instr, MAX_INSTR_LEN};
pub use op::{Form, Op, OpInfo, OPS};
pub use operand::{flag, Addr, Cond, ImmWidth, Mem, Operand, Reg, Size, Slot, REG_COUNT};
pub use text::{format_instr, mnemonic, NoSymbols, Symbols};

/// The instruction reference table in Markdown, as included in `docs/isa.md`.
pub fn reference_markdown() -> String {
    let mut out = String::from("| opcode | mnemonic | operands | semantics |\n|---|---|---|---|\n");
    for info in OPS {
        let opcode = match info.form {
            Form::Plain => format!("`{:#04x}`", info.opcode),
            Form::Sized => format!("`{:#04x}`..`{:#04x}`", info.opcode, info.opcode + 3),
        };
        let mut mnemonic = info.mnemonic.to_string();
        if info.has_cond() {
            mnemonic.push_str("*cc*");
        }
        if info.form == Form::Sized {
            mnemonic.push_str("[.b/.w/.d/.q]");
        }
        let operands: Vec<&str> = info
            .slots
            .iter()
            .filter(|s| **s != Slot::Cond)
            .map(|s| s.name())
            .collect();
        out.push_str(&format!(
            "| {opcode} | `{mnemonic}` | {} | {} |\n",
            operands.join(", "),
            info.doc.trim().replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_byte_is_undefined() {
        assert_eq!(decode(&[0]), Err(DecodeError::UndefinedOpcode(0)));
    }

    #[test]
    fn every_register_parses_and_prints() {
        for n in 0..REG_COUNT as u8 {
            let r = Reg::new(n).unwrap();
            assert_eq!(Reg::parse(&r.to_string()), Some(r));
        }
        assert_eq!(Reg::parse("r16"), None);
        assert_eq!(Reg::parse("r01"), None);
    }

    #[test]
    fn condition_negation_pairs() {
        for c in Cond::ALL {
            assert_eq!(c.negate().negate(), c);
            for flags in 0..16u64 {
                assert_ne!(c.holds(flags), c.negate().holds(flags));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Decoding arbitrary bytes never panics, and whatever decodes re-encodes to the
        /// same bytes.
        #[test]
        fn decode_is_total_and_reencodes(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok((instr, len)) = decode(&bytes) {
                prop_assert!(len <= MAX_INSTR_LEN);
                prop_assert_eq!(instr.len(), len);
                prop_assert_eq!(instr.encode().unwrap(), bytes[..len].to_vec());
            }
        }

        /// Biased towards valid instructions: a defined opcode followed by plausible operands.
        #[test]
        fn defined_opcodes_reencode(op in 1u8..0xAC, rest in proptest::collection::vec(0u8..20, 0..20)) {
            let mut bytes = vec![op];
            bytes.extend(rest);
            if let Ok((instr, len)) = decode(&bytes) {
                prop_assert_eq!(instr.encode().unwrap(), bytes[..len].to_vec());
                let _ = format_instr(&instr, 0x1000, &NoSymbols);
            }
        }
    }
}
