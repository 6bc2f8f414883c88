//! The run loop: runs the engine until something needs the facade (a system call, a fault,
//! a store into decoded code, a hook), hands it to the Linux personality or the hooks, and
//! turns what ends the run into an [`X86Exit`].

use super::X86Machine;
use crate::cpu::flags::TF;
use crate::cpu::EAX;
use crate::engine::{EngineEvent, EngineFault, EngineStop};
use crate::linux::process::Ending;
use crate::linux::{self, Boundary, FaultDelivery, Kernel, SyscallOutcome};
use crate::machine::fault::{X86Fault, X86FaultKind};
use crate::machine::hooks::{HookAction, InvalidAccess, InvalidAccessAction, MemAccess};
use vmkit_vm::signal::STEP_LIMIT_STATUS;

/// How a run ended: produced by [`X86Machine::run`], [`X86Machine::run_for`] and
/// [`X86Machine::run_from`], read by the embedder (the CLI turns it into the process's
/// exit status with [`X86Exit::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum X86Exit {
    /// The guest called exit/exit_group with this status.
    Exited(i32),
    /// The instruction budget ran out; eip is the next instruction.
    StepLimit,
    /// The guest faulted.
    Fault(Box<X86Fault>),
    /// A hook stopped the run ([`crate::HookCtx::stop`]); eip is the next instruction.
    Stopped,
    /// eip reached the `until` address of [`X86Machine::run_from`] (or, under a debugger, a
    /// breakpoint: [`crate::DebugTarget::resume`] reports it as one).
    Until,
}

impl X86Exit {
    /// The status a shell would show: the exit code, or 128+signal for a fault, 124 for the
    /// step limit.
    pub fn status(&self) -> i32 {
        match self {
            X86Exit::Exited(c) => c & 0xFF,
            X86Exit::StepLimit => STEP_LIMIT_STATUS,
            X86Exit::Stopped | X86Exit::Until => 0,
            X86Exit::Fault(f) => f.kind.signal().exit_status(),
        }
    }
}

impl X86Machine {
    /// Runs until the guest exits or faults.
    pub fn run(&mut self) -> X86Exit {
        self.run_for(u64::MAX)
    }

