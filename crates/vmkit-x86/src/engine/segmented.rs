//! Code in an LDT code segment (`modify_ldt`, then `lcall`/`ljmp` to its selector): the
//! segment's base is added to every fetch, and a 16-bit segment (its descriptor's D bit
//! clear) decodes with 16-bit operands and addresses. Such code is rare (test programs,
//! DOS-era tricks), so it runs one instruction at a time through the reference semantics,
//! decoded at each step, outside the block cache (whose blocks are flat 32-bit code).

use super::block::DecodeFailure;
use super::{EngineEvent, EngineFault, EngineStop};
use crate::cpu::{exec, AfterInsn, Cpu, Seg};
use iced_x86::{Decoder, DecoderOptions};
use vmkit_mem::Memory;

/// The longest x86 instruction.
const MAX_INSN: usize = 15;

/// Whether `cpu` runs in an LDT code segment (then [`run`] runs it).
#[inline]
pub(crate) fn in_ldt_code(cpu: &Cpu) -> bool {
    cpu.selectors[Seg::Cs as usize] & 4 != 0
}

/// Runs instructions of the LDT code segment in cs until a far transfer leaves it (or
/// changes another segment), something needs the run loop, or `*budget` instructions ran.
pub(crate) fn run(cpu: &mut Cpu, mem: &mut Memory, budget: &mut u64) -> EngineStop {
    let cs = cpu.selectors[Seg::Cs as usize];
    let descriptor = cpu.ldt.get((cs >> 3) as usize).copied().unwrap_or(0);
    let bits = if descriptor & (1 << 54) != 0 { 32 } else { 16 };
    let ip_mask = if bits == 16 { 0xffff } else { u32::MAX };
    while *budget > 0 {
        let base = cpu.seg_base[Seg::Cs as usize];
        let linear = base.wrapping_add(cpu.eip);
        let window = match mem.fetch_window(linear as u64, MAX_INSN) {
            Ok(w) => w.to_vec(),
            Err(e) => return EngineStop::Fault(EngineFault::Undecodable(DecodeFailure::Fetch(e))),
        };
        let mut decoder = Decoder::with_ip(bits, &window, cpu.eip as u64, DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() {
            let failure = if decoder.last_error() == iced_x86::DecoderError::NoMoreBytes
                && window.len() < MAX_INSN
            {
                DecodeFailure::Fetch(mem.fetch_fault(linear as u64 + window.len() as u64, 1))
            } else {
                DecodeFailure::Invalid {
                    addr: cpu.eip,
                    bytes: window[..window.len().min(8)].to_vec(),
                }
            };
            return EngineStop::Fault(EngineFault::Undecodable(failure));
        }
        let next = (insn.next_ip32()) & ip_mask;
        let after = match exec(cpu, mem, &insn) {
            Ok(after) => after,
            Err(e) => {
                cpu.eip = e.resume_at(cpu.eip);
                return EngineStop::Fault(EngineFault::Exec(e));
            }
        };
        match after {
            AfterInsn::Next => cpu.eip = next,
            AfterInsn::Jump(target) => cpu.eip = target & ip_mask,
            AfterInsn::SegmentsChanged(target) => {
                *budget -= 1;
                cpu.eip = target;
                return EngineStop::Event(EngineEvent::SegmentsChanged);
            }
            AfterInsn::Syscall => {
                *budget -= 1;
                cpu.eip = next;
                return EngineStop::Event(EngineEvent::Syscall { at: insn.ip32() });
            }
            AfterInsn::Privileged => return EngineStop::Fault(EngineFault::Privileged),
            // The run loop reads the flags again and single-steps from the next one.
            AfterInsn::TrapFlagSet => {
                *budget -= 1;
                cpu.eip = next;
                return EngineStop::BudgetSpent;
            }
            AfterInsn::Breakpoint => {
                *budget -= 1;
                cpu.eip = next;
                return EngineStop::Fault(EngineFault::Breakpoint);
            }
        }
        *budget -= 1;
        if mem.code_written() {
            return EngineStop::CodeWritten;
        }
    }
    EngineStop::BudgetSpent
}
