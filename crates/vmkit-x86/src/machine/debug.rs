//! The x86 machine as a [`DebugTarget`] (architecture `i386`): the registers of
//! [`REGISTER_NAMES`](super::REGISTER_NAMES) by name, memory whatever the page protection,
//! breakpoints at addresses, single steps and budgeted runs, and why the guest stopped.
//!
//! With no breakpoint set, [`DebugTarget::resume`] runs the selected engine on whole blocks
//! ([`X86Machine::run_for`]), so a debugger that is only attached costs nothing. With
//! breakpoints, the run loop goes one instruction at a time and stops before any instruction
//! at a breakpoint's address (the `until` addresses of the run loop, which
//! [`X86Machine::run_from`] also uses), exactly, without changing a byte of guest memory.

use super::context::register_bits;
use super::{X86Exit, X86Machine};
use vmkit_vm::debug::{DebugError, DebugState, DebugTarget, RegisterInfo, StopReason};

/// The registers a debugger lists, in GDB's i386 order: the general registers, eip,
/// eflags, the segment selectors, the segment bases and the x87 control words. Their
/// 16- and 8-bit parts (`ax`, `al`...) can be read and written by name too.
static REGISTERS: [RegisterInfo; 21] = {
    const fn reg(name: &'static str, bits: u32) -> RegisterInfo {
        RegisterInfo { name, bits }
    }
    [
        reg("eax", 32),
        reg("ecx", 32),
        reg("edx", 32),
        reg("ebx", 32),
        reg("esp", 32),
        reg("ebp", 32),
        reg("esi", 32),
        reg("edi", 32),
        reg("eip", 32),
        reg("eflags", 32),
        reg("cs", 16),
        reg("ss", 16),
        reg("ds", 16),
        reg("es", 16),
        reg("fs", 16),
        reg("gs", 16),
        reg("fs_base", 32),
        reg("gs_base", 32),
        reg("fctrl", 16),
        reg("fstat", 16),
        reg("ftag", 16),
    ]
};

impl X86Machine {
    /// How a run's end looks to a debugger.
    fn stop_of(&self, exit: X86Exit) -> StopReason {
        match exit {
            X86Exit::Exited(_) => StopReason::Exited {
                status: exit.status(),
            },
            X86Exit::StepLimit => StopReason::BudgetExhausted,
            X86Exit::Until => StopReason::Breakpoint {
                address: self.cpu.eip as u64,
            },
            // An embedder's hook stopped the run, not the program.
            X86Exit::Stopped => StopReason::Requested {
                address: self.cpu.eip as u64,
            },
            X86Exit::Fault(f) => StopReason::Signal {
                signal: f.kind.signal(),
                address: f.eip as u64,
                message: f.kind.to_string(),
            },
        }
    }

    fn record_stop(&mut self, stop: StopReason) -> StopReason {
        self.debug.record(stop)
    }

    /// Runs at most `budget` instructions, the first even if it is at a breakpoint, and
    /// stops before any later instruction at a breakpoint.
    fn run_to_breakpoint(&mut self, budget: u64) -> StopReason {
        // Breakpoints above 4 GiB can never be reached; `until` is sorted as the set is.
        let until: Vec<u32> = self
            .debug
            .breakpoints()
            .filter_map(|a| u32::try_from(a).ok())
            .collect();
        if budget == 0 {
            return StopReason::BudgetExhausted;
        }
        let exit = match self.run_loop(1, &[]) {
            X86Exit::StepLimit => self.run_loop(budget - 1, &until),
            exit => exit,
        };
        match exit {
            // The budget ran out exactly at a breakpoint: report the breakpoint.
            X86Exit::StepLimit if until.binary_search(&self.cpu.eip).is_ok() => {
                StopReason::Breakpoint {
                    address: self.cpu.eip as u64,
                }
            }
            exit => self.stop_of(exit),
        }
    }
}

impl DebugTarget for X86Machine {
    fn debug_state(&self) -> &DebugState {
        &self.debug
    }

    fn debug_state_mut(&mut self) -> &mut DebugState {
        &mut self.debug
    }

    fn architecture(&self) -> &'static str {
        "i386"
    }

    fn registers(&self) -> &[RegisterInfo] {
        &REGISTERS
    }

    fn read_register(&self, name: &str) -> Result<u64, DebugError> {
        X86Machine::read_register(self, name)
            .map(u64::from)
            .ok_or_else(|| DebugError::UnknownRegister(name.to_string()))
    }

    fn write_register(&mut self, name: &str, value: u64) -> Result<(), DebugError> {
        let bits = register_bits(name).ok_or_else(|| DebugError::UnknownRegister(name.into()))?;
        if value >> bits != 0 {
            return Err(DebugError::BadRegisterValue {
                name: name.to_string(),
                value,
            });
        }
        X86Machine::write_register(self, name, value as u32);
        Ok(())
    }

    fn pc(&self) -> u64 {
        self.cpu.eip as u64
    }

    fn read_memory(&self, address: u64, len: u64) -> Result<Vec<u8>, DebugError> {
        let error = DebugError::Memory { address, len };
        let (Ok(addr), Ok(n)) = (u32::try_from(address), u32::try_from(len)) else {
            return Err(error);
        };
        X86Machine::read_memory(self, addr, n)
            .map(<[u8]>::to_vec)
            .map_err(|_| error)
    }

    fn write_memory(&mut self, address: u64, data: &[u8]) -> Result<(), DebugError> {
        let error = DebugError::Memory {
            address,
            len: data.len() as u64,
        };
        let (Ok(addr), Ok(_)) = (u32::try_from(address), u32::try_from(data.len())) else {
            return Err(error);
        };
        X86Machine::write_memory(self, addr, data).map_err(|_| error)
    }

    fn step(&mut self) -> StopReason {
        let stop = match self.run_for(1) {
            X86Exit::StepLimit => StopReason::Stepped,
            exit => self.stop_of(exit),
        };
        self.record_stop(stop)
    }

    fn resume(&mut self, budget: u64) -> StopReason {
        let stop = if !self.debug.has_breakpoints() {
            let exit = self.run_for(budget);
            self.stop_of(exit)
        } else {
            self.run_to_breakpoint(budget)
        };
        self.record_stop(stop)
    }
}
