//! The interface a debugger drives a guest through, whichever instruction set it runs:
//! registers by name, memory, breakpoints at addresses, single steps, running with a
//! budget, and why the guest stopped. Both machines implement [`DebugTarget`], so a
//! debugger front end (a gdb stub, a Python binding, a REPL) is written once.
//!
//! The trait is object-safe: a front end holds a `&mut dyn DebugTarget`.
//!
//! Breakpoints are the debugger's, not the guest's: no byte of guest memory changes, and a
//! guest that reads its own code sees its own instructions. A breakpoint stops the guest
//! *before* the instruction at its address runs; continuing from a breakpoint first runs
//! that instruction.

use crate::signal::Signal;
use std::collections::BTreeSet;
use std::fmt;

/// One register a target exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterInfo {
    /// Its name, as the target's assembly syntax writes it (`r0`, `sp`, `eax`, `eip`).
    pub name: &'static str,
    /// Its width in bits (at most 64: wider registers are not in this interface yet).
    pub bits: u32,
}

/// Why a guest stopped under a debugger. Produced by [`DebugTarget::step`] and
/// [`DebugTarget::resume`]; consumed by the debugger front end (which reports it to its
/// user, as gdb's stop replies do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// [`DebugTarget::step`] ran one instruction; the guest is at the next.
    Stepped,
    /// The guest reached a breakpoint; the instruction at `address` has not run.
    Breakpoint {
        /// The breakpoint's address (the program counter).
        address: u64,
    },
    /// The budget [`DebugTarget::resume`] was given ran out; the guest can go on.
    BudgetExhausted,
    /// The program ended with this exit status.
    Exited {
        /// The status a shell would see (0 to 255).
        status: i32,
    },
    /// Something else the embedder attached (an instruction, memory or system-call hook)
    /// asked the run to stop; the instruction at `address` is the next to run.
    Requested {
        /// The program counter.
        address: u64,
    },
    /// The program did what would send a process a signal: a fault, or a trap instruction.
    Signal {
        /// The signal a process would receive.
        signal: Signal,
        /// Where: the faulting instruction, or the address after a trap instruction.
        address: u64,
        /// What happened, in words.
        message: String,
    },
}

/// Why a debugger request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebugError {
    /// The target has no register with this name.
    UnknownRegister(String),
    /// The value does not fit the register, or the register cannot be written.
    BadRegisterValue {
        /// The register.
        name: String,
        /// The value refused.
        value: u64,
    },
    /// Memory at this range cannot be read or written.
    Memory {
        /// First address.
        address: u64,
        /// Length in bytes.
        len: u64,
    },
}

impl fmt::Display for DebugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugError::UnknownRegister(name) => write!(f, "no register named `{name}`"),
            DebugError::BadRegisterValue { name, value } => {
                write!(f, "register `{name}` cannot hold {value:#x}")
            }
            DebugError::Memory { address, len } => {
                write!(f, "cannot access {len} bytes at {address:#x}")
            }
        }
    }
}

impl std::error::Error for DebugError {}

/// A guest machine a debugger can drive.
pub trait DebugTarget {
    /// The instruction set's name, as a debugger's target description calls it (`vmkit`,
    /// `i386`).
    fn architecture(&self) -> &'static str;

    /// The registers, in the order a debugger lists them.
    fn registers(&self) -> &[RegisterInfo];

    /// Reads the register called `name`.
    fn read_register(&self, name: &str) -> Result<u64, DebugError>;

    /// Writes the register called `name`.
    fn write_register(&mut self, name: &str, value: u64) -> Result<(), DebugError>;

    /// The program counter (the address of the next instruction to run).
    fn pc(&self) -> u64;

    /// Reads `len` bytes at `address`, whatever the page protection says.
    fn read_memory(&self, address: u64, len: u64) -> Result<Vec<u8>, DebugError>;

    /// Writes `data` at `address`, whatever the page protection says. Code already
    /// translated from those bytes is dropped, so the guest runs what was written.
    fn write_memory(&mut self, address: u64, data: &[u8]) -> Result<(), DebugError>;

    /// The breakpoints and last stop this machine keeps for its debugger.
    fn debug_state(&self) -> &DebugState;

    /// The same, to change.
    fn debug_state_mut(&mut self) -> &mut DebugState;

    /// Sets a breakpoint at `address`. Returns `false` if one was already there.
    fn add_breakpoint(&mut self, address: u64) -> bool {
        self.debug_state_mut().add_breakpoint(address)
    }

    /// Removes the breakpoint at `address`. Returns `false` if there was none.
    fn remove_breakpoint(&mut self, address: u64) -> bool {
        self.debug_state_mut().remove_breakpoint(address)
    }

    /// The addresses with breakpoints, in increasing order.
    fn breakpoints(&self) -> Vec<u64> {
        self.debug_state().breakpoints().collect()
    }

    /// Runs one instruction (breakpoints do not stop a single step).
    fn step(&mut self) -> StopReason;

    /// Runs until a breakpoint, the end of the program, a signal, or `budget` instructions
    /// have run. The instruction at the program counter runs even if it has a breakpoint.
    fn resume(&mut self, budget: u64) -> StopReason;

    /// Why the guest last stopped (`None` before the first step or resume).
    fn stop_reason(&self) -> Option<&StopReason> {
        self.debug_state().last_stop()
    }
}

/// What a debugger has set on a machine, kept by the machine for its [`DebugTarget`]
/// implementation: the breakpoints and the last stop. Both guests hold one, so the two
/// implementations differ only in how they run and what their registers are.
#[derive(Clone, Debug, Default)]
pub struct DebugState {
    breakpoints: BTreeSet<u64>,
    last_stop: Option<StopReason>,
}

impl DebugState {
    /// Sets a breakpoint at `address`; `false` if one was already there.
    pub fn add_breakpoint(&mut self, address: u64) -> bool {
        self.breakpoints.insert(address)
    }

    /// Removes the breakpoint at `address`; `false` if there was none.
    pub fn remove_breakpoint(&mut self, address: u64) -> bool {
        self.breakpoints.remove(&address)
    }

    /// The breakpoints, in address order.
    pub fn breakpoints(&self) -> impl Iterator<Item = u64> + '_ {
        self.breakpoints.iter().copied()
    }

    /// Whether any breakpoint is set (with none, a machine runs its fast loop).
    pub fn has_breakpoints(&self) -> bool {
        !self.breakpoints.is_empty()
    }

    /// Whether a breakpoint is set at `address`.
    pub fn is_breakpoint(&self, address: u64) -> bool {
        self.breakpoints.contains(&address)
    }

    /// Remembers `stop` as the last stop and gives it back.
    pub fn record(&mut self, stop: StopReason) -> StopReason {
        self.last_stop = Some(stop.clone());
        stop
    }

    /// Why the guest last stopped, if it has run under the debugger.
    pub fn last_stop(&self) -> Option<&StopReason> {
        self.last_stop.as_ref()
    }
}
