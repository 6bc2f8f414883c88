//! Guest faults: what stopped the guest abnormally ([`X86FaultKind`], [`X86Fault`]), the
//! signal a Linux process would get for each, and the conversions from what the engines and
//! the block decoder report.

use super::X86Machine;
use crate::cpu::Cpu;
use crate::cpu::ExecError;
use crate::engine::DecodeFailure;
use crate::linux::FaultSignal;
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
    /// A general protection fault other than a privileged instruction (SIGSEGV): a bad
    /// segment selector loaded, a far transfer to a code segment user mode may not run,
    /// `int N` through a gate closed to user mode.
    GeneralProtection {
        /// The exception's error code (a selector, or an IDT entry as `N << 3 | 2`).
        error_code: u32,
    },
    /// A segment selector loaded names a descriptor marked not present (SIGBUS, as Linux
    /// delivers #NP).
    SegmentNotPresent {
        /// The exception's error code (the selector).
        error_code: u32,
    },
    /// `bound` found its index out of bounds (#BR: SIGSEGV).
    BoundRange,
    /// `into` with OF set, or `int 4` (#OF, a trap: SIGSEGV); eip is the next instruction.
    Overflow,
    /// The trap flag: the instruction before eip ran with TF set (SIGTRAP).
    Trap,
    /// `int3`: the breakpoint instruction before eip (SIGTRAP, as the kernel's own).
    Breakpoint,
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
            X86FaultKind::Memory(_)
            | X86FaultKind::Privileged
            | X86FaultKind::GeneralProtection { .. }
            | X86FaultKind::BoundRange
            | X86FaultKind::Overflow => Signal::SEGV,
            X86FaultKind::SegmentNotPresent { .. } => Signal::BUS,
            X86FaultKind::IllegalInstruction(_) => Signal::ILL,
            X86FaultKind::DivideError | X86FaultKind::X87Exception(_) => Signal::FPE,
            X86FaultKind::Trap | X86FaultKind::Breakpoint => Signal::TRAP,
            X86FaultKind::UnsupportedSyscall { .. } => Signal::SYS,
        }
    }

    /// The signal as the kernel delivers it for the instruction at `eip`: number,
    /// `si_code` and `si_addr`, as Linux i386 fills them for each exception.
    pub fn fault_signal(&self, eip: u32) -> FaultSignal {
        // si_code values of <asm-generic/siginfo.h>.
        const SI_KERNEL: i32 = 0x80;
        const SEGV_MAPERR: i32 = 1;
        const SEGV_ACCERR: i32 = 2;
        const ILL_ILLOPN: i32 = 2;
        const FPE_INTDIV: i32 = 1;
        const TRAP_TRACE: i32 = 2;
        let (code, addr) = match self {
            X86FaultKind::Memory(e @ MemError::Protection { .. }) => {
                (SEGV_ACCERR, e.addr().min(u32::MAX as u64) as u32)
            }
            X86FaultKind::Memory(e) => (SEGV_MAPERR, e.addr().min(u32::MAX as u64) as u32),
            // #GP: the kernel's own si_code, no address.
            X86FaultKind::Privileged
            | X86FaultKind::GeneralProtection { .. }
            | X86FaultKind::SegmentNotPresent { .. }
            | X86FaultKind::BoundRange
            | X86FaultKind::Overflow => (SI_KERNEL, 0),
            X86FaultKind::IllegalInstruction(_) => (ILL_ILLOPN, eip),
            X86FaultKind::DivideError => (FPE_INTDIV, eip),
            X86FaultKind::X87Exception(status) => (x87_si_code(*status), eip),
            X86FaultKind::Trap => (TRAP_TRACE, eip),
            // do_int3_user: force_sig(SIGTRAP), the kernel's si_code, no address.
            X86FaultKind::Breakpoint => (SI_KERNEL, 0),
            X86FaultKind::UnsupportedSyscall { .. } => (SI_KERNEL, eip),
        };
        let (trapno, error_code) = self.trap();
        FaultSignal {
            signal: self.signal().number(),
            code,
            addr,
            trapno,
            error_code,
        }
    }

    /// The exception's vector and error code, as the kernel saves them in the signal
    /// frame's `sigcontext` (`trapno`, `err`).
    pub fn trap(&self) -> (u32, u32) {
        // Page-fault error code bits: a protection violation (else not present), a write,
        // user mode, an instruction fetch.
        const PF_PROT: u32 = 1;
        const PF_WRITE: u32 = 2;
        const PF_USER: u32 = 4;
        const PF_INSTR: u32 = 0x10;
        match self {
            X86FaultKind::Memory(e) => {
                let access = match e {
                    MemError::OutOfBounds { access, .. }
                    | MemError::Unmapped { access, .. }
                    | MemError::Protection { access, .. } => *access,
                };
                let mut err = PF_USER;
                if matches!(e, MemError::Protection { .. }) {
                    err |= PF_PROT;
                }
                err |= match access {
                    vmkit_mem::Access::Write => PF_WRITE,
                    vmkit_mem::Access::Execute => PF_INSTR,
                    vmkit_mem::Access::Read => 0,
                };
                (14, err)
            }
            X86FaultKind::IllegalInstruction(_) => (6, 0),
            X86FaultKind::DivideError => (0, 0),
            X86FaultKind::X87Exception(_) => (16, 0),
            X86FaultKind::Privileged => (13, 0),
            X86FaultKind::GeneralProtection { error_code } => (13, *error_code),
            X86FaultKind::SegmentNotPresent { error_code } => (11, *error_code),
            X86FaultKind::BoundRange => (5, 0),
            X86FaultKind::Overflow => (4, 0),
            X86FaultKind::Trap => (1, 0),
            X86FaultKind::Breakpoint => (3, 0),
            X86FaultKind::UnsupportedSyscall { .. } => (0, 0),
        }
    }

    /// The fault an instruction's execution error is.
    pub(super) fn of_exec_error(e: ExecError) -> X86FaultKind {
        match e {
            ExecError::Memory(m) => X86FaultKind::Memory(m),
            ExecError::Divide => X86FaultKind::DivideError,
            ExecError::X87(status) => X86FaultKind::X87Exception(status),
            ExecError::GeneralProtection(error_code) => {
                X86FaultKind::GeneralProtection { error_code }
            }
            ExecError::SegmentNotPresent(error_code) => {
                X86FaultKind::SegmentNotPresent { error_code }
            }
            ExecError::BoundRange => X86FaultKind::BoundRange,
            ExecError::Overflow { .. } => X86FaultKind::Overflow,
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
            X86FaultKind::GeneralProtection { error_code } => write!(
                f,
                "general protection fault, error code {error_code:#x} (a segment selector, far \
                 transfer or interrupt gate user mode may not use)"
            ),
            X86FaultKind::SegmentNotPresent { error_code } => {
                write!(f, "segment not present (selector {error_code:#x})")
            }
            X86FaultKind::BoundRange => write!(f, "bound range exceeded"),
            X86FaultKind::Overflow => write!(f, "overflow trap (`into` with OF set, or `int 4`)"),
            X86FaultKind::Trap => write!(f, "trace trap (the trap flag is set)"),
            X86FaultKind::Breakpoint => write!(f, "breakpoint trap (`int3`)"),
            X86FaultKind::UnsupportedSyscall { nr, name } => {
                write!(f, "unsupported system call {nr} ({name})")
            }
        }
    }
}

/// The `si_code` Linux gives an unmasked x87 exception (`fpu__exception_code`): the
/// first raised of invalid operation, zero divide, overflow, underflow (or denormal),
/// precision.
fn x87_si_code(status: u16) -> i32 {
    const FPE_FLTDIV: i32 = 3;
    const FPE_FLTOVF: i32 = 4;
    const FPE_FLTUND: i32 = 5;
    const FPE_FLTRES: i32 = 6;
    const FPE_FLTINV: i32 = 7;
    if status & 0x01 != 0 {
        FPE_FLTINV
    } else if status & 0x04 != 0 {
        FPE_FLTDIV
    } else if status & 0x08 != 0 {
        FPE_FLTOVF
    } else if status & 0x12 != 0 {
        FPE_FLTUND
    } else if status & 0x20 != 0 {
        FPE_FLTRES
    } else {
        0
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
