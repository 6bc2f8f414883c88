//! x87 control instructions: `finit`, `fclex`, the control and status words (`fldcw`,
//! `fstcw`, `fstsw`), and the environment and state images (`fstenv`/`fldenv`,
//! `fsave`/`frstor`). Except `fldcw`, `fldenv` and `frstor`, they do not first deliver a
//! pending exception, and none of them updates the last-instruction pointers.

use super::super::f80::F80;
use super::super::state::{sw, Fpu};
use super::operand::write_bytes;
use crate::cpu::operand::Result;
use crate::cpu::{Cpu, EAX};
use iced_x86::{Instruction, MemorySize, OpKind};
use vmkit_mem::Memory;

/// `fnclex`/`fclex`: clears the exception flags, ES and B.
pub(in crate::cpu::x87) fn clear_exceptions(fpu: &mut Fpu) {
    fpu.sw &= !(0x7F | sw::ES | sw::B);
}

/// `fnstcw`/`fstcw`: stores the control word.
pub(in crate::cpu::x87) fn store_control_word(
    fpu: &Fpu,
    mem: &mut Memory,
    addr: u32,
) -> Result<()> {
    Ok(mem.write(addr as u64, 2, fpu.cw as u64)?)
}

/// `fldcw`: loads the control word; ES and B follow the exceptions it unmasks.
pub(in crate::cpu::x87) fn load_control_word(fpu: &mut Fpu, mem: &Memory, addr: u32) -> Result<()> {
    fpu.cw = (mem.read(addr as u64, 2)? as u16 & 0x1F7F) | 0x40;
    if fpu.unmasked(fpu.sw) {
        fpu.sw |= sw::ES | sw::B;
    } else {
        fpu.sw &= !(sw::ES | sw::B);
    }
    Ok(())
}

/// `fnstsw`/`fstsw`: stores the status word to ax or memory.
pub(in crate::cpu::x87) fn store_status_word(
    cpu: &mut Cpu,
    mem: &mut Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let fpu = &mut cpu.fpu;
    if insn.op_kind(0) == OpKind::Register {
        let ax = fpu.status() as u32;
        cpu.regs[EAX] = (cpu.regs[EAX] & !0xFFFF) | ax;
    } else {
        mem.write(addr as u64, 2, fpu.status() as u64)?;
    }
    Ok(())
}

/// `fnstenv`/`fstenv`: stores the 14- or 28-byte environment, then masks all exceptions.
pub(in crate::cpu::x87) fn store_environment(
    fpu: &mut Fpu,
    mem: &mut Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let fop = opcode_at(mem, fpu.fip);
    if insn.memory_size() == MemorySize::FpuEnv14 {
        write_bytes(mem, addr, &fpu.env16())?;
    } else {
        write_bytes(mem, addr, &fpu.env32(fop))?;
    }
    fpu.cw |= 0x3F;
    fpu.sw &= !(sw::ES | sw::B);
    Ok(())
}

/// `fldenv`: loads the 14- or 28-byte environment.
pub(in crate::cpu::x87) fn load_environment(
    fpu: &mut Fpu,
    mem: &Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let len = if insn.memory_size() == MemorySize::FpuEnv14 {
        14
    } else {
        28
    };
    let image = mem.read_bytes(addr as u64, len)?.to_vec();
    fpu.load_env(&image);
    Ok(())
}

/// `fnsave`/`fsave`: stores the environment and the eight registers, then reinitialises.
pub(in crate::cpu::x87) fn save(
    fpu: &mut Fpu,
    mem: &mut Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let fop = opcode_at(mem, fpu.fip);
    let mut image = if insn.memory_size() == MemorySize::FpuState94 {
        fpu.env16().to_vec()
    } else {
        fpu.env32(fop).to_vec()
    };
    for i in 0..8 {
        image.extend_from_slice(&fpu.st(i).to_bytes());
    }
    write_bytes(mem, addr, &image)?;
    fpu.init();
    Ok(())
}

/// `frstor`: loads the environment and the eight registers.
pub(in crate::cpu::x87) fn restore(
    fpu: &mut Fpu,
    mem: &Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    let env_len = if insn.memory_size() == MemorySize::FpuState94 {
        14
    } else {
        28
    };
    let image = mem.read_bytes(addr as u64, env_len + 80)?.to_vec();
    fpu.load_env(&image[..env_len as usize]);
    for i in 0..8 {
        let at = env_len as usize + 10 * i;
        let mut b = [0u8; 10];
        b.copy_from_slice(&image[at..at + 10]);
        let p = fpu.phys(i);
        fpu.regs[p] = F80::from_bytes(b);
    }
    Ok(())
}

/// FOP of the instruction at `addr`: low 3 bits of its D8-DF opcode byte, then ModRM.
fn opcode_at(mem: &Memory, addr: u32) -> u16 {
    let Ok(bytes) = mem.peek(addr as u64, 15) else {
        return 0;
    };
    let at = bytes
        .iter()
        .position(|b| {
            !matches!(
                b,
                0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3 | 0x9B
            )
        })
        .unwrap_or(0);
    match bytes.get(at..at + 2) {
        Some([op, modrm]) if op & 0xF8 == 0xD8 => ((*op as u16 & 7) << 8) | *modrm as u16,
        _ => 0,
    }
}
