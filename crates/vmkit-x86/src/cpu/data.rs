//! Data movement: `mov`, `movzx`/`movsx`, `lea`, `xchg`, `xlat`, and the sign extensions of
//! the accumulator (`cbw`, `cwde`, `cwd`, `cdq`). None of these touches EFLAGS.

use super::alu::Width;
use super::operand::{
    check_writable, effective_address, memory_offset, op_width, read_mem, read_op, write_op, Result,
};
use super::{Cpu, EAX, EDX};
use iced_x86::{Instruction, Mnemonic};
use vmkit_mem::Memory;

/// `mov`.
pub(super) fn mov(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let v = read_op(cpu, mem, insn, 1)?;
    write_op(cpu, mem, insn, 0, v)
}

/// `movzx` and `movsx`: a narrower source zero- or sign-extended.
pub(super) fn mov_extend(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = op_width(insn, 1);
    let v = read_op(cpu, mem, insn, 1)?;
    let v = if insn.mnemonic() == Mnemonic::Movsx {
        match w {
            Width::B8 => v as u8 as i8 as i32 as u32,
            Width::W16 => v as u16 as i16 as i32 as u32,
            Width::D32 => v,
        }
    } else {
        v
    };
    write_op(cpu, mem, insn, 0, v)
}

/// `lea`: the offset of the memory operand, without a segment base.
pub(super) fn lea(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let a = memory_offset(cpu, insn);
    write_op(cpu, mem, insn, 0, a)
}

/// `xchg`: both operands are checked before either is written.
pub(super) fn xchg(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let a = read_op(cpu, mem, insn, 0)?;
    let b = read_op(cpu, mem, insn, 1)?;
    check_writable(cpu, mem, insn, 0)?;
    check_writable(cpu, mem, insn, 1)?;
    write_op(cpu, mem, insn, 0, b)?;
    write_op(cpu, mem, insn, 1, a)
}

/// `xlat`: al = [ebx + al] (bx + al under 0x67); iced gives the operand as [ebx+al].
pub(super) fn xlat(cpu: &mut Cpu, mem: &Memory, insn: &Instruction) -> Result<()> {
    let v = read_mem(mem, effective_address(cpu, insn), Width::B8)?;
    cpu.set_reg8(0, v);
    Ok(())
}

/// `cbw`, `cwde`, `cwd`, `cdq`: sign-extends the accumulator into itself or into dx/edx.
pub(super) fn sign_extend_accumulator(cpu: &mut Cpu, m: Mnemonic) {
    match m {
        Mnemonic::Cdq => {
            cpu.regs[EDX] = if (cpu.regs[EAX] as i32) < 0 {
                u32::MAX
            } else {
                0
            }
        }
        Mnemonic::Cwd => cpu.set_reg16(
            EDX,
            if (cpu.regs[EAX] as i16) < 0 {
                0xFFFF
            } else {
                0
            },
        ),
        Mnemonic::Cwde => cpu.regs[EAX] = cpu.regs[EAX] as u16 as i16 as i32 as u32,
        _ => cpu.set_reg16(EAX, cpu.regs[EAX] as u8 as i8 as i16 as u16 as u32),
    }
}
