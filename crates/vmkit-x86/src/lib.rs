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
//! | `engine` | the engines behind one seam: block decode and cache, the micro-op table, the fast (micro-ops, lazy flags) and reference engines |
//! | `linux` | the Linux i386 personality behind the [`linux::Kernel`] seam: the system-call table, the ELF loader ([`linux::loader`]), files through a sandbox ([`linux::Sandbox`]), descriptors, memory map, signals, `--strace` |
//! | `hooks` | instrumentation: instruction, memory, interrupt and system-call hooks |
//! | `machine` | the run loop, faults and the embedding API |
#![deny(missing_docs)]

pub mod cpu;
mod engine;
mod hooks;
pub mod linux;
mod machine;

pub use engine::Engine;
pub use hooks::{Handled, HookCtx, HookId, MemAccess, MemAccessKind};
pub use machine::{X86Exit, X86Fault, X86FaultKind, X86Machine, ADDRESS_SPACE};
