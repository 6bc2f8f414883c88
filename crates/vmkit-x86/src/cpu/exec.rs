//! Reference semantics: executes one decoded iced-x86 [`Instruction`] on the CPU state by
//! dispatching on its mnemonic to the function of its instruction family.
//!
//! Families operate on operands by kind (register, memory, immediate, see
//! [`super::operand`]), so every encoding of an instruction shares one implementation. Flag
//! results come from [`super::alu`]. A fault is raised before any architectural write of
//! the instruction, except where the real CPU also writes first (none so far).

use super::operand::{ExecError, Result};
use super::{control, data, integer, stack, string, system, x87, Cpu, Seg};
use iced_x86::{Instruction, Mnemonic, OpKind};
use vmkit_mem::Memory;

/// What happens after an instruction that completed: where execution goes next, or which
/// event outside the CPU must be handled first.
///
/// Produced by [`exec`] (the reference semantics), once per instruction. Consumed by the
/// engines, which set eip from it (`Next`, `Jump`) or stop and hand the event to the
/// machine (`Syscall`, `Privileged`, `Breakpoint`, `TrapFlagSet`). `Syscall` is the CPU's only link to an operating
/// system.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterInsn {
    /// Go on with the following instruction.
    Next,
    /// Go on at this address (a taken jump, call or return).
    Jump(u32),
    /// `int 0x80`: a system call, then the following instruction.
    Syscall,
    /// `hlt` and other privileged instructions: a general protection fault in user mode.
    Privileged,
    /// A segment load gave ds, es or ss a base, or took the last such base away, or a far
    /// transfer changed cs: go on at this address (the following instruction, or the far
    /// target) after the run loop chose the engine again (only the reference semantics add
    /// those bases, and LDT code segments run apart, see `Cpu::segmented`).
    SegmentsChanged(u32),
    /// `popf` set the trap flag: the run loop must single-step from the next instruction
    /// on, so the engine stops after this one.
    TrapFlagSet,
    /// `int3` (or `int 3`): the breakpoint trap, raised after the instruction (eip is the
    /// next one), which Linux delivers as SIGTRAP.
    Breakpoint,
}

/// Maps a control transfer's target to what happens next.
fn jump_or_next(target: Option<u32>) -> AfterInsn {
    match target {
        Some(t) => AfterInsn::Jump(t),
        None => AfterInsn::Next,
    }
}

/// Whether `insn` writes a segment register (its first operand).
fn writes_segment(insn: &Instruction) -> bool {
    insn.op_count() > 0
        && insn.op_kind(0) == OpKind::Register
        && insn.op_register(0).is_segment_register()
}

