//! The initial stack of a Linux i386 process (argc, argv, envp, auxiliary vector) that the
//! kernel builds before jumping to the entry point. The layout (where the stack lies) is
//! the memory map's ([`crate::linux::STACK_TOP`]).

use super::elf::LoadedElf;
use crate::linux::{GUEST_UID, STACK_LIMIT, STACK_SIZE, STACK_TOP};
use vmkit_mem::{page, MemError, Memory};

/// Auxiliary-vector keys used here.
mod at {
    pub const NULL: u32 = 0;
    pub const PHDR: u32 = 3;
    pub const PHENT: u32 = 4;
    pub const PHNUM: u32 = 5;
    pub const PAGESZ: u32 = 6;
    pub const BASE: u32 = 7;
    pub const FLAGS: u32 = 8;
    pub const ENTRY: u32 = 9;
    pub const UID: u32 = 11;
    pub const EUID: u32 = 12;
    pub const GID: u32 = 13;
    pub const EGID: u32 = 14;
    pub const PLATFORM: u32 = 15;
    pub const HWCAP: u32 = 16;
    pub const CLKTCK: u32 = 17;
    pub const SECURE: u32 = 23;
    pub const RANDOM: u32 = 25;
    pub const EXECFN: u32 = 31;
}

/// The 16 bytes behind `AT_RANDOM` (glibc's stack-protector and pointer-guard seed). Fixed,
/// so runs are reproducible; a sandboxed guest gains nothing from host entropy here.
pub const AT_RANDOM_BYTES: [u8; 16] = *b"vmkit-at-random!";

/// Maps the stack and writes argc, argv, envp and the auxiliary vector for the program
/// `elf` (`interp_base`: where its dynamic loader was placed, `AT_BASE`; 0 without one);
/// returns esp.
pub fn build_stack(
    mem: &mut Memory,
    elf: &LoadedElf,
    interp_base: u32,
    argv: &[String],
    envp: &[String],
    hwcap: u32,
) -> Result<u32, MemError> {
    mem.protect(STACK_LIMIT as u64, STACK_SIZE as u64, page::R | page::W);
    let mut sp = STACK_TOP as u64;
    let mut push_bytes = |mem: &mut Memory, bytes: &[u8]| -> Result<u32, MemError> {
        sp -= bytes.len() as u64;
        mem.poke(sp, bytes)?;
        Ok(sp as u32)
    };
    // Strings first, at the very top.
    let execfn = push_bytes(
        mem,
        &[argv.first().map_or("", String::as_str).as_bytes(), b"\0"].concat(),
    )?;
    let mut env_ptrs = Vec::with_capacity(envp.len());
    for s in envp.iter().rev() {
        env_ptrs.push(push_bytes(mem, &[s.as_bytes(), b"\0"].concat())?);
    }
    env_ptrs.reverse();
    let mut arg_ptrs = Vec::with_capacity(argv.len());
    for s in argv.iter().rev() {
        arg_ptrs.push(push_bytes(mem, &[s.as_bytes(), b"\0"].concat())?);
    }
    arg_ptrs.reverse();
    let platform = push_bytes(mem, b"i686\0")?;
    let random = push_bytes(mem, &AT_RANDOM_BYTES)?;

    let auxv: [(u32, u32); 17] = [
        (at::PHDR, elf.phdr),
        (at::PHENT, elf.phent),
        (at::PHNUM, elf.phnum),
        (at::PAGESZ, 4096),
        (at::BASE, interp_base),
        (at::FLAGS, 0),
        (at::ENTRY, elf.entry),
        (at::UID, GUEST_UID),
        (at::EUID, GUEST_UID),
        (at::GID, GUEST_UID),
        (at::EGID, GUEST_UID),
        (at::HWCAP, hwcap),
        (at::CLKTCK, 100),
        (at::SECURE, 0),
        (at::RANDOM, random),
        (at::PLATFORM, platform),
        (at::EXECFN, execfn),
    ];
    let words = 1 + arg_ptrs.len() + 1 + env_ptrs.len() + 1 + 2 * (auxv.len() + 1);
    // esp must be 16-byte aligned at the entry point, as the i386 ABI asks.
    let table = ((sp - 4 * words as u64) & !15) as u32;
    let mut at = table as u64;
    let mut put = |mem: &mut Memory, v: u32| -> Result<(), MemError> {
        mem.poke(at, &v.to_le_bytes())?;
        at += 4;
        Ok(())
    };
    put(mem, argv.len() as u32)?;
    for p in &arg_ptrs {
        put(mem, *p)?;
    }
    put(mem, 0)?;
    for p in &env_ptrs {
        put(mem, *p)?;
    }
    put(mem, 0)?;
    for (k, v) in auxv {
        put(mem, k)?;
        put(mem, v)?;
    }
    put(mem, at::NULL)?;
    put(mem, 0)?;
    Ok(table)
}
