//! The seam between the facade and the Linux personality: the [`Kernel`] trait, which the
//! run loop calls when the guest makes a system call, when it faults, and to learn which
//! thread runs next; and what each call tells the run loop to do.

use super::signal::{self, death_status};
use super::{strace, syscalls, Completion, Linux};
use crate::cpu::{Cpu, EAX, EBP, EBX, ECX, EDI, EDX, ESI};
use std::ops::Range;
use vmkit_mem::Memory;

/// What a system call asks of the run loop. Produced by [`Kernel::syscall`]; consumed by
/// the facade's run loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyscallOutcome {
    /// Resume the guest; the result is in eax.
    Resume,
    /// Resume the guest (the result is in eax), after dropping decoded code in this address
    /// range: the call changed page mappings or protections there.
    InvalidateCode(Range<u64>),
    /// The process exits with this status (128 + signal when a signal ended it).
    Exit(i32),
    /// The call (number) is not implemented; the guest stops on it.
    Unsupported(u32),
}

/// What a fault (a CPU exception a Linux process receives as a signal) does to the process.
/// Produced by [`Kernel::on_fault`]; consumed by the facade, which reports the fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultDelivery {
    /// The signal ends the process with this exit status (128 + signal). Guest signal
    /// handlers are never run, so this is the only delivery there is today.
    Terminate {
        /// The exit status.
        status: i32,
    },
}

/// The operating-system personality a machine runs its guest under.
pub trait Kernel {
    /// Runs the system call the guest asked for (`int 0x80`): number in eax, arguments in
    /// ebx, ecx, edx, esi, edi, ebp; the result goes to eax.
    fn syscall(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> SyscallOutcome;

    /// Decides what signal `signal`, raised by a fault of the guest's own instruction,
    /// does to the process.
    fn on_fault(&mut self, signal: u32) -> FaultDelivery;

    /// The id of the thread to run next, `None` once the process has ended. The
    /// personality has one thread, the process itself.
    fn next_thread(&mut self) -> Option<u32>;
}

impl Kernel for Linux {
    fn syscall(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> SyscallOutcome {
        let nr = cpu.regs[EAX];
        let args = [
            cpu.regs[EBX],
            cpu.regs[ECX],
            cpu.regs[EDX],
            cpu.regs[ESI],
            cpu.regs[EDI],
            cpu.regs[EBP],
        ];
        self.note = None;
        self.code_changed = None;
        let completion = syscalls::dispatch(self, nr, args, cpu, mem);
        let code_changed = self.code_changed.take();
        if self.strace {
            strace::log(self, nr, args, &completion, mem);
        }
        match completion {
            Completion::Returned(r) => {
                cpu.regs[EAX] = match r {
                    Ok(v) => v,
                    Err(e) => (-e.0) as u32,
                };
                match code_changed {
                    Some(range) => SyscallOutcome::InvalidateCode(range),
                    None => SyscallOutcome::Resume,
                }
            }
            Completion::Exited(code) => {
                self.task.end(code);
                SyscallOutcome::Exit(code)
            }
            Completion::Killed(sig) => {
                signal::report_death(sig);
                let status = death_status(sig);
                self.task.end(status);
                SyscallOutcome::Exit(status)
            }
            Completion::Unsupported => SyscallOutcome::Unsupported(nr),
        }
    }

    /// Handlers are never run, so a fault ends the process, as the signal's default action
    /// does.
    fn on_fault(&mut self, signal: u32) -> FaultDelivery {
        let status = death_status(signal as i32);
        self.task.end(status);
        FaultDelivery::Terminate { status }
    }

    fn next_thread(&mut self) -> Option<u32> {
        self.task.next_thread()
    }
}
