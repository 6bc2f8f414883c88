//! Guest faults: what stopped the guest abnormally ([`X86FaultKind`], [`X86Fault`]), the
//! signal a Linux process would get for each, and the conversions from what the engines and
//! the block decoder report.

use super::X86Machine;
use crate::cpu::Cpu;
use crate::cpu::ExecError;
use crate::engine::DecodeFailure;
use std::fmt;
use vmkit_mem::MemError;
use vmkit_vm::signal::Signal;

/// Why the guest stopped abnormally, as a process would be stopped by a signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum X86FaultKind {
    /// A memory access failed (SIGSEGV).
    Memory(MemError),
    /// Invalid or unimplemented instruction (SIGILL).
    IllegalInstruction(String),
    /// Division by zero or quotient overflow (SIGFPE).
    DivideError,
    /// An unmasked x87 exception, delivered at the next waiting x87 instruction (SIGFPE);
    /// the x87 status word.
    X87Exception(u16),
    /// A privileged instruction in user mode (SIGSEGV, as Linux delivers #GP).
    Privileged,
    /// A system call the Linux personality does not implement.
    UnsupportedSyscall {
        /// Its number.
        nr: u32,
        /// Its name.
        name: &'static str,
    },
}

impl X86FaultKind {
    /// The signal a Linux process would get (its name and exit status come from the
    /// shared table, [`Signal`]).
    pub fn signal(&self) -> Signal {
        match self {
            X86FaultKind::Memory(_) | X86FaultKind::Privileged => Signal::SEGV,
            X86FaultKind::IllegalInstruction(_) => Signal::ILL,
            X86FaultKind::DivideError | X86FaultKind::X87Exception(_) => Signal::FPE,
            X86FaultKind::UnsupportedSyscall { .. } => Signal::SYS,
        }
    }

    /// The fault an instruction's execution error is.
    pub(super) fn of_exec_error(e: ExecError) -> X86FaultKind {
        match e {
            ExecError::Memory(m) => X86FaultKind::Memory(m),
            ExecError::Divide => X86FaultKind::DivideError,
            ExecError::X87(status) => X86FaultKind::X87Exception(status),
            ExecError::Unimplemented(iced_x86::Mnemonic::Ud2) => {
                X86FaultKind::IllegalInstruction("ud2 raises the invalid-opcode exception".into())
            }
            ExecError::Unimplemented(m) => X86FaultKind::IllegalInstruction(format!(
                "`{}` is not implemented by this emulator",
                format!("{m:?}").to_lowercase()
            )),
        }
    }

    /// The fault of code that could not be fetched or decoded.
    pub(super) fn of_decode_failure(failure: DecodeFailure) -> X86FaultKind {
        match failure {
            DecodeFailure::Fetch(e) => X86FaultKind::Memory(e),
            DecodeFailure::Invalid { bytes, .. } => {
                let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                X86FaultKind::IllegalInstruction(format!("bytes {} do not decode", hex.join(" ")))
            }
        }
    }
}

impl fmt::Display for X86FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            X86FaultKind::Memory(e) => write!(f, "{e}"),
            X86FaultKind::IllegalInstruction(what) => write!(f, "illegal instruction: {what}"),
            X86FaultKind::DivideError => write!(f, "divide error"),
            X86FaultKind::X87Exception(status) => {
                let names = [
                    "invalid operation",
                    "denormal operand",
                    "zero divide",
                    "overflow",
                    "underflow",
                    "precision",
                ];
                let raised: Vec<&str> = (0..6)
                    .filter(|b| status & (1 << b) != 0)
                    .map(|b| names[b])
                    .collect();
                write!(
                    f,
                    "x87 floating-point exception ({}; status word {status:#06x})",
                    raised.join(", ")
                )
            }
            X86FaultKind::Privileged => write!(f, "privileged instruction in user mode"),
            X86FaultKind::UnsupportedSyscall { nr, name } => {
                write!(f, "unsupported system call {nr} ({name})")
            }
        }
    }
}

/// A guest fault with the instruction and registers at the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Fault {
    /// What went wrong.
    pub kind: X86FaultKind,
    /// Address of the faulting instruction.
    pub eip: u32,
    /// The instruction in Intel syntax, when it decoded.
    pub instr_text: Option<String>,
    /// Registers at the fault.
    pub cpu: Cpu,
}

impl fmt::Display for X86Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signal = self.kind.signal();
        write!(
            f,
            "{} (signal {}) at eip={:#010x}",
            signal.name(),
            signal.number(),
            self.eip
        )?;
        if let Some(t) = &self.instr_text {
            write!(f, " `{t}`")?;
        }
        writeln!(f, ": {}", self.kind)?;
        f.write_str(&self.cpu.format())
    }
}

impl std::error::Error for X86Fault {}

impl X86Machine {
    /// The fault `kind` at the current instruction, with the registers now.
    pub(super) fn fault(&self, kind: X86FaultKind) -> Box<X86Fault> {
        Box::new(X86Fault {
            kind,
            eip: self.cpu.eip,
            instr_text: self.instr_text_at(self.cpu.eip),
            cpu: self.cpu.clone(),
        })
    }
}
