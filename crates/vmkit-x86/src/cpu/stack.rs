//! Stack instructions: `push`/`pop` of registers, memory, immediates and segment
//! registers, `pusha`/`popa`, `pushf`/`popf`, `enter`/`leave`, and the push and pop that
//! `call`/`ret` share, each at the operand size (16 bits under 0x66, else 32).

use super::alu::Width;
use super::flags::{DF, STATUS, TF};
use super::operand::{
    bytes, check_segment_write, op_width, read_mem, read_op, set_reg_width, write_mem, write_op,
    Result,
};
use super::{Cpu, EBP, ESP};
use iced_x86::{Instruction, OpKind};
use vmkit_mem::Memory;

/// `push`: a register, segment register, memory operand or immediate.
pub(super) fn push_operand(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let v = read_op(cpu, mem, insn, 0)?;
    push(cpu, mem, stack_width(insn), v)
}

/// `pop` into a register, segment register or memory operand.
pub(super) fn pop_operand(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let old = cpu.regs[ESP];
    let v = pop(cpu, mem, stack_width(insn))?;
    // `pop [esp+x]` addresses with the incremented esp, as the CPU does.
    if let Err(e) =
        check_segment_write(cpu, insn, 0, v).and_then(|()| write_op(cpu, mem, insn, 0, v))
    {
        cpu.regs[ESP] = old;
        return Err(e);
    }
    Ok(())
}

/// `pushf`/`pushfd`: EFLAGS without VM and RF.
pub(super) fn pushf(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    push(cpu, mem, stack_width(insn), cpu.eflags & !0x30000)
}

/// `popf`/`popfd`: the flags user mode may write.
pub(super) fn popf(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = stack_width(insn);
    let v = pop(cpu, mem, w)?;
    set_user_flags(cpu, v, w);
    Ok(())
}

/// Writes the EFLAGS bits user mode may change (the status flags, DF, TF, NT, AC and ID;
/// IF and IOPL stay) from `v`, at width `w`: what `popf` and `iret` do at privilege 3.
pub(super) fn set_user_flags(cpu: &mut Cpu, v: u32, w: Width) {
    const WRITABLE: u32 = STATUS | DF | TF | (1 << 14) | (1 << 18) | (1 << 21);
    let writable = WRITABLE & w.mask();
    cpu.eflags = (cpu.eflags & !writable) | (v & writable) | 0x2;
}

/// `pusha`/`pushad`: all eight general registers, esp as it was before.
pub(super) fn pusha(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = stack_width(insn);
    let n = bytes(w);
    let esp = cpu.regs[ESP];
    let new_sp = esp.wrapping_sub(8 * n);
    mem.check_write(new_sp as u64, 8 * n)?;
    // eax ecx edx ebx, esp as it was before, ebp esi edi.
    for r in 0..8 {
        let v = if r == ESP { esp } else { cpu.regs[r] };
        write_mem(mem, esp.wrapping_sub(n * (r as u32 + 1)), w, v)?;
    }
    cpu.regs[ESP] = new_sp;
    Ok(())
}

/// `popa`/`popad`: the general registers but esp, whose slot is skipped.
pub(super) fn popa(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = stack_width(insn);
    let n = bytes(w);
    let sp = cpu.regs[ESP];
    let mut vals = [0u32; 8];
    for (k, v) in vals.iter_mut().enumerate() {
        *v = read_mem(mem, sp.wrapping_add(n * k as u32), w)?;
    }
    // Popped in the order edi, esi, ebp, (esp skipped), ebx, edx, ecx, eax.
    for (k, r) in [7usize, 6, 5, 4, 3, 2, 1, 0].into_iter().enumerate() {
        if r != ESP {
            set_reg_width(cpu, r, w, vals[k]);
        }
    }
    cpu.regs[ESP] = sp.wrapping_add(8 * n);
    Ok(())
}

/// `enter size, level`: pushes ebp, copies `level - 1` outer frame pointers, allocates
/// `size` bytes.
pub(super) fn enter(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    // A 16-bit enter (0x66) pushes and copies words and sets only bp.
    let w = stack_width(insn);
    let size = insn.immediate16() as u32;
    let level = (insn.immediate8_2nd() & 31) as u32;
    let ebp = cpu.regs[EBP];
    push(cpu, mem, w, ebp)?;
    let frame = cpu.regs[ESP];
    for k in 1..level {
        let v = read_mem(mem, ebp.wrapping_sub(bytes(w) * k), w)?;
        push(cpu, mem, w, v)?;
    }
    if level > 0 {
        push(cpu, mem, w, frame)?;
    }
    set_reg_width(cpu, EBP, w, frame);
    cpu.regs[ESP] = cpu.regs[ESP].wrapping_sub(size);
    Ok(())
}

/// `leave`: esp = ebp, then pops ebp.
pub(super) fn leave(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    let w = stack_width(insn);
    let ebp = cpu.regs[EBP];
    let v = read_mem(mem, ebp, w)?;
    cpu.regs[ESP] = ebp.wrapping_add(bytes(w));
    set_reg_width(cpu, EBP, w, v);
    Ok(())
}

/// Pushes the low `w` bits of `v` (`w` is 16 or 32 bits: the operand size).
pub(super) fn push(cpu: &mut Cpu, mem: &mut Memory, w: Width, v: u32) -> Result<()> {
    let sp = cpu.regs[ESP].wrapping_sub(bytes(w));
    write_mem(mem, sp, w, v)?;
    cpu.regs[ESP] = sp;
    Ok(())
}

/// Pops a `w`-bit value (16 or 32 bits).
pub(super) fn pop(cpu: &mut Cpu, mem: &Memory, w: Width) -> Result<u32> {
    let v = read_mem(mem, cpu.regs[ESP], w)?;
    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(bytes(w));
    Ok(v)
}

/// The operand size of a stack operation: 16 bits under a 0x66 prefix (`push ax`,
/// `push word [m]`, `push imm16`, `pushw ds`, `popa`, `enterw`...), else 32.
pub(super) fn stack_width(insn: &Instruction) -> Width {
    use iced_x86::Code as C;
    let w16 = match insn.code() {
        C::Pushw_ES
        | C::Pushw_CS
        | C::Pushw_SS
        | C::Pushw_DS
        | C::Pushw_FS
        | C::Pushw_GS
        | C::Popw_ES
        | C::Popw_SS
        | C::Popw_DS
        | C::Popw_FS
        | C::Popw_GS
        | C::Pushaw
        | C::Popaw
        | C::Pushfw
        | C::Popfw
        | C::Enterw_imm16_imm8
        | C::Leavew
        | C::Retnw
        | C::Retnw_imm16
        | C::Call_rel16 => true,
        // push/pop/call with a 16-bit register, memory operand or (push) immediate.
        C::Push_imm16 | C::Pushw_imm8 => true,
        _ => {
            insn.op_count() > 0
                && matches!(insn.op_kind(0), OpKind::Register | OpKind::Memory)
                && op_width(insn, 0) == Width::W16
        }
    };
    if w16 {
        Width::W16
    } else {
        Width::D32
    }
}
