//! The native machine as a [`DebugTarget`]: registers `r0`..`r15`, `sp`, `ip` and `flags`,
//! memory without page protection, breakpoints at addresses, single steps and budgeted runs.
//!
//! With no breakpoint set, [`DebugTarget::resume`] runs through the fast dispatch loop
//! ([`Machine::run_for`]); with breakpoints, it runs one instruction at a time with the
//! reference semantics and checks the program counter after each, so the fast loop never
//! pays for debugging.

use crate::{Exit, Machine};
use vmkit_isa::Reg;
use vmkit_vm::debug::{DebugError, DebugState, DebugTarget, RegisterInfo, StopReason};
use vmkit_vm::signal::Signal;

macro_rules! registers {
    ($($name:literal)*) => {
        [$(RegisterInfo { name: $name, bits: 64 },)*]
    };
}

/// The registers in debugger order: the register file (as `Reg` numbers them), ip, flags.
static REGISTERS: [RegisterInfo; 19] = registers!(
    "r0" "r1" "r2" "r3" "r4" "r5" "r6" "r7" "r8" "r9" "r10" "r11" "r12" "r13" "r14" "r15"
    "sp" "ip" "flags"
);

/// How a machine's [`Exit`] looks to a debugger.
fn stop_of(exit: Exit, machine: &Machine) -> StopReason {
    match exit {
        Exit::Halted | Exit::Exited(_) => StopReason::Exited {
            status: exit.status(),
        },
        Exit::StepLimit => StopReason::BudgetExhausted,
        Exit::Breakpoint => StopReason::Signal {
            signal: Signal::TRAP,
            address: machine.ip(),
            message: "breakpoint instruction (brk)".to_string(),
        },
        Exit::Fault(f) => StopReason::Signal {
            signal: f.kind.signal(),
            address: f.ip,
            message: f.kind.to_string(),
        },
    }
}

impl Machine {
    fn record_stop(&mut self, stop: StopReason) -> StopReason {
        self.debug.record(stop)
    }
}

impl DebugTarget for Machine {
    fn debug_state(&self) -> &DebugState {
        &self.debug
    }

    fn debug_state_mut(&mut self) -> &mut DebugState {
        &mut self.debug
    }

    fn architecture(&self) -> &'static str {
        "vmkit"
    }

    fn registers(&self) -> &[RegisterInfo] {
        &REGISTERS
    }

    fn read_register(&self, name: &str) -> Result<u64, DebugError> {
        match name {
            "ip" => Ok(self.ip()),
            "flags" => Ok(self.flags()),
            _ => match Reg::parse(name) {
                Some(r) => Ok(self.reg(r)),
                None => Err(DebugError::UnknownRegister(name.to_string())),
            },
        }
    }

    fn write_register(&mut self, name: &str, value: u64) -> Result<(), DebugError> {
        match name {
            "ip" => self.set_ip(value),
            "flags" => self.set_flags(value),
            _ => match Reg::parse(name) {
                Some(r) => self.set_reg(r, value),
                None => return Err(DebugError::UnknownRegister(name.to_string())),
            },
        }
        Ok(())
    }

    fn pc(&self) -> u64 {
        self.ip()
    }

    fn read_memory(&self, address: u64, len: u64) -> Result<Vec<u8>, DebugError> {
        self.read(address, len)
            .map(<[u8]>::to_vec)
            .map_err(|_| DebugError::Memory { address, len })
    }

    fn write_memory(&mut self, address: u64, data: &[u8]) -> Result<(), DebugError> {
        self.write(address, data).map_err(|_| DebugError::Memory {
            address,
            len: data.len() as u64,
        })
    }

    fn step(&mut self) -> StopReason {
        let stop = match Machine::step(self) {
            Some(exit) => stop_of(exit, self),
            None => StopReason::Stepped,
        };
        self.record_stop(stop)
    }

    fn resume(&mut self, budget: u64) -> StopReason {
        if !self.debug.has_breakpoints() {
            let exit = self.run_for(budget);
            let stop = stop_of(exit, self);
            return self.record_stop(stop);
        }
        for _ in 0..budget {
            if let Some(exit) = Machine::step(self) {
                let stop = stop_of(exit, self);
                return self.record_stop(stop);
            }
            if self.debug.is_breakpoint(self.ip()) {
                let stop = StopReason::Breakpoint { address: self.ip() };
                return self.record_stop(stop);
            }
        }
        self.record_stop(StopReason::BudgetExhausted)
    }
}
