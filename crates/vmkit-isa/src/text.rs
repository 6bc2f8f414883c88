//! The text form of instructions, shared by the disassembler, tracer and fault reports.
//!
//! The output is valid `vmkit asm` syntax: assembling it gives back the same bytes, including
//! non-shortest encodings, which are spelled with an explicit width (`dword 5`).

use crate::instr::Instr;
use crate::op::Op;
use crate::operand::{Addr, ImmWidth, Mem, Operand, Size};
use crate::syscall;
use core::fmt::{self, Write};

/// Names for addresses and host-function imports, used to print symbolic operands.
pub trait Symbols {
    /// A label defined exactly at `addr`, if any.
    fn name_at(&self, _addr: u64) -> Option<&str> {
        None
    }
    /// A label in the constant pool at `offset` from its start (for `[cp + name]`).
    fn const_name(&self, _offset: u32) -> Option<&str> {
        None
    }
    /// Name of host-function import `index`.
    fn import_name(&self, _index: u16) -> Option<&str> {
        None
    }
}

/// No symbols: every address prints as a number.
pub struct NoSymbols;
impl Symbols for NoSymbols {}

fn write_number(out: &mut String, v: i64) {
    if (-255..=255).contains(&v) {
        let _ = write!(out, "{v}");
    } else if v < 0 {
        let _ = write!(out, "-{:#x}", v.unsigned_abs());
    } else {
        let _ = write!(out, "{v:#x}");
    }
}

fn write_address(out: &mut String, addr: u64, syms: &dyn Symbols) {
    match syms.name_at(addr) {
        Some(name) => out.push_str(name),
        None => {
            let _ = write!(out, "{addr:#x}");
        }
    }
}

/// Displacements from 0x1000 up that equal a label's address are printed as the label
/// (`[r4*8 + table]`); smaller ones are almost always plain offsets into a structure.
const SYMBOLIC_DISP_MIN: i32 = 0x1000;

fn write_disp(out: &mut String, disp: i32, force: bool, syms: &dyn Symbols) {
    if disp == 0 && !force {
        return;
    }
    if disp < 0 {
        out.push_str(" - ");
        write_number(out, (disp as i64).abs());
    } else {
        out.push_str(" + ");
        if force && disp == 0 {
            out.push_str("dword ");
        }
        match syms.name_at(disp as u64) {
            Some(name) if disp >= SYMBOLIC_DISP_MIN => out.push_str(name),
            _ => write_number(out, disp as i64),
        }
    }
}

fn write_mem(out: &mut String, m: &Mem, syms: &dyn Symbols) {
    for _ in 0..=m.depth {
        out.push('[');
    }
    match m.addr {
        Addr::Reg(r) => {
            let _ = write!(out, "{r}");
        }
        Addr::Based { base, disp } => {
            let _ = write!(out, "{base}");
            write_disp(out, disp, true, syms);
        }
        Addr::Indexed {
            base,
            index,
            scale_log2,
            disp,
        } => {
            if let Some(b) = base {
                let _ = write!(out, "{b} + ");
            }
            let _ = write!(out, "{index}*{}", 1u32 << scale_log2);
            write_disp(out, disp, false, syms);
        }
        Addr::Abs(a) => write_address(out, a as u64, syms),
        Addr::Const(off) => {
            out.push_str("cp + ");
            match syms.const_name(off) {
                Some(name) => out.push_str(name),
                None => write_number(out, off as i64),
            }
        }
    }
    for _ in 0..=m.depth {
        out.push(']');
    }
}

/// The mnemonic with condition and size suffix, e.g. `jnz`, `add.b`, `setl.d`.
pub fn mnemonic(instr: &Instr) -> String {
    let info = instr.op.info();
    let mut s = String::from(info.mnemonic);
    if let Operand::Cond(c) = instr.operands[0] {
        s.push_str(c.name());
    }
    if instr.op.is_sized() && instr.size != Size::Q {
        s.push('.');
        s.push(instr.size.suffix());
    }
    s
}

/// Formats `instr`, located at `addr`, in assembler syntax.
pub fn format_instr(instr: &Instr, addr: u64, syms: &dyn Symbols) -> String {
    let mut out = mnemonic(instr);
    let next_ip = addr.wrapping_add(instr.len() as u64);
    let mut first = true;
    for operand in instr.operands() {
        if matches!(operand, Operand::Cond(_)) {
            continue;
        }
        out.push_str(if first { " " } else { ", " });
        first = false;
        match *operand {
            Operand::None | Operand::Cond(_) => {}
            Operand::Reg(r) => {
                let _ = write!(out, "{r}");
            }
            Operand::Imm { value, width } => {
                // `jmp 5` is a relative jump to address 5; an indirect jump through an
                // immediate always spells its width (`jmp byte 5`) to stay distinct.
                let indirect = matches!(instr.op, Op::JmpInd | Op::CallInd);
                if width != ImmWidth::shortest(value) || indirect {
                    out.push_str(match width {
                        ImmWidth::I8 => "byte ",
                        ImmWidth::I32 => "dword ",
                        ImmWidth::I64 => "qword ",
                    });
                }
                match (width, syms.name_at(value as u64)) {
                    (ImmWidth::I32 | ImmWidth::I64, Some(name)) if value > 0 => out.push_str(name),
                    _ => write_number(&mut out, value),
                }
            }
            Operand::Mem(ref m) => write_mem(&mut out, m, syms),
            Operand::Rel(rel) => {
                write_address(&mut out, next_ip.wrapping_add(rel as i64 as u64), syms)
            }
            Operand::U8(n) => match (instr.op, syscall::name(n)) {
                (Op::Sys, Some(name)) => out.push_str(name),
                _ => {
                    let _ = write!(out, "{n}");
                }
            },
            Operand::U16(n) => match syms.import_name(n) {
                Some(name) if instr.op == Op::Hcall => out.push_str(name),
                _ => {
                    let _ = write!(out, "{n}");
                }
            },
        }
    }
    out
}

impl fmt::Display for Instr {
    /// Formats as if located at address 0, without symbols; prefer [`format_instr`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_instr(self, 0, &NoSymbols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operand::Reg;

    #[test]
    fn indirect_jump_through_an_immediate_is_not_a_relative_jump() {
        let ind = Instr::new(Op::JmpInd, Size::Q, &[Operand::imm(5)]);
        assert_eq!(format_instr(&ind, 0, &NoSymbols), "jmp byte 5");
        let call = Instr::new(Op::CallInd, Size::Q, &[Operand::imm(0x2000)]);
        assert_eq!(format_instr(&call, 0, &NoSymbols), "call dword 0x2000");
        let reg = Instr::new(Op::JmpInd, Size::Q, &[Operand::Reg(Reg::r(1))]);
        assert_eq!(format_instr(&reg, 0, &NoSymbols), "jmp r1");
        let rel = Instr::new(Op::Jmp, Size::Q, &[Operand::Rel(0)]);
        assert_eq!(format_instr(&rel, 0, &NoSymbols), "jmp 0x5");
    }
}