/// A `mov`/`pop` into a segment register, or `lds`/`les`/`lss`: [`AfterInsn::SegmentsChanged`]
/// when ds, es or ss gained or lost a base.
fn segment_load(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<AfterInsn> {
    let before = cpu.segmented();
    if insn.mnemonic() != Mnemonic::Lss && insn.op_register(0) == iced_x86::Register::SS {
        cpu.trap_shadow = true;
    }
    match insn.mnemonic() {
        Mnemonic::Mov => data::mov(cpu, mem, insn)?,
        Mnemonic::Pop => stack::pop_operand(cpu, mem, insn)?,
        _ => data::load_far_pointer(cpu, mem, insn)?,
    }
    Ok(if cpu.segmented() != before {
        AfterInsn::SegmentsChanged(insn.next_ip32())
    } else {
        AfterInsn::Next
    })
}

/// Where a far transfer goes: a plain jump within the same code segment, else
/// [`AfterInsn::SegmentsChanged`] so that the run loop runs the new segment's code.
fn far_target(cpu: &Cpu, old_cs: u16, target: u32) -> AfterInsn {
    if cpu.selectors[Seg::Cs as usize] == old_cs {
        AfterInsn::Jump(target)
    } else {
        AfterInsn::SegmentsChanged(target)
    }
}

/// Executes `insn`.
pub(crate) fn exec(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<AfterInsn> {
    use Mnemonic as M;
    match insn.mnemonic() {
        // Hints that change nothing a single user-mode thread can observe.
        M::Nop
        | M::Endbr32
        | M::Pause
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetchw => {}
        // Data movement.
        // A segment load that gives ds, es or ss a base (or takes it away) changes how
        // every memory operand is addressed: the run loop picks the engine again.
        M::Mov | M::Pop if writes_segment(insn) => return segment_load(cpu, mem, insn),
        M::Lds | M::Les | M::Lss => return segment_load(cpu, mem, insn),
        M::Mov => data::mov(cpu, mem, insn)?,
        M::Lfs | M::Lgs => data::load_far_pointer(cpu, mem, insn)?,
        M::Lar | M::Lsl => data::load_descriptor_info(cpu, mem, insn)?,
        M::Arpl => data::arpl(cpu, mem, insn)?,
        M::Movzx | M::Movsx => data::mov_extend(cpu, mem, insn)?,
        M::Lea => data::lea(cpu, mem, insn)?,
        M::Xchg => data::xchg(cpu, mem, insn)?,
        M::Xlatb => data::xlat(cpu, mem, insn)?,
        m @ (M::Cdq | M::Cwd | M::Cwde | M::Cbw) => data::sign_extend_accumulator(cpu, m),
        // The stack.
        M::Push => stack::push_operand(cpu, mem, insn)?,
        M::Pop => stack::pop_operand(cpu, mem, insn)?,
        M::Pushfd | M::Pushf => stack::pushf(cpu, mem, insn)?,
        M::Popfd | M::Popf => {
            let tracing = cpu.eflags & super::flags::TF;
            stack::popf(cpu, mem, insn)?;
            if tracing == 0 && cpu.eflags & super::flags::TF != 0 {
                return Ok(AfterInsn::TrapFlagSet);
            }
        }
        M::Pushad | M::Pusha => stack::pusha(cpu, mem, insn)?,
        M::Popad | M::Popa => stack::popa(cpu, mem, insn)?,
        M::Enter => stack::enter(cpu, mem, insn)?,
        M::Leave => stack::leave(cpu, mem, insn)?,
        // Integer arithmetic, logic and flags.
        M::Add | M::Adc | M::Sub | M::Sbb | M::And | M::Or | M::Xor | M::Cmp | M::Test => {
            integer::binary(cpu, mem, insn)?
        }
        M::Inc | M::Dec | M::Neg | M::Not => integer::unary(cpu, mem, insn)?,
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr => {
            integer::shift(cpu, mem, insn)?
        }
        M::Shld | M::Shrd => integer::double_shift(cpu, mem, insn)?,
        M::Mul | M::Imul if insn.op_count() == 1 => integer::multiply_wide(cpu, mem, insn)?,
        M::Imul => integer::multiply_truncated(cpu, mem, insn)?,
        M::Div | M::Idiv => integer::divide(cpu, mem, insn)?,
        M::Bt | M::Bts | M::Btr | M::Btc => integer::bit_test(cpu, mem, insn)?,
        M::Bsf | M::Bsr | M::Tzcnt | M::Lzcnt => integer::bit_scan(cpu, mem, insn)?,
        M::Bswap => integer::bswap(cpu, mem, insn)?,
        M::Xadd => integer::xadd(cpu, mem, insn)?,
        M::Cmpxchg => integer::cmpxchg(cpu, mem, insn)?,
        M::Cmpxchg8b => integer::cmpxchg8b(cpu, mem, insn)?,
        M::Daa | M::Das | M::Aaa | M::Aas | M::Aam | M::Aad => integer::decimal_adjust(cpu, insn)?,
        m @ (M::Clc | M::Stc | M::Cmc | M::Cld | M::Std | M::Lahf | M::Sahf | M::Salc) => {
            integer::flag_op(cpu, m)
        }
        // Control transfers.
        M::Jmp | M::Call if control::is_far(insn) => {
            let cs = cpu.selectors[Seg::Cs as usize];
            let target = control::far_jump_or_call(cpu, mem, insn)?;
            return Ok(far_target(cpu, cs, target));
        }
        M::Retf | M::Iret | M::Iretd => {
            let cs = cpu.selectors[Seg::Cs as usize];
            let target = control::far_return(cpu, mem, insn)?;
            return Ok(far_target(cpu, cs, target));
        }
        M::Jmp => return Ok(AfterInsn::Jump(control::jmp(cpu, mem, insn)?)),
        M::Call => return Ok(AfterInsn::Jump(control::call(cpu, mem, insn)?)),
        M::Ret => return Ok(AfterInsn::Jump(control::ret(cpu, mem, insn)?)),
        M::Jecxz | M::Jcxz => return Ok(jump_or_next(control::jcxz(cpu, insn))),
        M::Loop | M::Loope | M::Loopne => return Ok(jump_or_next(control::loop_count(cpu, insn))),
        // System.
        M::Int if insn.immediate8() == 0x80 => return Ok(AfterInsn::Syscall),
        M::Int3 => return Ok(AfterInsn::Breakpoint),
        // Linux's gates open to user mode: the breakpoint's (as `int3`) and the overflow
        // exception's; any other vector is a general protection fault whose error code
        // names the IDT entry.
        M::Int if insn.immediate8() == 3 => return Ok(AfterInsn::Breakpoint),
        M::Int if insn.immediate8() == 4 => {
            return Err(ExecError::Overflow {
                next: insn.next_ip32(),
            })
        }
        M::Int => {
            return Err(ExecError::GeneralProtection(
                ((insn.immediate8() as u32) << 3) | 2,
            ))
        }
        M::Into if cpu.flag(super::flags::OF) => {
            return Err(ExecError::Overflow {
                next: insn.next_ip32(),
            })
        }
        M::Into => {}
        M::Bound => integer::bound(cpu, mem, insn)?,
        m if system::is_privileged(m) => return Ok(AfterInsn::Privileged),
        M::Cpuid => super::cpuid::cpuid(cpu),
        M::Rdtsc => system::rdtsc(cpu),
        // Strings (the SSE `movsd`/`cmpsd` share the mnemonics and are not implemented).
        M::Movsb
        | M::Movsw
        | M::Movsd
        | M::Stosb
        | M::Stosw
        | M::Stosd
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsd
        | M::Scasb
        | M::Scasw
        | M::Scasd
            if insn.op_count() == 0
                || insn.op_kind(0) != OpKind::Register
                || !insn.op_register(0).is_xmm() =>
        {
            // Single-stepped, a repeated string instruction runs one iteration at a time.
            if string::exec_string(cpu, mem, insn)? {
                return Ok(AfterInsn::Jump(insn.ip32()));
            }
        }
        m if x87::is_x87(m) => x87::exec(cpu, mem, insn)?,
        _ if control::is_conditional(insn) => {
            return Ok(jump_or_next(control::conditional(cpu, mem, insn)?))
        }
        m => return Err(ExecError::Unimplemented(m)),
    }
    Ok(AfterInsn::Next)
}
