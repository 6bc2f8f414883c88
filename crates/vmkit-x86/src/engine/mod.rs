//! The x86 engines: how decoded guest code is run.
//!
//! | module | owns |
//! |---|---|
//! | `block` | block decode (iced-x86) and the block cache over vmkit-vm's `CodeCache` |
//! | `uop` | the micro-op table (`for_each_uop!`), the [`uop::Uop`] form, translation and fusion |
//! | `lazy_flags` | lazy status flags for the fast engine |
//! | `fast` | the fast engine: a `match` loop over micro-ops with lazy flags |
//! | `reference` | the reference engine: one instruction at a time through `exec` |
//! | `segmented` | code in an LDT code segment (16-bit or based), decoded at each step |
//!
//! Every engine implements [`ExecutionEngine`], the seam a translator joins: it runs guest
//! code from `cpu.eip` over the shared decoded blocks until something only the run loop can
//! handle, and returns an [`EngineStop`] with the status flags already in `cpu.eflags`.
//! [`Engines`] holds the engines and the decoded code they share. This layer depends on
//! the CPU (`cpu`, `alu`, `exec`) and guest memory only.

mod block;
mod fast;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod jit;
mod lazy_flags;
mod reference;
mod segmented;
mod uop;

use crate::cpu::Cpu;
use crate::cpu::ExecError;
pub(crate) use block::DecodeFailure;
use block::{Block, BlockCache};
use fast::FastEngine;
use iced_x86::Instruction;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
use jit::JitEngine;
use reference::ReferenceEngine;
use std::ops::Range;
use vmkit_mem::Memory;

/// How [`crate::X86Machine`] executes instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter: decoded blocks of micro-ops with lazy flags (the default where the
    /// translator is not available).
    Interp,
    /// Every instruction through the reference semantics, flags computed eagerly: slower,
    /// for cross-checking the interpreter.
    Reference,
    /// The translator: guest blocks become host x86-64 code (the default on x86-64 Linux
    /// hosts; elsewhere [`crate::X86Machine::set_engine`] takes the interpreter, see
    /// [`Engine::available`]).
    Jit,
}

impl Default for Engine {
    /// The translator where it is available, the interpreter elsewhere.
    fn default() -> Engine {
        if Engine::Jit.available() {
            Engine::Jit
        } else {
            Engine::Interp
        }
    }
}

impl Engine {
    /// Whether this engine runs on this host: the translator needs an x86-64 Linux host;
    /// the interpreters run everywhere. [`crate::X86Machine::set_engine`] takes the
    /// interpreter instead of an engine that is not available.
    pub fn available(self) -> bool {
        match self {
            Engine::Interp | Engine::Reference => true,
            Engine::Jit => cfg!(all(target_arch = "x86_64", target_os = "linux")),
        }
    }

    /// The engine's name on the command line (`interp`, `reference`, `jit`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Reference => "reference",
            Engine::Jit => "jit",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "interp" => Ok(Engine::Interp),
            "reference" => Ok(Engine::Reference),
            "jit" => Ok(Engine::Jit),
            _ => Err(format!(
                "unknown engine `{s}` (expected interp, jit or reference)"
            )),
        }
    }
}

/// Why a run faulted, as the engines see it; the run loop turns it into an
/// `X86FaultKind`. `cpu.eip` is the faulting instruction's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EngineFault {
    /// The instruction's semantics raised an exception.
    Exec(ExecError),
    /// The instruction is privileged.
    Privileged,
    /// A breakpoint trap (`int3`) after the instruction: `cpu.eip` is the next one.
    Breakpoint,
    /// The code at `cpu.eip` could not be fetched or decoded.
    Undecodable(DecodeFailure),
}

/// What the guest asks of the run loop when an engine stops for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EngineEvent {
    /// `int 0x80` at `at` is a system call that is due; `cpu.eip` is the next instruction.
    Syscall {
        /// Address of the `int 0x80`.
        at: u32,
    },
    /// A segment load gave ds, es or ss a base or took it away, or a far transfer changed
    /// cs (`Cpu::segmented`); the run loop chooses the engine again. `cpu.eip` is where
    /// execution goes on.
    SegmentsChanged,
}

