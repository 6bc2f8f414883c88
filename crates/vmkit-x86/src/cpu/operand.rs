//! Operands: registers by iced-x86 name, effective addresses (with 16-bit addressing and
//! fs/gs bases), reads and writes of register, memory and immediate operands at their
//! width, and [`ExecError`], why an instruction could not complete. Every instruction
//! family reads and writes its operands through here.

use super::alu::Width;
use super::{Cpu, Seg};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};
use vmkit_mem::{MemError, Memory};

/// Why an instruction could not complete: the instruction made no architectural change
/// (see [`super::exec`]) and eip still points at it.
///
/// Produced by the instruction families (and the fast engine's own memory accesses);
/// consumed by the machine, which turns it into a guest fault (SIGSEGV, SIGFPE, SIGILL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ExecError {
    /// A memory access failed (SIGSEGV).
    Memory(MemError),
    /// `div`/`idiv` by zero or with an overflowing quotient (SIGFPE).
    Divide,
    /// An instruction this emulator does not implement (SIGILL).
    Unimplemented(Mnemonic),
    /// A waiting x87 instruction found an unmasked exception pending (SIGFPE); the x87
    /// status word at the time.
    X87(u16),
    /// A general protection fault (SIGSEGV): a bad segment selector loaded, a far
    /// transfer to a code segment user mode may not run, `int N` through a gate user mode
    /// may not use; the exception's error code.
    GeneralProtection(u32),
    /// A segment selector names a descriptor that is not present (#NP, SIGBUS); the error
    /// code.
    SegmentNotPresent(u32),
    /// `bound` found the index outside its bounds (#BR, SIGSEGV).
    BoundRange,
    /// `into` with OF set, or `int 4` (#OF, SIGSEGV): a trap, so execution would go on at
    /// `next`, the following instruction.
    Overflow {
        /// The address of the following instruction.
        next: u32,
    },
}

impl ExecError {
    /// Where eip points when the exception is taken: after the instruction for a trap
    /// (`into`), at it for a fault (everything else).
    pub(crate) fn resume_at(&self, insn_ip: u32) -> u32 {
        match self {
            ExecError::Overflow { next } => *next,
            _ => insn_ip,
        }
    }
}

impl From<MemError> for ExecError {
    fn from(e: MemError) -> Self {
        ExecError::Memory(e)
    }
}

pub(crate) type Result<T> = std::result::Result<T, ExecError>;

pub(super) fn width_of_size(bytes: usize) -> Width {
    match bytes {
        1 => Width::B8,
        2 => Width::W16,
        _ => Width::D32,
    }
}

pub(super) fn bytes(w: Width) -> u32 {
    match w {
        Width::B8 => 1,
        Width::W16 => 2,
        Width::D32 => 4,
    }
}

/// A 32-bit general register's index, or `None` for non-GPRs.
pub(super) fn gpr(reg: Register) -> Option<(usize, Width)> {
    if reg.is_gpr32() {
        Some((reg.number(), Width::D32))
    } else if reg.is_gpr16() {
        Some((reg.number(), Width::W16))
    } else if reg.is_gpr8() {
        Some((reg.number(), Width::B8))
    } else {
        None
    }
}

pub(super) fn read_reg(cpu: &Cpu, reg: Register) -> u32 {
    match gpr(reg) {
        Some((n, Width::D32)) => cpu.regs[n],
        Some((n, Width::W16)) => cpu.reg16(n),
        Some((n, Width::B8)) => cpu.reg8(n),
        None => match reg {
            Register::ES => cpu.selectors[Seg::Es as usize] as u32,
            Register::CS => cpu.selectors[Seg::Cs as usize] as u32,
            Register::SS => cpu.selectors[Seg::Ss as usize] as u32,
            Register::DS => cpu.selectors[Seg::Ds as usize] as u32,
            Register::FS => cpu.selectors[Seg::Fs as usize] as u32,
            Register::GS => cpu.selectors[Seg::Gs as usize] as u32,
            _ => 0,
        },
    }
}

pub(super) fn write_reg(cpu: &mut Cpu, reg: Register, v: u32) {
    match gpr(reg) {
        Some((n, Width::D32)) => cpu.regs[n] = v,
        Some((n, Width::W16)) => cpu.set_reg16(n, v),
        Some((n, Width::B8)) => cpu.set_reg8(n, v),
        None => {
            let seg = match reg {
                Register::ES => Seg::Es,
                Register::SS => Seg::Ss,
                Register::DS => Seg::Ds,
                Register::FS => Seg::Fs,
                Register::GS => Seg::Gs,
                _ => return,
            };
            // Checked by `check_segment_write` before any write of the instruction.
            cpu.load_segment(seg, v as u16);
        }
    }
}

/// The offset of the instruction's memory operand in its segment: base + index * scale +
/// displacement, wrapped to 16 bits under 16-bit addressing (a 0x67 prefix: `[bx+si]`,
/// `[bp+disp]`, a 16-bit `[disp16]` or moffs16).
pub(super) fn memory_offset(cpu: &Cpu, insn: &Instruction) -> u32 {
    let mut a = insn.memory_displacement32();
    let base = insn.memory_base();
    if base != Register::None {
        a = a.wrapping_add(read_reg(cpu, base));
    }
    let index = insn.memory_index();
    if index != Register::None {
        a = a.wrapping_add(read_reg(cpu, index).wrapping_mul(insn.memory_index_scale()));
    }
    if addr16(insn) {
        a &= 0xffff;
    }
    a
}

