//! Data movement: `mov`, `movzx`/`movsx`, `lea`, `xchg`, `xlat`, the sign extensions of
//! the accumulator (`cbw`, `cwde`, `cwd`, `cdq`), and far pointers (`lds`, `les`, `lfs`,
//! `lgs`, `lss`); none of these touches EFLAGS. Also the descriptor queries `lar`, `lsl`
//! and `arpl`, which set ZF.

use super::alu::Width;
use super::operand::{
    check_segment_write, check_writable, effective_address, memory_offset, op_width, read_mem,
    read_op, write_op, Result,
};
use super::{Cpu, EAX, EDX};
use iced_x86::{Instruction, Mnemonic};
use vmkit_mem::Memory;

/// `mov`.
pub(super) fn mov(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let v = read_op(cpu, mem, insn, 1)?;
    check_segment_write(cpu, insn, 0, v)?;
    write_op(cpu, mem, insn, 0, v)
}

/// `lds`, `les`, `lfs`, `lgs`, `lss`: a far pointer (offset, then selector) from memory
/// into a general register and a segment register.
pub(super) fn load_far_pointer(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    use iced_x86::Register;
    let w = op_width(insn, 0);
    let at = effective_address(cpu, insn);
    let offset = read_mem(mem, at, w)?;
    let selector = read_mem(mem, at.wrapping_add(w.bits() / 8), Width::W16)? as u16;
    let seg = match insn.mnemonic() {
        Mnemonic::Lds => Register::DS,
        Mnemonic::Les => Register::ES,
        Mnemonic::Lfs => Register::FS,
        Mnemonic::Lgs => Register::GS,
        _ => Register::SS,
    };
    let seg = super::operand::seg_of(seg);
    cpu.check_segment_load(seg, selector)?;
    cpu.load_segment(seg, selector);
    write_op(cpu, mem, insn, 0, offset)
}

/// `lar` and `lsl`: the access rights or the limit of the descriptor a selector names,
/// with ZF set, when user mode may see it; ZF clear and the destination unchanged
/// otherwise.
pub(super) fn load_descriptor_info(
    cpu: &mut Cpu,
    mem: &mut Memory,
    insn: &Instruction,
) -> Result<()> {
    use super::flags::ZF;
    use super::state::{descriptor_access, descriptor_limit};
    let selector = read_op(cpu, mem, insn, 1)? as u16;
    let index = (selector >> 3) as usize;
    // The LDT's descriptors, and in the GDT the flat user code and data segments as a
    // 64-bit Linux kernel has them for 32-bit processes (the TLS entries are not modelled
    // as descriptors: they are not visible here).
    let d = if selector & 4 != 0 {
        cpu.ldt.get(index).copied()
    } else {
        match index {
            4 => Some(0x00cf_fb00_0000_ffff),
            5 => Some(0x00cf_f300_0000_ffff),
            _ => None,
        }
    };
    let visible = d.filter(|&d| {
        let (ty, s, dpl, _) = descriptor_access(d);
        // Conforming code segments are visible at any privilege; others need DPL >= 3.
        s && (dpl == 3 || ty & 0xc == 0xc)
    });
    match visible {
        Some(d) => {
            let v = if insn.mnemonic() == Mnemonic::Lar {
                ((d >> 32) as u32) & 0x00ff_ff00 // with the limit's top bits, as CPUs do
            } else {
                descriptor_limit(d)
            };
            write_op(cpu, mem, insn, 0, v)?;
            cpu.eflags |= ZF;
        }
        None => cpu.eflags &= !ZF,
    }
    Ok(())
}

/// `arpl`: raises the requested privilege level of the destination selector to the
/// source's, setting ZF when it changed.
pub(super) fn arpl(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    use super::flags::ZF;
    let dst = read_op(cpu, mem, insn, 0)?;
    let src = read_op(cpu, mem, insn, 1)?;
    if dst & 3 < src & 3 {
        check_writable(cpu, mem, insn, 0)?;
        write_op(cpu, mem, insn, 0, (dst & !3) | (src & 3))?;
        cpu.eflags |= ZF;
    } else {
        cpu.eflags &= !ZF;
    }
    Ok(())
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
