//! The seam between the facade and the Linux personality: the [`Kernel`] trait, which the
//! run loop calls when the guest makes a system call, when it faults, and at every point
//! where the guest may be interrupted (signals delivered, threads switched); and what each
//! call tells the run loop to do.

use super::signal::{self, death_status};
use super::{strace, syscalls, Completion, Errno, Linux};
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
    /// Resume the guest in a new program: `execve` replaced the address space and the
    /// registers, so all decoded code goes.
    NewImage,
    /// The process exits with this status (128 + signal when a signal ended it).
    Exit(i32),
    /// The call (number) is not implemented and the guest stops on it: with
    /// `--strict-syscalls`, or a call that would be wrong to refuse quietly.
    Unsupported(u32),
}

/// A synchronous signal raised by the guest's own instruction (a CPU exception, or the
/// trap flag), as the kernel describes it in the `siginfo` it delivers. Produced by the
/// facade from its fault; consumed by [`Kernel::on_fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSignal {
    /// The signal number (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP).
    pub signal: u32,
    /// `si_code` (`SEGV_MAPERR`, `FPE_INTDIV`, `TRAP_TRACE`, `SI_KERNEL`, ...).
    pub code: i32,
    /// `si_addr`: the faulting data address for memory faults, the instruction's address
    /// for the others.
    pub addr: u32,
    /// The CPU exception's vector (`sigcontext.trapno`: 14 for a page fault, 13 for a
    /// general protection fault, 1 for the trap flag...).
    pub trapno: u32,
    /// The exception's error code (`sigcontext.err`: the page-fault bits, a selector).
    pub error_code: u32,
}

/// What a fault (a CPU exception a Linux process receives as a signal) does to the process.
/// Produced by [`Kernel::on_fault`]; consumed by the facade, which reports a terminating
/// fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultDelivery {
    /// The signal ends the process with this exit status (128 + signal).
    Terminate {
        /// The exit status.
        status: i32,
    },
    /// A guest handler runs: the personality set up its frame in the registers and memory
    /// it was given; the guest resumes there.
    Handled,
}

/// What the guest does after an interruption point ([`Kernel::at_boundary`]). Produced by
/// the personality; consumed by the facade's run loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// Run on (perhaps in a signal handler, or another thread, whose state is now in the
    /// registers and memory given).
    Continue,
    /// The process ended with this status (128 + signal when a signal ended it).
    Exit(i32),
}

/// The operating-system personality a machine runs its guest under.
pub trait Kernel {
    /// Runs the system call the guest asked for (`int 0x80`): number in eax, arguments in
    /// ebx, ecx, edx, esi, edi, ebp; the result goes to eax.
    fn syscall(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> SyscallOutcome;

    /// Decides what `fault`, raised by the guest's own instruction (eip in `cpu` is that
    /// instruction's, or the next one's for a trap), does to the process: end it, or run
    /// the guest's handler (set up in `cpu` and `mem`).
    fn on_fault(&mut self, cpu: &mut Cpu, mem: &mut Memory, fault: FaultSignal) -> FaultDelivery;

    /// How many instructions the guest may run before the run loop calls
    /// [`Kernel::at_boundary`] again, at most: the time slice of a thread, and how late an
    /// asynchronous signal may be noticed.
    fn time_slice(&self) -> u64;

    /// Told by the run loop, after each engine return, how many instructions the guest
    /// ran: the running thread's share of its time slice.
    fn ran(&mut self, instructions: u64);

    /// Called by the run loop at every point where the guest may be interrupted: after each
    /// system call and fault delivery, and at the end of each time slice. Delivers pending
    /// signals (building their frames in `cpu` and `mem`) and switches threads (swapping
    /// the registers in `cpu`).
    fn at_boundary(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> Boundary;
}

/// The instructions a guest thread runs before the personality looks for signals and other
/// threads (see [`Kernel::time_slice`]). Small enough that a signal waits well under a
/// millisecond; large enough that the check costs nothing measurable.
pub const TIME_SLICE: u64 = 1 << 16;

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
        let completion = match syscalls::dispatch(self, nr, args, cpu, mem) {
            Completion::NotImplemented if self.strict_syscalls => Completion::Unsupported,
            completion => completion,
        };
        let code_changed = self.code_changed.take();
        if self.strace && !self.take_strace_quiet() {
            strace::log(self, nr, args, &completion, mem);
        }
        match completion {
            Completion::NotImplemented => {
                cpu.regs[EAX] = (-Errno::ENOSYS.0) as u32;
                SyscallOutcome::Resume
            }
            Completion::Returned(r) => {
                if r == Err(Errno::ERESTARTSYS) {
                    // A host signal interrupted it: delivery restarts it or makes it EINTR.
                    self.thread_mut().signals.set_interrupted(nr);
                }
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
            Completion::NewImage => SyscallOutcome::NewImage,
            Completion::Killed(sig) => {
                self.record_death(sig);
                signal::report_death(sig);
                let status = death_status(sig);
                self.task.end(status);
                SyscallOutcome::Exit(status)
            }
            Completion::Unsupported => SyscallOutcome::Unsupported(nr),
        }
    }

    /// The signal goes to the guest's handler, or ends the process (see
    /// `signal::deliver`).
    fn on_fault(&mut self, cpu: &mut Cpu, mem: &mut Memory, fault: FaultSignal) -> FaultDelivery {
        self.deliver_fault(cpu, mem, fault)
    }

    /// The rest of the running thread's slice (with one thread, [`TIME_SLICE`]).
    fn time_slice(&self) -> u64 {
        self.slice_left()
    }

    fn ran(&mut self, instructions: u64) {
        self.charge(instructions);
    }

    /// Switches threads first (the scheduler: [`super::thread`]), then delivers the
    /// pending signals the thread to run lets through (see `signal::deliver`).
    fn at_boundary(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> Boundary {
        if let Some(end) = self.schedule(cpu) {
            return end;
        }
        if let Some(status) = self.task.ended() {
            return Boundary::Exit(status);
        }
        self.deliver_signals(cpu, mem)
    }
}
