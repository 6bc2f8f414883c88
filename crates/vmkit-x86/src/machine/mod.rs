//! The facade: [`X86Machine`], a sandboxed IA-32 user-mode CPU with 4 GiB of guest address
//! space, and the API an embedder drives it with. The only layer that knows the CPU, the
//! engines, the Linux personality and the hooks together.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the machine's parts, construction, accessors, the engine choice |
//! | `load.rs` | loader entry points: flat code and static ELF executables |
//! | `memory.rs` | the embedder's view of guest memory: map, unmap, regions, read, write |
//! | `context.rs` | registers by name, context save and restore |
//! | `personality.rs` | settings of the Linux personality (strace, sandbox, limits) |
//! | `stdio.rs` | captured stdout, scripted stdin |
//! | `hooks.rs` | instrumentation hooks and the registry the run loop calls |
//! | `run.rs` | the run loop and how a run ends ([`X86Exit`]) |
//! | `fault.rs` | guest faults ([`X86Fault`]) and their conversions |
//! | `disasm.rs` | the instruction at an address in Intel syntax |
//! | `debug.rs` | the machine as a [`vmkit_vm::debug::DebugTarget`]: breakpoints, steps, stop reasons |

mod context;
mod debug;
mod disasm;
mod fault;
mod hooks;
mod load;
mod memory;
mod personality;
mod run;
mod stdio;

pub use context::{X86Context, REGISTER_NAMES};
pub use fault::{X86Fault, X86FaultKind};
pub use hooks::{
    HookAction, HookCtx, HookId, InvalidAccess, InvalidAccessAction, MemAccess, MemAccessKind,
};
pub use run::X86Exit;

use crate::cpu::Cpu;
use crate::engine::{Engine, Engines};
use crate::linux::Linux;
use hooks::Hooks;
use vmkit_mem::{Memory, ReserveError};
use vmkit_vm::debug::DebugState;

/// The guest address space: all of 32-bit memory, one host reservation that the host
/// commits page by page as the guest writes (see [`X86Machine::try_new`]).
pub const ADDRESS_SPACE: u64 = 1 << 32;

/// A sandboxed 32-bit x86 user-mode machine.
///
/// ```
/// use vmkit_x86::{X86Exit, X86Machine};
/// // mov eax, 41 ; inc eax ; mov ebx, eax ; mov eax, 1 ; int 0x80   (exit(42))
/// let code = [0xB8, 41, 0, 0, 0, 0x40, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
/// let mut vm = X86Machine::new();
/// vm.load_raw(0x1000, &code).unwrap();
/// assert_eq!(vm.run(), X86Exit::Exited(42));
/// ```
pub struct X86Machine {
    /// Registers and flags.
    cpu: Cpu,
    /// Guest memory (the whole 32-bit address space; unmapped pages fault).
    mem: Memory,
    /// The engines and the decoded code they share, dropped when the guest writes over or
    /// unmaps it.
    engines: Engines,
    /// The Linux personality: process state and system calls.
    os: Linux,
    /// Instructions executed so far.
    steps: u64,
    hooks: Hooks,
    /// Breakpoints and the last stop, for [`vmkit_vm::debug::DebugTarget`].
    debug: DebugState,
}

impl Default for X86Machine {
    /// [`X86Machine::new`]; panics where it does.
    fn default() -> Self {
        X86Machine::new()
    }
}

impl X86Machine {
    /// A machine with nothing mapped. Panics if the host refuses the address space; see
    /// [`X86Machine::try_new`].
    pub fn new() -> X86Machine {
        match X86Machine::try_new() {
            Ok(vm) => vm,
            Err(e) => panic!("{e}"),
        }
    }

    /// A machine with nothing mapped, or why the host refused its memory. The guest's 4 GiB
    /// are one reservation of host address space, none of it committed until the guest
    /// writes to it; an address-space limit (`ulimit -v`) below 4 GiB plus vmkit's own needs
    /// refuses it, and the error says so.
    ///
    /// ```
    /// let vm = vmkit_x86::X86Machine::try_new().expect("4 GiB of address space");
    /// assert_eq!(vm.memory().mapped_bytes(), 0);
    /// ```
    pub fn try_new() -> Result<X86Machine, ReserveError> {
        let mut mem = Memory::try_new(ADDRESS_SPACE)?;
        mem.protect(0, ADDRESS_SPACE, 0);
        Ok(X86Machine {
            cpu: Cpu::default(),
            mem,
            engines: Engines::default(),
            os: Linux::default(),
            steps: 0,
            hooks: Hooks::default(),
            debug: DebugState::default(),
        })
    }

    /// Registers, eip, eflags, segments and the x87 state. Exact between runs and inside
    /// hooks.
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }

    /// The CPU state, to change between runs (a hook changes it through
    /// [`HookCtx::cpu`]).
    pub fn cpu_mut(&mut self) -> &mut Cpu {
        &mut self.cpu
    }

    /// Guest memory: the page table and the bytes of the whole 32-bit address space.
    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// Guest memory, to change between runs. Code written over through it is decoded again
    /// at the next run; to change permissions use [`X86Machine::map`] and
    /// [`X86Machine::unmap`], which also drop decoded code.
    pub fn memory_mut(&mut self) -> &mut Memory {
        &mut self.mem
    }

    /// Chooses the execution engine (see [`Engine`]); an engine this host does not have
    /// ([`Engine::available`]) means the interpreter.
    pub fn set_engine(&mut self, engine: Engine) {
        self.engines.select(engine);
    }

    /// With the translator ([`Engine::Jit`]): translate a block the `n`-th time it runs
    /// (default 3, so that code that runs once, most of a program's start-up, is only
    /// interpreted; 1 translates everything at once, as the tests do to check translated
    /// code). Results do not depend on it, only speed.
    pub fn set_jit_threshold(&mut self, n: u32) {
        self.engines.set_jit_threshold(n);
    }

    /// Instructions executed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}
