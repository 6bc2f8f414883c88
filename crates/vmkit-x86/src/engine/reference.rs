//! The reference engine: every instruction through the reference semantics (`exec`), one
//! at a time, with flags computed eagerly. Slower than the fast engine; it is what
//! instrumented runs (hooks, `run_from`'s `until`) use, and what `engines_agree` checks the
//! fast engine against. The fast engine also hands it the instructions it has no micro-op
//! for ([`step`]) and the blocks a limited budget would cut between fused halves.

use super::block::{Block, BlockCache};
use super::{follow_blocks, BlockExit, EngineStop, ExecutionEngine};
use crate::cpu::Cpu;
use crate::cpu::{exec, AfterInsn};
use iced_x86::Instruction;
use vmkit_mem::Memory;

/// The reference engine. Holds no state: flags are always in `Cpu::eflags`.
#[derive(Debug, Default)]
pub(crate) struct ReferenceEngine;

impl ExecutionEngine for ReferenceEngine {
    fn run(
        &mut self,
        code: &mut BlockCache,
        cpu: &mut Cpu,
        mem: &mut Memory,
        budget: &mut u64,
    ) -> EngineStop {
        follow_blocks(code, cpu, mem, budget, |cpu, mem, block, limit, _laps| {
            run_block(cpu, mem, block, limit)
        })
    }
}

/// Runs instruction `i` of a block, `insn`, through the reference semantics. `Ok(None)`:
/// go on with the next instruction; `Ok(Some(target))`: control goes to `target`;
/// `Err(exit)`: leave the block (`cpu.eip` is set for the exit).
#[inline(always)]
pub(super) fn step(
    cpu: &mut Cpu,
    mem: &mut Memory,
    insn: &Instruction,
    i: usize,
) -> Result<Option<u32>, BlockExit> {
    match exec(cpu, mem, insn) {
        Ok(AfterInsn::Next) => Ok(None),
        Ok(AfterInsn::Jump(target)) => Ok(Some(target)),
        Ok(AfterInsn::Syscall) => {
            cpu.eip = insn.next_ip32();
            Err(BlockExit::Syscall(i))
        }
        Ok(AfterInsn::SegmentsChanged(target)) => {
            cpu.eip = target;
            Err(BlockExit::SegmentsChanged(i))
        }
        Ok(AfterInsn::TrapFlagSet) => {
            cpu.eip = insn.next_ip32();
            Err(BlockExit::Stop(i))
        }
        Ok(AfterInsn::Breakpoint) => {
            cpu.eip = insn.next_ip32();
            Err(BlockExit::Breakpoint(i))
        }
        Ok(AfterInsn::Privileged) => {
            cpu.eip = insn.ip32();
            Err(BlockExit::Privileged(i))
        }
        Err(e) => {
            cpu.eip = e.resume_at(insn.ip32());
            Err(BlockExit::Fault(i, e))
        }
    }
}

/// Runs at most `limit` instructions of `block` from its start (`cpu.eip` must be
/// `block.start`) through the reference semantics.
pub(super) fn run_block(cpu: &mut Cpu, mem: &mut Memory, block: &Block, limit: usize) -> BlockExit {
    let n = block.insns.len().min(limit);
    for (i, insn) in block.insns[..n].iter().enumerate() {
        let target = match step(cpu, mem, insn, i) {
            Ok(target) => target,
            Err(exit) => return exit,
        };
        if mem.code_written() {
            // Execution goes on where the instruction sent it: a jump's target (a call's
            // push, a repeated string instruction single-stepped), else the next one.
            cpu.eip = target.unwrap_or_else(|| insn.next_ip32());
            return BlockExit::CodeWritten(i);
        }
        if let Some(target) = target {
            cpu.eip = target;
            return BlockExit::Jump(i);
        }
    }
    cpu.eip = if n == 0 {
        block.start
    } else {
        block.insns[n - 1].next_ip32()
    };
    BlockExit::Ran(n)
}
