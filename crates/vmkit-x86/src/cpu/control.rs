//! Control transfers: `jmp`, `call`, `ret`, far `jmp`/`call`/`retf`/`iret` (to the user
//! code segment or an LDT code segment), `jcc`, `loop*`, `jcxz`/`jecxz`, and the other
//! users of a condition, `setcc` and `cmovcc`. A transfer returns its target;
//! [`super::exec`] turns it into [`super::AfterInsn::Jump`].

use super::alu::Width;
use super::cond::{condition, condition_number, is_cmovcc, is_setcc};
use super::flags::ZF;
use super::operand::{bytes, read_mem, read_op, write_op, ExecError, Result};
use super::stack::{push, stack_width};
use super::state::descriptor_access;
use super::{Cpu, Seg, ECX, ESP};
use iced_x86::{Instruction, Mnemonic, OpKind};
use vmkit_mem::Memory;

/// A taken transfer's target, or `None` to go on with the next instruction.
pub(super) type Target = Option<u32>;

/// Far transfers: `ljmp`/`lcall` to a selector, direct or through memory.
pub(super) fn is_far(insn: &Instruction) -> bool {
    insn.is_jmp_far()
        || insn.is_call_far()
        || insn.is_jmp_far_indirect()
        || insn.is_call_far_indirect()
}

/// The flat user code segment a Linux process runs in (GDT entry 4, privilege 3).
const USER_CS: u16 = 0x23;

/// Checks the code segment a far transfer goes to: the flat user code segment, or a
/// present privilege-3 code segment of the LDT; anything else is a general protection
/// fault (a segment not present, #NP), as user mode may not go there.
fn check_code_segment(cpu: &Cpu, selector: u16) -> Result<()> {
    if selector == USER_CS || selector == cpu.selectors[Seg::Cs as usize] {
        return Ok(());
    }
    if selector & 4 != 0 && selector & 3 == 3 {
        if let Some(&d) = cpu.ldt.get((selector >> 3) as usize) {
            let (ty, s, dpl, present) = descriptor_access(d);
            if s && ty & 8 != 0 && dpl == 3 {
                return if present {
                    Ok(())
                } else {
                    Err(ExecError::SegmentNotPresent(selector as u32 & 0xfffc))
                };
            }
        }
    }
    Err(ExecError::GeneralProtection(selector as u32 & 0xfffc))
}

/// The width of a far transfer's offset: 16 bits under 0x66, else 32.
fn far_width(insn: &Instruction) -> Width {
    use iced_x86::Code as C;
    match insn.code() {
        C::Retfw | C::Retfw_imm16 | C::Iretw | C::Jmp_ptr1616 | C::Call_ptr1616 => Width::W16,
        C::Jmp_m1616 | C::Call_m1616 => Width::W16,
        _ => Width::D32,
    }
}

