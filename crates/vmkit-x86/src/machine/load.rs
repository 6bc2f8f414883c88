//! Loader entry points: flat code ([`X86Machine::load_raw`]) and Linux executables, static
//! or dynamic ([`X86Machine::load_elf`], or [`X86Machine::load_elf_path`] for a program the
//! sandbox shows, as under `--root`). Each sets up memory, the registers and the program break;
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

    /// Loads an ELF32 i386 executable as Linux would: maps its segments (and a dynamic
    /// executable's loader, `PT_INTERP`, which must be visible in the sandbox: set the
    /// sandbox first), builds the initial stack with `argv`, `envp` and the auxiliary
    /// vector, sets up `brk`.
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

    /// Loads the executable at the guest path `path` (relative to the sandbox's initial
    /// directory), read through the sandbox as `execve` would read it: with
    /// [`Sandbox::root`](crate::Sandbox::root), a program of the root. `/proc/self/exe`
    /// answers `path`, normalized.
    pub fn load_elf_path(
        &mut self,
        path: &str,
        argv: &[String],
        envp: &[String],
    ) -> Result<(), String> {
        let bytes = self
            .os
            .read_guest_file(path.as_bytes(), MAX_PROGRAM_BYTES)
            .map_err(|why| format!("{path}: {why}"))?;
        let exe = crate::linux::normalize(self.os.cwd(), path.as_bytes());
        self.os.set_exe_path(exe);
        self.load_elf(&bytes, argv, envp)
            .map_err(|e| format!("{path}: {e}"))
    }
}

/// Largest executable [`X86Machine::load_elf_path`] reads: 256 MiB.
const MAX_PROGRAM_BYTES: u64 = 256 << 20;
