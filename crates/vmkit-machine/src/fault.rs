//! Guest faults: why a machine stopped abnormally, as a value (never a host panic).

use std::fmt;
use vmkit_isa::DecodeError;

pub use vmkit_mem::Access;
use vmkit_mem::MemError;
use vmkit_vm::signal::Signal;

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load, store or fetch was refused: outside memory, unmapped page (page 0 catches
    /// null pointers), or page protection (a store into the constant pool, or W^X).
    Memory(MemError),
    /// The bytes at ip are not an instruction.
    InvalidInstruction(DecodeError),
    /// Division or remainder by zero.
    DivideByZero,
    /// Signed division overflow (MIN / -1).
    DivideOverflow,
    /// A push or call went below the stack limit.
    StackOverflow {
        /// Stack pointer the push would have produced.
        sp: u64,
        /// Lowest allowed stack address.
        limit: u64,
    },
    /// `sys n` with an undefined n.
    BadSyscall(u8),
    /// `hcall n` where n is not in the import table or the import is not registered.
    UnknownHostFunction {
        /// Import index.
        index: u16,
        /// Import name, if the table has one.
        name: Option<String>,
    },
    /// The guest wrote to a pipe whose reader has gone (a process would get SIGPIPE).
    BrokenPipe,
    /// A host function reported an error.
    HostError {
        /// Host function name.
        name: String,
        /// Its message.
        message: String,
    },
}

impl From<MemError> for FaultKind {
    fn from(e: MemError) -> FaultKind {
        FaultKind::Memory(e)
    }
}

impl FaultKind {
    /// The POSIX signal a process would receive for this fault (its exit status is
    /// [`Signal::exit_status`], 128+n).
    pub fn signal(&self) -> Signal {
        match self {
            FaultKind::InvalidInstruction(_) | FaultKind::BadSyscall(_) => Signal::ILL,
            FaultKind::DivideByZero | FaultKind::DivideOverflow => Signal::FPE,
            FaultKind::UnknownHostFunction { .. } | FaultKind::HostError { .. } => Signal::ABRT,
            FaultKind::BrokenPipe => Signal::PIPE,
            FaultKind::Memory(_) | FaultKind::StackOverflow { .. } => Signal::SEGV,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Memory(e) => write!(f, "{e}"),
            FaultKind::InvalidInstruction(e) => write!(f, "invalid instruction: {e}"),
            FaultKind::DivideByZero => write!(f, "division by zero"),
            FaultKind::DivideOverflow => write!(f, "signed division overflow"),
            FaultKind::StackOverflow { sp, limit } => {
                write!(
                    f,
                    "stack overflow: sp would be {sp:#x}, below the stack limit {limit:#x}"
                )
            }
            FaultKind::BadSyscall(n) => write!(f, "undefined system call {n}"),
            FaultKind::UnknownHostFunction { index, name } => match name {
                Some(n) => write!(f, "host function `{n}` (import {index}) is not registered"),
                None => write!(f, "hcall {index}: the image has no import with that index"),
            },
            FaultKind::BrokenPipe => write!(f, "write to a closed pipe (SIGPIPE)"),
            FaultKind::HostError { name, message } => {
                write!(f, "host function `{name}` failed: {message}")
            }
        }
    }
}

/// A fault with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong.
    pub kind: FaultKind,
    /// Address of the faulting instruction.
    pub ip: u64,
    /// The faulting instruction in assembler syntax, when it decoded.
    pub instr_text: Option<String>,
    /// Registers r0..r15, sp at the fault (the instruction had no effect).
    pub regs: [u64; vmkit_isa::REG_COUNT],
    /// Flags at the fault.
    pub flags: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest fault at ip={:#x}", self.ip)?;
        if let Some(text) = &self.instr_text {
            write!(f, " `{text}`")?;
        }
        writeln!(f, ": {}", self.kind)?;
        f.write_str(&crate::cpu::format_regs(&self.regs, self.ip, self.flags))
    }
}

impl std::error::Error for Fault {}
