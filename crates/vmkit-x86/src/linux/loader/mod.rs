//! The loader: what `execve` does for a static ELF32 i386 executable. [`load`] (`elf`) maps
//! the segments; [`build_stack`] (`stack`) writes argc, argv, envp and the auxiliary
//! vector; [`Linux::load_program`] does both and sets up the process (break, registers).

mod elf;
mod stack;

pub use elf::{identify, is_elf, load, ElfError, LoadedElf};
pub use stack::{build_stack, AT_RANDOM_BYTES};

use super::Linux;
use crate::cpu::{Cpu, ESP};
use vmkit_mem::Memory;

impl Linux {
    /// Loads a static ELF32 i386 executable into `mem` as Linux would: maps its segments,
    /// builds the initial stack with `argv`, `envp` and the auxiliary vector (`hwcap` is
    /// `AT_HWCAP`, the CPU's feature bits), sets up `brk`, and resets `cpu` to the entry
    /// point. Code the caller decoded from `mem` before is stale afterwards.
    pub fn load_program(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        bytes: &[u8],
        argv: &[String],
        envp: &[String],
        hwcap: u32,
    ) -> Result<(), ElfError> {
        let elf = load(mem, bytes)?;
        let esp = build_stack(mem, &elf, argv, envp, hwcap)
            .map_err(|e| ElfError::BadSegment(e.to_string()))?;
        *cpu = Cpu::default();
        cpu.regs[ESP] = esp;
        cpu.eip = elf.entry;
        self.brk_start = elf.brk_start;
        self.brk = elf.brk_start;
        self.task = super::task::Task::default();
        Ok(())
    }
}