/// True when the memory operand uses 16-bit addressing.
pub(super) fn addr16(insn: &Instruction) -> bool {
    let (base, index) = (insn.memory_base(), insn.memory_index());
    base.is_gpr16()
        || index.is_gpr16()
        || (base == Register::None && index == Register::None && insn.memory_displ_size() == 2)
}

/// The base of the memory operand's segment (fs and gs for TLS; any segment loaded with an
/// LDT selector).
pub(super) fn segment_base(cpu: &Cpu, insn: &Instruction) -> u32 {
    cpu.seg_base[seg_of(insn.memory_segment()) as usize]
}

/// The segment register `reg` names (ds for anything else).
pub(super) fn seg_of(reg: Register) -> Seg {
    match reg {
        Register::ES => Seg::Es,
        Register::CS => Seg::Cs,
        Register::SS => Seg::Ss,
        Register::FS => Seg::Fs,
        Register::GS => Seg::Gs,
        _ => Seg::Ds,
    }
}

/// Checks that operand `i`, if it is a segment register, may be loaded with `v` (before
/// the instruction writes anything).
pub(super) fn check_segment_write(cpu: &Cpu, insn: &Instruction, i: u32, v: u32) -> Result<()> {
    if insn.op_kind(i) != OpKind::Register || !insn.op_register(i).is_segment_register() {
        return Ok(());
    }
    cpu.check_segment_load(seg_of(insn.op_register(i)), v as u16)
        .map_err(ExecError::from)
}

impl From<super::state::SegmentFault> for ExecError {
    fn from(f: super::state::SegmentFault) -> Self {
        match f {
            super::state::SegmentFault::GeneralProtection(e) => ExecError::GeneralProtection(e),
            super::state::SegmentFault::NotPresent(e) => ExecError::SegmentNotPresent(e),
        }
    }
}

/// The linear address of the instruction's memory operand.
pub(super) fn effective_address(cpu: &Cpu, insn: &Instruction) -> u32 {
    memory_offset(cpu, insn).wrapping_add(segment_base(cpu, insn))
}

pub(super) fn read_mem(mem: &Memory, addr: u32, w: Width) -> Result<u32> {
    Ok(mem.read(addr as u64, bytes(w))? as u32)
}

pub(super) fn write_mem(mem: &mut Memory, addr: u32, w: Width, v: u32) -> Result<()> {
    Ok(mem.write(addr as u64, bytes(w), v as u64)?)
}

/// Operand `i`'s width.
pub(super) fn op_width(insn: &Instruction, i: u32) -> Width {
    match insn.op_kind(i) {
        OpKind::Register => gpr(insn.op_register(i)).map_or(Width::D32, |(_, w)| w),
        OpKind::Memory => width_of_size(insn.memory_size().size()),
        OpKind::Immediate8 => Width::B8,
        OpKind::Immediate16 | OpKind::Immediate8to16 => Width::W16,
        _ => Width::D32,
    }
}

pub(super) fn read_op(cpu: &Cpu, mem: &Memory, insn: &Instruction, i: u32) -> Result<u32> {
    match insn.op_kind(i) {
        OpKind::Register => Ok(read_reg(cpu, insn.op_register(i))),
        OpKind::Memory => read_mem(mem, effective_address(cpu, insn), op_width(insn, i)),
        // Immediates; any other kind (a far pointer, a branch target) has no value to read
        // here, and an instruction that gets this far with one is not implemented.
        _ => insn
            .try_immediate(i)
            .map(|v| v as u32)
            .map_err(|_| ExecError::Unimplemented(insn.mnemonic())),
    }
}

pub(super) fn write_op(
    cpu: &mut Cpu,
    mem: &mut Memory,
    insn: &Instruction,
    i: u32,
    v: u32,
) -> Result<()> {
    match insn.op_kind(i) {
        OpKind::Register => {
            write_reg(cpu, insn.op_register(i), v);
            Ok(())
        }
        OpKind::Memory => {
            let a = effective_address(cpu, insn);
            write_mem(mem, a, op_width(insn, i), v)
        }
        _ => Ok(()),
    }
}

/// Checks that operand `i` (if memory) can be written, so flags are not changed by an
/// instruction that then faults.
pub(super) fn check_writable(cpu: &Cpu, mem: &Memory, insn: &Instruction, i: u32) -> Result<()> {
    if insn.op_kind(i) == OpKind::Memory {
        let a = effective_address(cpu, insn);
        mem.check_write(a as u64, bytes(op_width(insn, i)))?;
    }
    Ok(())
}

/// Writes general register `r` at width `w` (16 or 32 bits), keeping the bits above it.
pub(super) fn set_reg_width(cpu: &mut Cpu, r: usize, w: Width, v: u32) {
    if w == Width::D32 {
        cpu.regs[r] = v;
    } else {
        cpu.set_reg16(r, v);
    }
}
