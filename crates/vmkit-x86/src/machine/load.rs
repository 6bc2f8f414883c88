//! Loader entry points: flat code ([`X86Machine::load_raw`]) and static Linux executables
//! ([`X86Machine::load_elf`]). Each sets up memory, the registers and the program break;
//! the ELF format and the initial stack are the Linux personality's.

use super::X86Machine;
use crate::cpu::{Cpu, ESP};
use crate::linux::loader::ElfError;
use vmkit_mem::{page, MemError};

impl X86Machine {
    /// PyVM's `execute_file` setup: maps `code` read-write-execute at `base` (plus the rest of
    /// its pages), a 1 MiB stack below 0xC0000000, and points eip at `base`. Nothing else is
    /// set up: the code is expected to exit through `int 0x80`.
    pub fn load_raw(&mut self, base: u32, code: &[u8]) -> Result<(), MemError> {
        let len = (code.len() as u32).max(1);
        self.map(base, len, page::R | page::W | page::X);
        self.mem.poke(base as u64, code)?;
        let stack_top: u32 = 0xC000_0000;
        self.map(stack_top - (1 << 20), 1 << 20, page::R | page::W);
        self.cpu = Cpu::default();
        self.cpu.regs[ESP] = stack_top;
        self.cpu.eip = base;
        Ok(())
    }

    /// Loads a static ELF32 i386 executable as Linux would: maps its segments, builds the
    /// initial stack with `argv`, `envp` and the auxiliary vector, sets up `brk`.
    pub fn load_elf(
        &mut self,
        bytes: &[u8],
        argv: &[String],
        envp: &[String],
    ) -> Result<(), ElfError> {
        self.os.load_program(
            &mut self.cpu,
            &mut self.mem,
            bytes,
            argv,
            envp,
            crate::cpu::cpuid::FEATURES_EDX,
        )?;
        self.engines.flush(&mut self.mem);
        Ok(())
    }
}
