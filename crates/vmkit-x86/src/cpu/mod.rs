//! The x86 CPU: architectural state and the reference semantics of every instruction the
//! guest runs, by instruction family. It knows nothing of engines, Linux or the machine
//! facade; its only link to an operating system is `AfterInsn::Syscall`.
//!
//! | module | owns |
//! |---|---|
//! | `state` | registers, eip, eflags, segment state and the LDT ([`Cpu`], [`Seg`], [`EAX`]...) |
//! | [`flags`] | the EFLAGS bits |
//! | `alu` | integer operations with their exact EFLAGS results (hidden: for the CPU-comparison tests) |
//! | `cond` | the sixteen condition predicates, shared with the fast engine's translation |
//! | `cpuid` | what the guest CPU reports (`cpuid`, the virtual time-stamp counter) |
//! | `exec` | the reference semantics: dispatches one instruction to its family |
//! | `operand` | effective addresses, operand reads and writes, why an instruction faults |
//! | `data` | `mov`, `movzx`/`movsx`, `lea`, `xchg`, `xlat`, `cbw`/`cwd`..., far pointers (`lds`...), `lar`/`lsl`/`arpl` |
//! | `stack` | `push`/`pop`, `pusha`/`popa`, `pushf`/`popf`, `enter`/`leave` |
//! | `integer` | arithmetic, logic, shifts, multiply/divide, bit ops, atomics, decimal adjusts |
//! | `control` | `jmp`, `call`, `ret`, far `jmp`/`call`/`retf`/`iret`, `jcc`, `loop*`, `jcxz`, `setcc`, `cmovcc` |
//! | `string` | `movs`/`stos`/`lods`/`cmps`/`scas` with `rep` prefixes |
//! | `system` | `rdtsc`, the privileged instructions |
//! | [`x87`] | the x87 FPU: 80-bit state and instruction semantics |
//!
//! Dependencies point one way: `exec` uses the families, the families use `operand`,
//! `cond`, `alu` and the state, and nothing here uses `exec`.

// Public but hidden: not for embedders. The CPU-comparison suites (tests/alu_vs_cpu.rs and
// tests/insn_vs_cpu/, integration tests because they run whole programs through
// `X86Machine` on the host CPU) check these exact flag results and read which flags and
// results the architecture leaves undefined.
#[doc(hidden)]
pub mod alu;
mod cond;
mod control;
pub(crate) mod cpuid;
mod data;
mod exec;
pub mod flags;
mod integer;
mod operand;
mod stack;
mod state;
mod string;
mod system;
pub mod x87;

pub(crate) use cond::{condition, condition_number, is_cmovcc, is_setcc};
pub(crate) use exec::{exec, AfterInsn};
pub(crate) use operand::ExecError;
pub use state::{Cpu, Seg, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, REG_NAMES};
