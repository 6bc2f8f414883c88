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
//! | `machine` | the facade: [`X86Machine`], the run loop, faults, hooks (instruction, memory, invalid access, interrupt, system call), loaders, context, disassembly, the machine as a [`DebugTarget`] |
#![deny(missing_docs)]

pub mod cpu;
mod engine;
pub mod linux;
mod machine;

pub use engine::Engine;
pub use linux::loader::{is_elf, ElfError};
pub use linux::{Sandbox, SandboxError, HOST_I386_LIBRARIES};
pub use machine::{
    HookAction, HookCtx, HookId, InvalidAccess, InvalidAccessAction, MemAccess, MemAccessKind,
    X86Context, X86Exit, X86Fault, X86FaultKind, X86Machine, ADDRESS_SPACE, REGISTER_NAMES,
};
/// The guest-memory types of the API: page permission bits, faults, regions.
pub use vmkit_mem::{page, Access, MemError, Memory, Region};
/// The debugger interface both guests implement ([`X86Machine`] as `i386`), and its types.
pub use vmkit_vm::debug::{DebugError, DebugTarget, RegisterInfo, StopReason};
/// The shared signal table: the signal a fault sends ([`X86FaultKind::signal`]).
pub use vmkit_vm::signal::Signal;