/// `ljmp`/`lcall`: the target (selector and offset, in the instruction or in memory);
/// `lcall` pushes cs and the return address first.
pub(super) fn far_jump_or_call(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<u32> {
    let w = far_width(insn);
    let (selector, offset) = if insn.is_jmp_far() || insn.is_call_far() {
        (insn.far_branch_selector(), insn.far_branch32())
    } else {
        let at = super::operand::effective_address(cpu, insn);
        let offset = read_mem(mem, at, w)?;
        (
            read_mem(mem, at.wrapping_add(bytes(w)), Width::W16)? as u16,
            offset,
        )
    };
    check_code_segment(cpu, selector)?;
    if insn.is_call_far() || insn.is_call_far_indirect() {
        let sp = cpu.regs[ESP];
        mem.check_write(sp.wrapping_sub(2 * bytes(w)) as u64, 2 * bytes(w))?;
        push(cpu, mem, w, cpu.selectors[Seg::Cs as usize] as u32)?;
        push(cpu, mem, w, insn.next_ip32())?;
    }
    cpu.load_segment(Seg::Cs, selector);
    Ok(offset)
}

/// `retf` (`lret`): pops the return address and cs (and releases an immediate's bytes);
/// `iret` also pops EFLAGS, of which user mode changes only the bits `popf` may.
pub(super) fn far_return(cpu: &mut Cpu, mem: &Memory, insn: &Instruction) -> Result<u32> {
    let w = far_width(insn);
    let n = bytes(w);
    let sp = cpu.regs[ESP];
    let target = read_mem(mem, sp, w)?;
    let selector = read_mem(mem, sp.wrapping_add(n), w)? as u16;
    let iret = matches!(insn.mnemonic(), Mnemonic::Iret | Mnemonic::Iretd);
    let flags = if iret {
        Some(read_mem(mem, sp.wrapping_add(2 * n), w)?)
    } else {
        None
    };
    check_code_segment(cpu, selector)?;
    let extra = if !iret && insn.op_count() > 0 {
        insn.immediate16() as u32
    } else {
        0
    };
    let popped = if iret { 3 * n } else { 2 * n };
    cpu.regs[ESP] = sp.wrapping_add(popped).wrapping_add(extra);
    cpu.load_segment(Seg::Cs, selector);
    if let Some(v) = flags {
        super::stack::set_user_flags(cpu, v, w);
    }
    Ok(target)
}

/// The target of a near `jmp`/`call`: the branch operand, or a register or memory operand.
fn near_target(cpu: &Cpu, mem: &Memory, insn: &Instruction) -> Result<u32> {
    match insn.op_kind(0) {
        OpKind::NearBranch32 | OpKind::NearBranch16 => Ok(insn.near_branch32()),
        _ => read_op(cpu, mem, insn, 0),
    }
}

/// Near `jmp`, direct or indirect.
pub(super) fn jmp(cpu: &Cpu, mem: &Memory, insn: &Instruction) -> Result<u32> {
    near_target(cpu, mem, insn)
}

/// Near `call`: pushes the return address, returns the target.
pub(super) fn call(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<u32> {
    let target = near_target(cpu, mem, insn)?;
    // A 16-bit call (0x66) pushes the 16-bit return address.
    push(cpu, mem, stack_width(insn), insn.next_ip32())?;
    Ok(target)
}

/// Near `ret`, with or without an immediate of bytes to release.
pub(super) fn ret(cpu: &mut Cpu, mem: &Memory, insn: &Instruction) -> Result<u32> {
    let w = stack_width(insn);
    let target = read_mem(mem, cpu.regs[ESP], w)?;
    let extra = if insn.op_count() > 0 {
        insn.immediate16() as u32
    } else {
        0
    };
    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(bytes(w)).wrapping_add(extra);
    Ok(target)
}

/// `jcxz`/`jecxz`: jumps when the count register is zero.
pub(super) fn jcxz(cpu: &Cpu, insn: &Instruction) -> Target {
    (count_register(cpu, insn) == 0).then(|| insn.near_branch32())
}

/// `loop`, `loope`, `loopne`: decrements the count register and jumps while it is not zero
/// (and, for `loope`/`loopne`, while ZF is set/clear).
pub(super) fn loop_count(cpu: &mut Cpu, insn: &Instruction) -> Target {
    let count = decrement_count_register(cpu, insn);
    let again = match insn.mnemonic() {
        Mnemonic::Loope => cpu.flag(ZF),
        Mnemonic::Loopne => !cpu.flag(ZF),
        _ => true,
    };
    (count != 0 && again).then(|| insn.near_branch32())
}

/// Whether `insn` is a `jcc`, `setcc` or `cmovcc`: an instruction with a condition code.
pub(super) fn is_conditional(insn: &Instruction) -> bool {
    condition_number(insn.condition_code()).is_some()
        && (insn.is_jcc_short_or_near() || is_setcc(insn.mnemonic()) || is_cmovcc(insn.mnemonic()))
}

/// `jcc`, `setcc` and `cmovcc` (see [`is_conditional`]): evaluates the condition, then
/// jumps, stores 0/1 or moves.
pub(super) fn conditional(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<Target> {
    let Some(cc) = condition_number(insn.condition_code()) else {
        return Err(ExecError::Unimplemented(insn.mnemonic()));
    };
    let holds = condition(cc, cpu.eflags);
    if insn.is_jcc_short_or_near() {
        return Ok(holds.then(|| insn.near_branch32()));
    }
    if is_setcc(insn.mnemonic()) {
        write_op(cpu, mem, insn, 0, holds as u32)?;
    } else {
        // cmovcc: the source is read (and may fault) even when the move does not happen.
        let v = read_op(cpu, mem, insn, 1)?;
        if holds {
            write_op(cpu, mem, insn, 0, v)?;
        }
    }
    Ok(None)
}

/// True when `loop*`/`jcxz` count in cx (a 0x67 prefix) rather than ecx.
fn counts_in_cx(insn: &Instruction) -> bool {
    use iced_x86::Code as C;
    matches!(
        insn.code(),
        C::Loop_rel8_16_CX
            | C::Loop_rel8_32_CX
            | C::Loope_rel8_16_CX
            | C::Loope_rel8_32_CX
            | C::Loopne_rel8_16_CX
            | C::Loopne_rel8_32_CX
            | C::Jcxz_rel8_16
            | C::Jcxz_rel8_32
    )
}

/// The count of `loop*`/`jecxz`: ecx, or cx under a 0x67 prefix.
fn count_register(cpu: &Cpu, insn: &Instruction) -> u32 {
    if counts_in_cx(insn) {
        cpu.reg16(ECX)
    } else {
        cpu.regs[ECX]
    }
}

/// Decrements the count of `loop*` (ecx, or cx alone under 0x67) and returns it.
fn decrement_count_register(cpu: &mut Cpu, insn: &Instruction) -> u32 {
    if counts_in_cx(insn) {
        let cx = cpu.reg16(ECX).wrapping_sub(1) & 0xffff;
        cpu.set_reg16(ECX, cx);
        cx
    } else {
        cpu.regs[ECX] = cpu.regs[ECX].wrapping_sub(1);
        cpu.regs[ECX]
    }
}