/// Why an x86 engine returned: produced by [`ExecutionEngine::run`], consumed by the
/// machine's run loop.
pub(crate) type EngineStop = vmkit_vm::stop::EngineStop<EngineFault, EngineEvent>;

/// The seam every x86 engine implements (the fast and reference engines today, a
/// translator later). Dispatch through it happens once per run, never per instruction.
pub(crate) trait ExecutionEngine {
    /// Runs guest code from `cpu.eip` until something only the run loop can handle or
    /// `*budget` instructions have run; takes the instructions executed from `*budget`.
    /// On return the status flags are in `cpu.eflags`, whatever the stop.
    fn run(
        &mut self,
        code: &mut BlockCache,
        cpu: &mut Cpu,
        mem: &mut Memory,
        budget: &mut u64,
    ) -> EngineStop;

    /// Drops what this engine derived from the guest bytes in `range` beyond the shared
    /// decoded blocks (translated code, for a translator).
    fn invalidate(&mut self, _range: &Range<u64>) {}

    /// Drops everything this engine derived from guest code.
    fn flush(&mut self) {}
}

/// How one block's run ended; `i` indexes the block's instructions. Produced by the block
/// runners (`fast::run_block`, `reference::run_block`), consumed by [`follow_blocks`].
#[derive(Debug)]
pub(crate) enum BlockExit {
    /// Control left the block for `cpu.eip`, after instruction `i`.
    Jump(usize),
    /// Instruction `i` faulted; nothing of it was done. `cpu.eip` is its address.
    Fault(usize, ExecError),
    /// Instruction `i` is `int 0x80`: the system call is due; `cpu.eip` is the next
    /// instruction.
    Syscall(usize),
    /// Instruction `i` is privileged; `cpu.eip` is its address.
    Privileged(usize),
    /// Instruction `i` ran and the run loop must look at the machine again before the next
    /// (it set the trap flag); `cpu.eip` is the next instruction.
    Stop(usize),
    /// Instruction `i` is a breakpoint (`int3`) and ran; `cpu.eip` is the next instruction.
    Breakpoint(usize),
    /// Instruction `i` wrote into decoded code; `cpu.eip` is the next instruction.
    CodeWritten(usize),
    /// Instruction `i` gave ds, es or ss a base or took it away, or changed cs; `cpu.eip`
    /// is where execution goes on.
    SegmentsChanged(usize),
    /// The first `n` instructions ran (the limit, or the whole block) without leaving it;
    /// `cpu.eip` is the next instruction.
    Ran(usize),
}

/// Runs blocks from `cpu.eip` with `run_block`, following jumps through the blocks' chain
/// links, until a block exit needs the run loop or `*budget` instructions have run (taken
/// from `*budget`). `run_block(cpu, mem, block, limit, laps)` runs at most `limit`
/// instructions of `block` and may add whole passes of a self-loop to `laps`.
#[inline(always)]
fn follow_blocks(
    code: &mut BlockCache,
    cpu: &mut Cpu,
    mem: &mut Memory,
    budget: &mut u64,
    mut run_block: impl FnMut(&mut Cpu, &mut Memory, &Block, usize, &mut u64) -> BlockExit,
) -> EngineStop {
    let limit = *budget;
    let mut done = 0u64;
    let mut id = code.lookup(mem, cpu.eip);
    let stop = loop {
        let block = code.get(id);
        let left = (limit - done).min(usize::MAX as u64) as usize;
        let mut laps = 0u64;
        let exit = run_block(cpu, mem, block, left, &mut laps);
        done += laps;
        match exit {
            BlockExit::Jump(i) => {
                done += i as u64 + 1;
                if done == limit {
                    break EngineStop::BudgetSpent;
                }
                id = match block.linked(cpu.eip) {
                    Some(next) => next,
                    None => {
                        let next = code.lookup(mem, cpu.eip);
                        code.get(id).link(cpu.eip, next);
                        next
                    }
                };
            }
            BlockExit::Syscall(i) => {
                done += i as u64 + 1;
                let at = block.insns[i].ip32();
                break EngineStop::Event(EngineEvent::Syscall { at });
            }
            BlockExit::CodeWritten(i) => {
                done += i as u64 + 1;
                break EngineStop::CodeWritten;
            }
            BlockExit::SegmentsChanged(i) => {
                done += i as u64 + 1;
                break EngineStop::Event(EngineEvent::SegmentsChanged);
            }
            BlockExit::Fault(i, e) => {
                // A trap (`into`) ran; a fault did not.
                done += i as u64 + matches!(e, ExecError::Overflow { .. }) as u64;
                break EngineStop::Fault(EngineFault::Exec(e));
            }
            BlockExit::Privileged(i) => {
                done += i as u64;
                break EngineStop::Fault(EngineFault::Privileged);
            }
            BlockExit::Stop(i) => {
                // Reported as a spent budget: the run loop then reads the flags again.
                done += i as u64 + 1;
                break EngineStop::BudgetSpent;
            }
            BlockExit::Breakpoint(i) => {
                done += i as u64 + 1;
                break EngineStop::Fault(EngineFault::Breakpoint);
            }
            BlockExit::Ran(n) => {
                done += n as u64;
                if n < block.insns.len() {
                    break EngineStop::BudgetSpent;
                }
                // The whole block ran: its end is a decode failure, or the size limit.
                if let Some(failure) = &block.decode_failure {
                    if let DecodeFailure::Invalid { addr, .. } = failure {
                        cpu.eip = *addr;
                    }
                    break EngineStop::Fault(EngineFault::Undecodable(failure.clone()));
                }
                if done == limit {
                    break EngineStop::BudgetSpent;
                }
                id = code.lookup(mem, cpu.eip);
            }
        }
    };
    *budget -= done;
    stop
}

