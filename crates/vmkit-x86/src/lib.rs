//! # vmkit-x86: the IA-32 guest
//!
//! Runs 32-bit x86 machine code in a sandbox: flat code as PyVM (seed 002) does, and (as
//! this crate grows) static Linux i386 executables. Decoding uses iced-x86; guest memory is
//! a [`vmkit_mem::Memory`] spanning the 4 GiB address space, so no guest address can reach
//! host memory.
//!
//! | module | owns |
//! |---|---|
//! | `alu` | integer operations with their exact EFLAGS results |
//! | `cpu` | registers, eip, eflags, segment state |
//! | `block` | decoded-code cache, invalidated per page on writes to code |
//! | `uop` | translation of instructions into compact micro-ops |
//! | `engine` | the fast engine: micro-ops with lazy flags |
//! | `lazy` | lazy status flags |
//! | `exec` | reference semantics of each instruction |
//! | `fpu` | the x87 FPU: 80-bit state and instruction semantics |
//! | `string` | `movs`/`stos`/`lods`/`cmps`/`scas` with `rep` prefixes |
//! | `cpuid` | what the guest CPU reports (`cpuid`, `rdtsc`) |
//! | `elf` | loading static ELF32 i386 executables (private; [`is_elf`], [`ElfError`]) |
//! | `linux_process` | the process layout and initial stack (argv, envp, auxv; private) |
//! | `linux` | the `int 0x80` system-call personality: files through a sandbox ([`linux::Sandbox`]), descriptors, memory, time, signals, `--strace` |
//! | `machine` | the facade: [`X86Machine`], the run loop, faults, hooks (instruction, memory, invalid access, interrupt, system call), loaders, context, disassembly |
#![deny(missing_docs)]

pub mod alu;
mod block;
pub mod cpu;
pub mod cpuid;
mod elf;
mod engine;
mod exec;
pub mod fpu;
mod lazy;
pub mod linux;
mod linux_process;
mod machine;
mod string;
mod uop;

pub use elf::{is_elf, ElfError};
pub use linux::{Sandbox, SandboxError};
pub use machine::{
    Engine, HookAction, HookCtx, HookId, InvalidAccess, InvalidAccessAction, MemAccess,
    MemAccessKind, X86Context, X86Exit, X86Fault, X86FaultKind, X86Machine, ADDRESS_SPACE,
    REGISTER_NAMES,
};
/// The guest-memory types of the API: page permission bits, faults, regions.
pub use vmkit_mem::{page, Access, MemError, Memory, Region};
