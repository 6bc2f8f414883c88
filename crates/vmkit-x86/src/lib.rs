//! # vmkit-x86: the IA-32 guest
//!
//! Runs 32-bit x86 machine code in a sandbox: flat code as PyVM (seed 002) does, and (as
//! this crate grows) static Linux i386 executables. Decoding uses iced-x86; guest memory is
//! a [`vmkit_mem::Memory`] spanning the 4 GiB address space, so no guest address can reach
//! host memory.
//!
//! | module | owns |
//! |---|---|
//! | `cpu` | the x86 CPU: registers, eip, eflags, segments; exact integer and x87 semantics by instruction family; `cpuid` |
//! | `block` | decoded-code cache, invalidated per page on writes to code |
//! | `uop` | translation of instructions into compact micro-ops |
//! | `engine` | the fast engine: micro-ops with lazy flags |
//! | `lazy` | lazy status flags |
//! | `elf` | loading static ELF32 i386 executables |
//! | `linux_process` | the process layout and initial stack (argv, envp, auxv) |
//! | `linux` | the `int 0x80` system-call personality: files through a sandbox ([`linux::Sandbox`]), descriptors, memory, time, signals, `--strace` |
//! | `hooks` | instrumentation: instruction, memory, interrupt and system-call hooks |
//! | `machine` | the run loop, faults and the embedding API |
#![deny(missing_docs)]

mod block;
pub mod cpu;
pub mod elf;
mod engine;
mod hooks;
mod lazy;
pub mod linux;
pub mod linux_process;
mod machine;
mod uop;

pub use hooks::{Handled, HookCtx, HookId, MemAccess, MemAccessKind};
pub use machine::{Engine, X86Exit, X86Fault, X86FaultKind, X86Machine, ADDRESS_SPACE};