    /// Runs at most `max_steps` instructions. `run_for(1)` single-steps: eip is then the
    /// next instruction, as a debugger's step needs.
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // mov eax, 5 ; add eax, eax
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &[0xB8, 5, 0, 0, 0, 0x01, 0xC0]).unwrap();
    /// assert_eq!(vm.run_for(1), X86Exit::StepLimit);
    /// assert_eq!((vm.cpu().eip, vm.read_register("eax")), (0x1005, Some(5)));
    /// ```
    pub fn run_for(&mut self, max_steps: u64) -> X86Exit {
        self.run_loop(max_steps, &[])
    }

    /// Unicorn's `emu_start`: runs from `begin` until eip reaches `until` (before executing
    /// the instruction there; [`X86Exit::Until`]), the guest exits or faults, a hook stops
    /// the run, or `max_steps` instructions have run.
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// use vmkit_x86::cpu::EAX;
    /// // 0x1000: mov eax, 5 ; add eax, eax ; nop
    /// let code = [0xB8, 5, 0, 0, 0, 0x01, 0xC0, 0x90];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code).unwrap();
    /// assert_eq!(vm.run_from(0x1000, Some(0x1007), u64::MAX), X86Exit::Until);
    /// assert_eq!(vm.cpu().regs[EAX], 10);
    /// ```
    pub fn run_from(&mut self, begin: u32, until: Option<u32>, max_steps: u64) -> X86Exit {
        self.cpu.eip = begin;
        self.run_loop(max_steps, until.as_slice())
    }

    /// Before one instrumented instruction: code and interrupt hooks, and the memory
    /// accesses it will make. `Err` ends the run; `Ok(None)` means an interrupt hook
    /// replaced the instruction.
    fn before_instruction(&mut self) -> Result<Option<Vec<MemAccess>>, X86Exit> {
        let eip = self.cpu.eip;
        let Some(insn) = self.engines.first_instruction(&mut self.mem, eip) else {
            // Nothing decodes here: the run faults without calling hooks.
            return Ok(Some(Vec::new()));
        };
        if self
            .hooks
            .on_code(&mut self.cpu, &mut self.mem, eip, insn.len() as u32)
        {
            return Err(X86Exit::Stopped);
        }
        let vector = match insn.mnemonic() {
            iced_x86::Mnemonic::Int => Some(insn.immediate8() as u32),
            iced_x86::Mnemonic::Int3 => Some(3),
            _ => None,
        };
        if let Some(v) = vector {
            let (action, stop) = self.hooks.on_event(false, &mut self.cpu, &mut self.mem, v);
            if action == HookAction::Handled {
                self.cpu.eip = insn.next_ip32();
                self.steps += 1;
                return if stop {
                    Err(X86Exit::Stopped)
                } else {
                    Ok(None)
                };
            }
            if stop {
                return Err(X86Exit::Stopped);
            }
        }
        Ok(Some(if self.hooks.wants_mem() {
            self.hooks.accesses(&self.cpu, &self.mem, &insn)
        } else {
            Vec::new()
        }))
    }

    /// Runs at most `max_steps` instructions, stopping with [`X86Exit::Until`] before any
    /// instruction at an address of `until` (sorted; `run_from`'s address or a debugger's
    /// breakpoints). With `until` empty and no per-instruction hook the engine runs whole
    /// blocks; otherwise one instruction at a time. In a host process forked for a guest
    /// `fork`, the run never returns: the process ends as its guest process did.
    pub(super) fn run_loop(&mut self, max_steps: u64, until: &[u32]) -> X86Exit {
        let exit = self.run_engine(max_steps, until);
        if self.os.is_forked_child() {
            self.end_forked_child(&exit);
        }
        exit
    }

    /// The end of a forked child's host process: as its guest process ended (the exit
    /// status, or death by the same signal), so that the parent's `wait4` sees what a
    /// native parent sees. vmkit's report of a fault or the step limit goes to stderr only
    /// under `--strace`: natively a child says nothing as it dies (its parent, a shell,
    /// says `Segmentation fault` if it wants), and the host's stderr may not even be the
    /// child's. A forked child never returns to the embedder, whose code belongs to the
    /// first process; a hook's stop ends it with 0.
    fn end_forked_child(&self, exit: &X86Exit) -> ! {
        if self.os.strace() {
            if let Some(report) = self.exit_report(exit) {
                eprint!("{report}");
            }
        }
        let ending = match exit {
            X86Exit::Exited(status) => match self.os.death_signal() {
                Some(sig) => Ending::Signal(sig),
                None => Ending::Exited(*status),
            },
            X86Exit::Fault(f) => Ending::Signal(f.kind.signal().number() as i32),
            X86Exit::StepLimit => Ending::Exited(STEP_LIMIT_STATUS),
            X86Exit::Stopped | X86Exit::Until => Ending::Exited(0),
        };
        linux::process::end_forked_child(ending)
    }

    /// What vmkit says on stderr about how a run ended, when it says anything: a fault
    /// (what, where, after how many instructions, the status) or the step limit. An exit
    /// says nothing.
    pub fn exit_report(&self, exit: &X86Exit) -> Option<String> {
        match exit {
            X86Exit::Exited(_) | X86Exit::Stopped | X86Exit::Until => None,
            X86Exit::StepLimit => Some(format!(
                "vmkit: stopped after {} instructions (--max-steps); next eip={:#010x}\n",
                self.steps(),
                self.cpu().eip
            )),
            X86Exit::Fault(f) => {
                let n = self.steps();
                Some(format!(
                    "vmkit: {f}vmkit: after {n} instruction{}; exit status {}\n",
                    if n == 1 { "" } else { "s" },
                    exit.status()
                ))
            }
        }
    }

    /// [`X86Machine::run_loop`]'s work.
    fn run_engine(&mut self, max_steps: u64, until: &[u32]) -> X86Exit {
        let instrumented = !until.is_empty() || self.hooks.any_per_instruction();
        // The embedder may have written over decoded code between runs.
        self.engines.drop_written_code(&mut self.mem);
        let mut left = max_steps;
        loop {
            if left == 0 {
                return X86Exit::StepLimit;
            }
            let mut accesses = Vec::new();
            if instrumented {
                if until.binary_search(&self.cpu.eip).is_ok() {
                    return X86Exit::Until;
                }
                match self.before_instruction() {
                    Err(exit) => return exit,
                    Ok(None) => {
                        left -= 1;
                        continue;
                    }
                    Ok(Some(a)) => accesses = a,
                }
            }
            // With the trap flag set, each instruction is followed by a trace trap.
            let trapping = self.cpu.eflags & TF != 0;
            let mut budget = if instrumented || trapping {
                1
            } else {
                left.min(self.os.time_slice())
            };
            let before = budget;
            // Segments with a base other than fs and gs (an LDT selector in ds, es or ss)
            // are added by the reference semantics only.
            // Single-stepping goes through the reference semantics too (a repeated string
            // instruction traps after each iteration).
            let reference = instrumented || trapping || self.cpu.segmented();
            let stop = self
                .engines
                .run(&mut self.cpu, &mut self.mem, &mut budget, reference);
            let done = before - budget;
            // A load of ss holds the trace trap back for one instruction.
            let shadow = std::mem::take(&mut self.cpu.trap_shadow);
            left -= done;
            self.steps += done;
            self.os.ran(done);
            if !accesses.is_empty()
                && !matches!(
                    stop,
                    EngineStop::Fault(EngineFault::Exec(_) | EngineFault::Privileged)
                )
                && self
                    .hooks
                    .on_mem(&mut self.cpu, &mut self.mem, &mut accesses)
            {
                // A store into decoded code must still drop that code.
                if matches!(stop, EngineStop::CodeWritten) {
                    self.engines.drop_written_code(&mut self.mem);
                }
                return X86Exit::Stopped;
            }
            let exit = match stop {
                EngineStop::BudgetSpent if trapping && done == 1 && !shadow => {
                    self.deliver(X86FaultKind::Trap)
                }
                EngineStop::BudgetSpent => None,
                EngineStop::CodeWritten => {
                    self.engines.drop_written_code(&mut self.mem);
                    if trapping && done == 1 && !shadow {
                        self.deliver(X86FaultKind::Trap)
                    } else {
                        None
                    }
                }
                EngineStop::Fault(EngineFault::Undecodable(failure)) => {
                    self.fault_or_retry(X86FaultKind::of_decode_failure(failure))
                }
                EngineStop::Fault(EngineFault::Exec(e)) => {
                    self.fault_or_retry(X86FaultKind::of_exec_error(e))
                }
                EngineStop::Fault(EngineFault::Privileged) => {
                    self.deliver(X86FaultKind::Privileged)
                }
                EngineStop::Event(EngineEvent::SegmentsChanged) if trapping && !shadow => {
                    self.deliver(X86FaultKind::Trap)
                }
                EngineStop::Event(EngineEvent::SegmentsChanged) => None,
                EngineStop::Fault(EngineFault::Breakpoint) => {
                    self.deliver(X86FaultKind::Breakpoint)
                }
                EngineStop::Event(EngineEvent::Syscall { at }) => {
                    // Linux reports no trace trap for `int 0x80` itself: the next one is
                    // after the instruction that follows (as test-i386 sees natively).
                    self.system_call(at, instrumented)
                }
            };
            if let Some(exit) = exit {
                return exit;
            }
            // An interruption point: pending signals, other threads.
            match self.os.at_boundary(&mut self.cpu, &mut self.mem) {
                Boundary::Continue => self.engines.drop_written_code(&mut self.mem),
                Boundary::Exit(status) => return X86Exit::Exited(status),
            }
        }
    }

    /// The system call of the `int 0x80` at `at` (eip is past it): the system-call hooks
    /// when the run is `instrumented`, then the Linux personality. `None`: run on.
    fn system_call(&mut self, at: u32, instrumented: bool) -> Option<X86Exit> {
        if instrumented {
            let nr = self.cpu.regs[EAX];
            let (action, stop) = self.hooks.on_event(true, &mut self.cpu, &mut self.mem, nr);
            if stop {
                return Some(X86Exit::Stopped);
            }
            if action == HookAction::Handled {
                return None;
            }
        }
        match self.os.syscall(&mut self.cpu, &mut self.mem) {
            SyscallOutcome::Resume => None,
            SyscallOutcome::InvalidateCode(range) => {
                self.engines.invalidate(&mut self.mem, range);
                None
            }
            SyscallOutcome::NewImage => {
                self.engines.flush(&mut self.mem);
                None
            }
            SyscallOutcome::Exit(code) => Some(X86Exit::Exited(code)),
            SyscallOutcome::Unsupported(nr) => {
                self.cpu.eip = at;
                Some(self.fault_exit(X86FaultKind::UnsupportedSyscall {
                    nr,
                    name: linux::syscall_name(nr),
                }))
            }
        }
    }

    /// A fault at the instruction at eip, which has changed nothing: a memory fault goes to
    /// the invalid-access hooks covering its address first, which may stop the run there or
    /// have the instruction retried (`None`); anything else ends the run.
    fn fault_or_retry(&mut self, kind: X86FaultKind) -> Option<X86Exit> {
        if let X86FaultKind::Memory(error) = &kind {
            // Guest addresses are 32-bit; only a fault past the end is reported beyond.
            let addr = error.addr().min(u32::MAX as u64) as u32;
            if self.hooks.wants_invalid(addr) {
                let access = InvalidAccess {
                    eip: self.cpu.eip,
                    addr,
                    access: error.access(),
                    error: error.clone(),
                };
                let (action, stop) = self.hooks.on_invalid(&mut self.cpu, &mut self.mem, &access);
                if stop {
                    return Some(X86Exit::Stopped);
                }
                if action == InvalidAccessAction::Retry {
                    // The hook may have mapped code: blocks decoded up to the fault go.
                    self.engines.flush(&mut self.mem);
                    return None;
                }
            }
        }
        self.deliver(kind)
    }

    /// The signal of fault `kind` goes to the personality: a guest handler runs (`None`:
    /// run on), or the process ends with the fault reported.
    fn deliver(&mut self, kind: X86FaultKind) -> Option<X86Exit> {
        let signal = kind.fault_signal(self.cpu.eip);
        match self.os.on_fault(&mut self.cpu, &mut self.mem, signal) {
            FaultDelivery::Handled => None,
            FaultDelivery::Terminate { .. } => Some(self.fault_exit(kind)),
        }
    }

    fn fault_exit(&mut self, kind: X86FaultKind) -> X86Exit {
        X86Exit::Fault(self.fault(kind))
    }
}