/// The engines of a machine and the decoded code they share. The machine picks one per
/// run; instrumented runs always take the reference engine, one instruction at a time.
#[derive(Default)]
pub(crate) struct Engines {
    code: BlockCache,
    fast: FastEngine,
    reference: ReferenceEngine,
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    jit: JitEngine,
    /// The engine uninstrumented runs use.
    selected: Engine,
}

impl Engines {
    /// How often a block runs before the translator translates it (see
    /// `X86Machine::set_jit_threshold`).
    pub(crate) fn set_jit_threshold(&mut self, n: u32) {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        self.jit.set_threshold(n);
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        let _ = n;
    }

    /// Chooses the engine uninstrumented runs use (the interpreter for an engine this
    /// host does not have).
    pub(crate) fn select(&mut self, engine: Engine) {
        self.selected = if engine.available() {
            engine
        } else {
            Engine::Interp
        };
    }

    /// Runs the selected engine (the reference engine if `reference`); see
    /// [`ExecutionEngine::run`].
    #[inline]
    pub(crate) fn run(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        budget: &mut u64,
        reference: bool,
    ) -> EngineStop {
        if reference || self.selected == Engine::Reference {
            if segmented::in_ldt_code(cpu) {
                return segmented::run(cpu, mem, budget);
            }
            return self.reference.run(&mut self.code, cpu, mem, budget);
        }
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if self.selected == Engine::Jit {
            return self.jit.run(&mut self.code, cpu, mem, budget);
        }
        self.fast.run(&mut self.code, cpu, mem, budget)
    }

    /// The first instruction of the block at `eip` (decoding it if needed), or `None` if
    /// nothing decodes there.
    pub(crate) fn first_instruction(&mut self, mem: &mut Memory, eip: u32) -> Option<Instruction> {
        let id = self.code.lookup(mem, eip);
        self.code.get(id).insns.first().copied()
    }

    /// Drops the decoded code the guest has written over since the last call.
    pub(crate) fn drop_written_code(&mut self, mem: &mut Memory) {
        if let Some(range) = mem.take_code_writes() {
            self.invalidate(mem, range);
        }
    }

    /// Drops the decoded code whose bytes overlap `range` (written, unmapped, or given new
    /// protections); code elsewhere stays decoded.
    pub(crate) fn invalidate(&mut self, mem: &mut Memory, range: Range<u64>) {
        self.code.invalidate(mem, range.clone());
        self.fast.invalidate(&range);
        self.reference.invalidate(&range);
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        self.jit.invalidate(&range);
    }

    /// Drops all decoded code (after a protection change, a new program, unmapping).
    pub(crate) fn flush(&mut self, mem: &mut Memory) {
        self.code.flush(mem);
        self.fast.flush();
        self.reference.flush();
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        self.jit.flush();
    }
}
