//! # vmkit-machine: the vmkit native machine
//!
//! Byte-addressed memory with per-page protection and memory-mapped devices, sixteen 64-bit
//! registers plus sp, lazily evaluated flags, and an interpreter that pre-decodes guest code
//! into fixed-width records, dispatches them through a swappable backend ([`Dispatch`]), and
//! drops them when the guest writes over them. Everything a guest can do wrong ends in a
//! [`Fault`] value.
//!
//! Layers: this crate depends on `vmkit-isa` (what the instructions are), `vmkit-vm` (what both
//! guests share: sandbox, signals, stdio, the debug interface, the code cache, why an engine
//! stopped), `vmkit-mem` (guest memory) and `vmkit-image` (what a program file is); it knows
//! nothing of assembly text or the command line.
//!
//! | module | owns |
//! |---|---|
//! | `cpu` | registers, ip, lazy flags |
//! | `exec` | reference semantics of every instruction |
//! | `block` | decoded code: records in one arena, blocks over them in vmkit-vm's `CodeCache`, chaining, per-range invalidation |
//! | `interp` | what each record does (`step`), and the `match` dispatch loop |
//! | `threaded` | the call-threaded dispatch backend: a handler table over the same records |
//! | `sys` | `sys` calls: exit, read and write on stdio, files in the granted directory (sandboxed) |
//! | `host` | host functions: the import table, the registry, and `hcall` |
//! | `env` | what a program reaches besides CPU and memory: stack limit, host functions, stdio, files |
//! | `fault` | [`Fault`] and [`FaultKind`], and each fault's signal |
//! | `devices` | text screen and keyboard |
//! | `machine` | the embedding API |
//! | `debug` | the machine as a `DebugTarget`: breakpoints, steps, registers by name |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod block;
mod cpu;
mod debug;
pub mod devices;
mod env;
mod exec;
mod fault;
mod host;
mod interp;
mod machine;
mod sys;
mod threaded;

pub use cpu::format_regs;
pub use fault::{Access, Fault, FaultKind};
pub use host::{standard_host_functions, HostCall, HostFn};
pub use machine::{Config, Dispatch, LoadError, Machine, DEFAULT_MEMORY, MAX_MEMORY};
pub use vmkit_mem::{MemError, Memory, PAGE_SIZE};
pub use vmkit_vm::code_cache::CodeCacheStats;
pub use vmkit_vm::debug::{DebugError, DebugTarget, RegisterInfo, StopReason};
pub use vmkit_vm::signal::Signal;
use vmkit_vm::signal::STEP_LIMIT_STATUS;
pub use vmkit_vm::stdio::Stdio;

/// Why a machine stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `halt` ran: exit status 0.
    Halted,
    /// `sys exit` ran with this code.
    Exited(i64),
    /// `brk` ran; ip is past it, and [`Machine::run`] resumes.
    Breakpoint,
    /// The step limit ran out; ip is the next instruction, and running resumes.
    StepLimit,
    /// The guest faulted (boxed: a fault carries the whole register file).
    Fault(Box<Fault>),
}

impl Exit {
    /// The status a process would exit with: the code for `exit`, 0 for `halt`, 128+signal
    /// for faults and breakpoints (as a shell shows them), 124 for the step limit (as
    /// `timeout` does).
    pub fn status(&self) -> i32 {
        match self {
            Exit::Halted => 0,
            Exit::Exited(c) => (*c & 0xFF) as i32,
            Exit::Breakpoint => Signal::TRAP.exit_status(),
            Exit::StepLimit => STEP_LIMIT_STATUS,
            Exit::Fault(f) => f.kind.signal().exit_status(),
        }
    }
}
