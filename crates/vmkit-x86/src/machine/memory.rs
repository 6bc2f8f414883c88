//! The embedder's view of guest memory: mapping, unmapping and listing regions, and reads
//! and writes that ignore page permissions (a debugger's). Every change here also drops the
//! decoded code it makes stale.

use super::X86Machine;
use vmkit_mem::{MemError, Region};

impl X86Machine {
    /// Maps `[addr, addr + len)` (rounded out to pages) with `perms` (`vmkit_mem::page` bits;
    /// 0 unmaps, `page::MAPPED` alone maps with no access). The contents stay as they were.
    pub fn map(&mut self, addr: u32, len: u32, perms: u8) {
        self.mem.protect(addr as u64, len as u64, perms);
        self.drop_code_on_pages(addr, len);
    }

    /// Unicorn's `mem_unmap`, Linux's `munmap`: unmaps the pages overlapping
    /// `[addr, addr + len)` and gives their host memory back. Accesses then fault as
    /// unmapped; mapped again, the pages read as zero.
    ///
    /// ```
    /// use vmkit_mem::page;
    /// let mut vm = vmkit_x86::X86Machine::new();
    /// vm.map(0x10000, 0x3000, page::R | page::W);
    /// vm.write_memory(0x11000, b"gone").unwrap();
    /// vm.unmap(0x11000, 0x1000);
    /// assert!(!vm.memory().is_mapped(0x11000));
    /// vm.map(0x11000, 0x1000, page::R);
    /// assert_eq!(vm.read_memory(0x11000, 4).unwrap(), [0; 4]);
    /// ```
    pub fn unmap(&mut self, addr: u32, len: u32) {
        self.mem.unmap(addr as u64, len as u64);
        self.drop_code_on_pages(addr, len);
    }

    /// Unicorn's `mem_regions`: the mapped address ranges in ascending order, each a run of
    /// pages with the same permissions (`vmkit_mem::page` bits).
    ///
    /// ```
    /// use vmkit_mem::{page, Region};
    /// let mut vm = vmkit_x86::X86Machine::new();
    /// vm.map(0x10000, 0x2000, page::R | page::X);
    /// vm.map(0x12000, 0x1000, page::R | page::W);
    /// assert_eq!(
    ///     vm.regions(),
    ///     [
    ///         Region { start: 0x10000, len: 0x2000, perms: page::R | page::X },
    ///         Region { start: 0x12000, len: 0x1000, perms: page::R | page::W },
    ///     ]
    /// );
    /// ```
    pub fn regions(&self) -> Vec<Region> {
        self.mem.regions().collect()
    }

    /// `len` bytes of guest memory at `addr`, whatever the pages' permissions (mapped or
    /// not: an unmapped page reads as it was left). Fails only past the end of the address
    /// space.
    pub fn read_memory(&self, addr: u32, len: u32) -> Result<&[u8], MemError> {
        self.mem.peek(addr as u64, len as u64)
    }

    /// Writes `bytes` at `addr` whatever the pages' permissions (a debugger's breakpoint or
    /// patch); decoded code written over is decoded again. Fails only past the end of the
    /// address space.
    pub fn write_memory(&mut self, addr: u32, bytes: &[u8]) -> Result<(), MemError> {
        self.mem.poke(addr as u64, bytes)?;
        self.engines.drop_written_code(&mut self.mem);
        Ok(())
    }

    /// Drops the decoded code on the pages `[addr, addr + len)` touches, whose mapping or
    /// permissions just changed; code on other pages stays decoded.
    fn drop_code_on_pages(&mut self, addr: u32, len: u32) {
        let page = vmkit_mem::PAGE_SIZE;
        let start = addr as u64 / page * page;
        let end = (addr as u64 + len as u64).div_ceil(page) * page;
        self.engines.invalidate(&mut self.mem, start..end);
    }
}
