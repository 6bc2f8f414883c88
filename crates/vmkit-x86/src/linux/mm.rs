//! The memory map: the address-space layout of an i386 process (stack, mapping area, end of
//! user space) and the calls on it: `brk`, `mmap2` (anonymous, and private copies of
//! files), the old `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`. Mappings are page
//! flags in the guest's own [`Memory`] (`page::MAPPED` keeps a `PROT_NONE` range taken);
//! nothing is shared with the host. A call that changes mappings or protections records the
//! range, which the system call's outcome carries ([`super::SyscallOutcome::InvalidateCode`]).
//!
//! The rules are Linux's (`mm/mmap.c`, `mm/mremap.c`, `mm/madvise.c`) for an unprivileged
//! i386 process under a 32-bit kernel with the 3 GiB / 1 GiB split: user space ends at
//! [`TASK_SIZE`], nothing may be mapped below [`MMAP_MIN_ADDR`], a mapping's length is
//! checked before it is rounded or placed, and the `--memory-limit` is `RLIMIT_AS`: a call
//! that would map more than it allows fails with `ENOMEM` (`brk` keeps the old break).
//!
//! Host memory follows what the guest touches: fresh and unmapped pages are discarded
//! ([`Memory::discard`]), so mapping costs the host nothing until the guest writes.

use super::errno::Errno;
use super::fs::fd::Node;
use super::{guest, Linux};
use std::os::unix::fs::FileExt;
use vmkit_mem::{page, Memory, PAGE_SIZE};

/// Top of the user stack (the classic 3 GiB / 1 GiB split).
pub const STACK_TOP: u32 = 0xC000_0000;
/// Stack reserve: 8 MiB, as `ulimit -s` by default.
pub const STACK_SIZE: u32 = 8 << 20;
/// Lowest stack address; nothing else may be mapped above it.
pub const STACK_LIMIT: u32 = STACK_TOP - STACK_SIZE;
/// Where anonymous `mmap` regions start (they grow upwards).
pub const MMAP_BASE: u32 = 0x4000_0000;

/// End of the guest's user address space: mappings lie below it (a 32-bit kernel's
/// `TASK_SIZE`; an i386 process under a 64-bit kernel gets up to 0xFFFFE000 instead).
pub const TASK_SIZE: u64 = STACK_TOP as u64;
/// Lowest address a mapping may start at (`vm.mmap_min_addr`, as most distributions set
/// it): the guest is unprivileged, so null-pointer pages cannot be mapped.
pub const MMAP_MIN_ADDR: u64 = 0x10000;

fn page_up(v: u64) -> u64 {
    v.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

const MAP_TYPE: u32 = 0x0f;
const MAP_SHARED: u32 = 0x01;
const MAP_PRIVATE: u32 = 0x02;
const MAP_SHARED_VALIDATE: u32 = 0x03;
const MAP_FIXED: u32 = 0x10;
const MAP_ANONYMOUS: u32 = 0x20;
const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;
const PROT_WRITE: u32 = 0x2;
/// `PROT_SEM` (x86): atomic operations allowed; always true here.
const PROT_SEM: u32 = 0x8;

const MREMAP_MAYMOVE: u32 = 1;
const MREMAP_FIXED: u32 = 2;
const MREMAP_DONTUNMAP: u32 = 4;

/// The page flags of a `PROT_*` value: a mapping, with access bits if any.
fn perms(prot: u32) -> u8 {
    page::MAPPED | (prot & 7) as u8
}

/// `PROT_*` bits other than read, write, execute and `PROT_SEM` are refused.
fn check_prot(prot: u32) -> Result<(), Errno> {
    if prot & !(7 | PROT_SEM) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// How many bytes from `addr` (at most `len`, within user space) are mapped without a hole.
fn mapped_prefix(mem: &Memory, addr: u64, len: u64) -> u64 {
    let end = (addr + len).min(TASK_SIZE);
    let mut at = addr;
    while at < end && mem.is_mapped(at) {
        at += PAGE_SIZE;
    }
    at.min(end).saturating_sub(addr)
}

impl Linux {
    /// Sets the guest's address-space limit (`RLIMIT_AS`) in bytes: every mapped page
    /// counts, the program and its stack included. `None` removes it.
    pub fn set_memory_limit(&mut self, limit: Option<u64>) {
        self.memory_limit = limit;
        self.memory_limit_hard = limit;
    }

    /// The guest's address-space limit, if any.
    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    /// The soft and hard `RLIMIT_AS` the guest sees (`u64::MAX`: none).
    pub(super) fn address_space_rlimit(&self) -> (u64, u64) {
        let hard = self.memory_limit_hard.or(self.memory_limit);
        (
            self.memory_limit.unwrap_or(u64::MAX),
            hard.unwrap_or(u64::MAX),
        )
    }

    /// `setrlimit(RLIMIT_AS)` from the guest: an unprivileged process may lower the hard
    /// limit and move the soft one below it (`u64::MAX`: none).
    pub(super) fn set_address_space_rlimit(&mut self, soft: u64, hard: u64) -> Result<(), Errno> {
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        if hard > self.address_space_rlimit().1 {
            return Err(Errno::EPERM);
        }
        let limit = |v: u64| (v != u64::MAX).then_some(v);
        self.memory_limit = limit(soft);
        self.memory_limit_hard = limit(hard);
        Ok(())
    }

    /// `ENOMEM` if mapping `added` new bytes and unmapping `freed` would exceed the memory
    /// limit.
    fn within_limit(&self, mem: &Memory, added: u64, freed: u64) -> Result<(), Errno> {
        let Some(limit) = self.memory_limit else {
            return Ok(());
        };
        if (mem.mapped_bytes() + added).saturating_sub(freed) > limit {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Maps `[start, start + size)` with fresh zero pages (the old contents, if any, go).
    fn map_fresh(&mut self, mem: &mut Memory, start: u64, size: u64, flags: u8) {
        mem.protect(start, size, flags);
        // In range: callers keep mappings below TASK_SIZE.
        let _ = mem.discard(start, size);
        self.note_code_change(start, size);
    }

    /// Unmaps `[start, start + size)` and gives its host memory back.
    fn unmap(&mut self, mem: &mut Memory, start: u64, size: u64) {
        if mem.mapped_bytes_in(start, size) == 0 {
            return;
        }
        mem.protect(start, size, 0);
        let _ = mem.discard(start, size.min(TASK_SIZE.saturating_sub(start)));
        // The next search for free space starts no later than the hole just made.
        if (MMAP_BASE as u64..self.mmap_next as u64).contains(&start) {
            self.mmap_next = start as u32;
        }
        self.note_code_change(start, size);
    }

    /// Free address space for `size` bytes: first fit above the last mapping placed (the
    /// free-area cache), then from [`MMAP_BASE`] (Linux's bottom-up layout).
    pub(super) fn find_area(&mut self, mem: &Memory, size: u64) -> Result<u64, Errno> {
        let from = (self.mmap_next as u64).clamp(MMAP_BASE as u64, TASK_SIZE);
        let start = mem
            .find_unmapped(from, TASK_SIZE, size)
            .or_else(|| mem.find_unmapped(MMAP_BASE as u64, TASK_SIZE.min(from + size), size))
            .ok_or(Errno::ENOMEM)?;
        self.mmap_next = (start + size) as u32;
        Ok(start)
    }

    /// `brk`: moves the program break and answers the break in force (the old one when the
    /// move is refused). Growing needs free space up to one page past the new end, within
    /// user space and the memory limit; new pages are zero, shrinking unmaps.
    pub(super) fn brk(&mut self, mem: &mut Memory, want: u32) -> u32 {
        if want < self.brk_start {
            return self.brk;
        }
        let old_end = page_up(self.brk as u64);
        let new_end = page_up(want as u64);
        if new_end < old_end {
            self.unmap(mem, new_end, old_end - new_end);
        } else if new_end > old_end {
            let grow = new_end - old_end;
            if old_end < MMAP_MIN_ADDR
                || new_end > TASK_SIZE
                || mem.mapped_bytes_in(old_end, grow + PAGE_SIZE) != 0
                || self.within_limit(mem, grow, 0).is_err()
            {
                return self.brk;
            }
            self.map_fresh(mem, old_end, grow, page::R | page::W);
        }
        self.brk = want;
        want
    }

    /// `mmap2(addr, len, prot, flags, fd, pgoffset)`: anonymous mappings, and file mappings
    /// as private copies (a shared mapping is accepted only read-only, where a copy cannot be
    /// told apart).
    pub(super) fn mmap2(&mut self, mem: &mut Memory, a: [u32; 6]) -> Result<u32, Errno> {
        let (addr, len, prot, flags, fd, pgoff) = (a[0] as u64, a[1], a[2], a[3], a[4], a[5]);
        let file = if flags & MAP_ANONYMOUS == 0 {
            Some(self.fds.get(fd)?)
        } else {
            None
        };
        if len == 0
            || !matches!(
                flags & MAP_TYPE,
                MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE
            )
        {
            return Err(Errno::EINVAL);
        }
        check_prot(prot)?;
        // The length is rounded in 64 bits, so 0xffffffff is 4 GiB: more than user space.
        let size = page_up(len as u64);
        if size > TASK_SIZE {
            return Err(Errno::ENOMEM);
        }
        if let Some(file) = &file {
            if flags & MAP_SHARED != 0 && prot & PROT_WRITE != 0 {
                return Err(Errno::ENODEV);
            }
            if !file.borrow().readable() {
                return Err(Errno::EACCES);
            }
            if !matches!(file.borrow().node(), Node::File(_)) {
                return Err(Errno::ENODEV);
            }
        }
        let start = if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
            if addr % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            if addr > TASK_SIZE - size {
                return Err(Errno::ENOMEM);
            }
            if addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            if flags & MAP_FIXED == 0 && mem.mapped_bytes_in(addr, size) != 0 {
                return Err(Errno::EEXIST);
            }
            addr
        } else {
            // A hint is taken when its pages are free; one below the minimum is raised to it.
            let hint = match addr / PAGE_SIZE * PAGE_SIZE {
                0 => 0,
                h => h.max(MMAP_MIN_ADDR),
            };
            if hint != 0 && hint + size <= TASK_SIZE && mem.mapped_bytes_in(hint, size) == 0 {
                hint
            } else {
                self.find_area(mem, size)?
            }
        };
        // Pages a fixed mapping replaces are already counted.
        self.within_limit(mem, size - mem.mapped_bytes_in(start, size), 0)?;
        self.map_fresh(mem, start, size, perms(prot));
        if let Some(file) = file {
            let file = file.borrow();
            if let Node::File(f) = file.node() {
                // Copy what the file has, in chunks: the mapping may be far larger.
                let base = pgoff as u64 * PAGE_SIZE;
                let mut chunk = vec![0u8; 1 << 16];
                let mut done = 0u64;
                while done < len as u64 {
                    let want = chunk.len().min((len as u64 - done) as usize);
                    let n = f.read_at(&mut chunk[..want], base + done)?;
                    if n == 0 {
                        break;
                    }
                    mem.poke(start + done, &chunk[..n])
                        .map_err(|_| Errno::ENOMEM)?;
                    done += n as u64;
                }
            }
        }
        Ok(start as u32)
    }

    /// The old `mmap(struct mmap_arg_struct *)`, offset in bytes.
    pub(super) fn old_mmap(&mut self, mem: &mut Memory, args: u32) -> Result<u32, Errno> {
        // One read of the whole struct: one that runs off the top of memory is EFAULT.
        let raw = guest::bytes(mem, args, 24)?;
        let mut a = [0u32; 6];
        for (v, word) in a.iter_mut().zip(raw.chunks_exact(4)) {
            *v = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        }
        if a[5] as u64 % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        a[5] /= PAGE_SIZE as u32;
        self.mmap2(mem, a)
    }

    /// `munmap`: unmapping nothing is not an error.
    pub(super) fn munmap(&mut self, mem: &mut Memory, addr: u32, len: u32) -> Result<u32, Errno> {
        let (addr, len) = (addr as u64, len as u64);
        if addr % PAGE_SIZE != 0 || addr > TASK_SIZE || len > TASK_SIZE - addr || len == 0 {
            return Err(Errno::EINVAL);
        }
        self.unmap(mem, addr, page_up(len));
        Ok(0)
    }

    /// `mprotect`: every page of the range must be mapped; as in Linux, the pages before
    /// the first hole are changed before `ENOMEM` is returned.
    pub(super) fn mprotect(
        &mut self,
        mem: &mut Memory,
        addr: u32,
        len: u32,
        prot: u32,
    ) -> Result<u32, Errno> {
        let addr = addr as u64;
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        check_prot(prot)?;
        if len == 0 {
            return Ok(0);
        }
        let size = page_up(len as u64);
        let mapped = mapped_prefix(mem, addr, size);
        mem.protect(addr, mapped, perms(prot));
        self.note_code_change(addr, mapped);
        if mapped < size {
            return Err(Errno::ENOMEM);
        }
        Ok(0)
    }

    /// `mincore(addr, len, vec)`: one byte per page of the range, 1 for every mapped page
    /// (guest memory is always resident); a page outside every mapping is `ENOMEM`, as in
    /// Linux, and then nothing is written.
    pub(super) fn mincore(
        &mut self,
        mem: &mut Memory,
        addr: u32,
        len: u32,
        vec: u32,
    ) -> Result<u32, Errno> {
        let addr = addr as u64;
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let size = page_up(len as u64);
        if addr + size > TASK_SIZE || mapped_prefix(mem, addr, size) < size {
            return Err(Errno::ENOMEM);
        }
        guest::store(mem, vec, &vec![1u8; (size / PAGE_SIZE) as usize])?;
        Ok(0)
    }

    /// `madvise`: `MADV_DONTNEED`, `MADV_FREE` and `MADV_DONTNEED_LOCKED` zero the pages
    /// (and give their host memory back); other known advice changes nothing. As in Linux,
    /// the advice applies to the mapped pages of the range and holes give `ENOMEM`.
    pub(super) fn madvise(
        &mut self,
        mem: &mut Memory,
        addr: u32,
        len: u32,
        advice: u32,
    ) -> Result<u32, Errno> {
        const MADV_DONTNEED: u32 = 4;
        const MADV_FREE: u32 = 8;
        const MADV_DONTNEED_LOCKED: u32 = 24;
        let addr = addr as u64;
        // MADV_REMOVE (9) needs a shared file mapping; there are none.
        if addr % PAGE_SIZE != 0 || !matches!(advice, 0..=4 | 8 | 10..=25) {
            return Err(Errno::EINVAL);
        }
        let size = page_up(len as u64);
        if size == 0 {
            return Ok(0);
        }
        if matches!(advice, MADV_DONTNEED | MADV_FREE | MADV_DONTNEED_LOCKED) {
            let end = (addr + size).min(TASK_SIZE);
            let mut at = addr;
            while at < end {
                let run = mapped_prefix(mem, at, end - at);
                let _ = mem.discard(at, run);
                at += run + PAGE_SIZE;
            }
            self.note_code_change(addr, end.saturating_sub(addr));
        }
        if addr + size > TASK_SIZE || !mem.is_all_mapped(addr, size) {
            return Err(Errno::ENOMEM);
        }
        Ok(0)
    }

    /// `mremap(old, old_len, new_len, flags, new_addr)`: shrinks in place, grows in place
    /// when the pages after the mapping are free, else moves (`MREMAP_MAYMOVE`), or moves to
    /// `new_addr` (`MREMAP_FIXED`); `MREMAP_DONTUNMAP` leaves the old range mapped and empty.
    /// The old range must be one mapping: mapped throughout, with one protection.
    pub(super) fn mremap(
        &mut self,
        mem: &mut Memory,
        old: u32,
        old_len: u32,
        new_len: u32,
        flags: u32,
        new_addr: u32,
    ) -> Result<u32, Errno> {
        let (old, new_addr) = (old as u64, new_addr as u64);
        let (old_size, new_size) = (page_up(old_len as u64), page_up(new_len as u64));
        let moves = flags & MREMAP_MAYMOVE != 0;
        let fixed = flags & MREMAP_FIXED != 0;
        let keep_old = flags & MREMAP_DONTUNMAP != 0;
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
            || (fixed || keep_old) && !moves
            || keep_old && old_size != new_size
            || old % PAGE_SIZE != 0
            || new_size == 0
            || old_size == 0
            || new_size > TASK_SIZE
        {
            return Err(Errno::EINVAL);
        }
        if old + old_size > TASK_SIZE || !mem.is_all_mapped(old, old_size) {
            return Err(Errno::EFAULT);
        }
        let flags_of = |a: u64| page::MAPPED | mem.perms_at(a);
        let kind = flags_of(old);
        if (old..old + old_size)
            .step_by(PAGE_SIZE as usize)
            .any(|a| flags_of(a) != kind)
        {
            return Err(Errno::EFAULT);
        }
        // Where the mapping goes, unless it stays.
        let target = if fixed {
            if new_addr % PAGE_SIZE != 0
                || new_addr > TASK_SIZE - new_size
                || new_addr < old + old_size && old < new_addr + new_size
            {
                return Err(Errno::EINVAL);
            }
            if new_addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            let freed = if keep_old { 0 } else { old_size };
            let added = new_size - mem.mapped_bytes_in(new_addr, new_size);
            self.within_limit(mem, added, freed)?;
            self.unmap(mem, new_addr, new_size);
            new_addr
        } else if keep_old {
            self.within_limit(mem, new_size, 0)?;
            self.find_area(mem, new_size)?
        } else if new_size <= old_size {
            self.unmap(mem, old + new_size, old_size - new_size);
            return Ok(old as u32);
        } else {
            let grow = new_size - old_size;
            self.within_limit(mem, grow, 0)?;
            if old + new_size <= TASK_SIZE && mem.mapped_bytes_in(old + old_size, grow) == 0 {
                self.map_fresh(mem, old + old_size, grow, kind);
                return Ok(old as u32);
            }
            if !moves {
                return Err(Errno::ENOMEM);
            }
            self.find_area(mem, new_size)?
        };
        self.map_fresh(mem, target, new_size, kind);
        mem.copy_within(old, target, old_size.min(new_size))
            .map_err(|_| Errno::EFAULT)?;
        if keep_old {
            let _ = mem.discard(old, old_size);
        } else {
            self.unmap(mem, old, old_size);
        }
        Ok(target as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ADDRESS_SPACE;

    fn setup() -> (Linux, Memory) {
        let mut mem = Memory::new(ADDRESS_SPACE);
        mem.protect(0, ADDRESS_SPACE, 0);
        (Linux::default(), mem)
    }

    const ANON: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

    fn mmap(
        os: &mut Linux,
        mem: &mut Memory,
        addr: u32,
        len: u32,
        prot: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        os.mmap2(mem, [addr, len, prot, flags, u32::MAX, 0])
    }

    #[test]
    fn the_whole_address_space_cannot_be_mapped() {
        let (mut os, mut mem) = setup();
        let r = mmap(&mut os, &mut mem, 0, u32::MAX, 0, ANON | MAP_FIXED);
        assert_eq!(r, Err(Errno::ENOMEM));
        assert_eq!(
            mmap(&mut os, &mut mem, 0, u32::MAX, 0, ANON),
            Err(Errno::ENOMEM)
        );
        assert_eq!(mem.mapped_bytes(), 0);
    }

    #[test]
    fn fixed_mappings_follow_linux_rules() {
        let (mut os, mut mem) = setup();
        let m =
            |os: &mut Linux, mem: &mut Memory, addr, len, flags| mmap(os, mem, addr, len, 3, flags);
        assert_eq!(
            m(&mut os, &mut mem, 0, 4096, ANON | MAP_FIXED),
            Err(Errno::EPERM)
        );
        assert_eq!(
            m(&mut os, &mut mem, 0xF000, 4096, ANON | MAP_FIXED),
            Err(Errno::EPERM)
        );
        assert_eq!(
            m(&mut os, &mut mem, 0x10001, 4096, ANON | MAP_FIXED),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            m(&mut os, &mut mem, 0xBFFF_F000, 0x2000, ANON | MAP_FIXED),
            Err(Errno::ENOMEM)
        );
        assert_eq!(
            m(&mut os, &mut mem, 0xD000_0000, 4096, ANON | MAP_FIXED),
            Err(Errno::ENOMEM)
        );
        // A hint below the minimum is raised to it.
        assert_eq!(m(&mut os, &mut mem, 0x1000, 4096, ANON), Ok(0x10000));
        assert_eq!(
            m(&mut os, &mut mem, 0x10000, 4096, ANON | MAP_FIXED),
            Ok(0x10000)
        );
        assert_eq!(
            m(&mut os, &mut mem, 0x10000, 4096, ANON | MAP_FIXED_NOREPLACE),
            Err(Errno::EEXIST)
        );
        assert_eq!(m(&mut os, &mut mem, 0x10000, 0, ANON), Err(Errno::EINVAL));
        assert_eq!(
            m(&mut os, &mut mem, 0x10000, 4096, MAP_ANONYMOUS),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mmap(&mut os, &mut mem, 0, 4096, 0x10, ANON),
            Err(Errno::EINVAL)
        );
        // A taken hint is ignored; an unaligned one is rounded down.
        assert_eq!(m(&mut os, &mut mem, 0x10000, 4096, ANON), Ok(MMAP_BASE));
        assert_eq!(m(&mut os, &mut mem, 0x20001, 4096, ANON), Ok(0x20000));
    }

    #[test]
    fn unmapped_space_is_reused_and_reads_zero() {
        let (mut os, mut mem) = setup();
        let a = mmap(&mut os, &mut mem, 0, 0x10000, 3, ANON).unwrap();
        mem.write(a as u64, 4, 0xdead_beef).unwrap();
        os.munmap(&mut mem, a, 0x10000).unwrap();
        for _ in 0..100_000 {
            let b = mmap(&mut os, &mut mem, 0, 0x10000, 3, ANON).unwrap();
            assert_eq!(b, a, "freed space is used again");
            assert_eq!(mem.read(b as u64, 4), Ok(0));
            os.munmap(&mut mem, b, 0x10000).unwrap();
        }
        // PROT_NONE keeps its range taken.
        let none = mmap(&mut os, &mut mem, 0, 0x1000, 0, ANON).unwrap();
        let next = mmap(&mut os, &mut mem, 0, 0x1000, 3, ANON).unwrap();
        assert_ne!(none, next);
        assert_eq!(os.mprotect(&mut mem, none, 0x1000, 1), Ok(0));
        assert_eq!(
            os.mprotect(&mut mem, 0x3000_0000, 0x1000, 1),
            Err(Errno::ENOMEM)
        );
        // Up to a hole the change is made, then ENOMEM.
        assert_eq!(os.mprotect(&mut mem, next, 0x2000, 1), Err(Errno::ENOMEM));
        assert_eq!(mem.perms_at(next as u64), page::R);
        assert_eq!(os.munmap(&mut mem, 0x3000_0000, 0x1000), Ok(0));
        assert_eq!(os.munmap(&mut mem, 0x3000_0001, 0x1000), Err(Errno::EINVAL));
        assert_eq!(os.munmap(&mut mem, 0x3000_0000, 0), Err(Errno::EINVAL));
        assert_eq!(os.munmap(&mut mem, 0xBFFF_F000, 0x2000), Err(Errno::EINVAL));
    }

    #[test]
    fn the_memory_limit_is_enomem() {
        let (mut os, mut mem) = setup();
        os.brk_start = 0x0810_0000;
        os.brk = os.brk_start;
        os.set_memory_limit(Some(1 << 20));
        let a = mmap(&mut os, &mut mem, 0, 0x80000, 3, ANON).unwrap();
        assert_eq!(
            mmap(&mut os, &mut mem, 0, 0x80001, 3, ANON),
            Err(Errno::ENOMEM)
        );
        // Replacing mapped pages costs nothing extra.
        assert_eq!(
            mmap(&mut os, &mut mem, a, 0x80000, 3, ANON | MAP_FIXED),
            Ok(a)
        );
        assert_eq!(
            os.mremap(&mut mem, a, 0x80000, 0x100001, MREMAP_MAYMOVE, 0),
            Err(Errno::ENOMEM)
        );
        assert_eq!(os.brk(&mut mem, 0x0810_0000 + 0x80001), 0x0810_0000);
        assert_eq!(os.brk(&mut mem, 0x0810_0000 + 0x80000), 0x0818_0000);
        os.munmap(&mut mem, a, 0x80000).unwrap();
        assert_eq!(
            mmap(&mut os, &mut mem, 0, 0x80000, 3, ANON).map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn brk_grows_shrinks_and_stops_at_mappings() {
        let (mut os, mut mem) = setup();
        os.brk_start = 0x0810_0000;
        os.brk = os.brk_start;
        assert_eq!(os.brk(&mut mem, 0), 0x0810_0000);
        assert_eq!(os.brk(&mut mem, 0x0810_2000), 0x0810_2000);
        mem.write(0x0810_1000, 4, 7).unwrap();
        assert_eq!(os.brk(&mut mem, 0x0810_1000), 0x0810_1000);
        assert!(mem.read(0x0810_1000, 4).is_err());
        assert_eq!(os.brk(&mut mem, 0x0810_2000), 0x0810_2000);
        assert_eq!(mem.read(0x0810_1000, 4), Ok(0), "a regrown heap is zero");
        // One free page must stay between the heap and the next mapping.
        mmap(&mut os, &mut mem, 0x0810_4000, 0x1000, 3, ANON | MAP_FIXED).unwrap();
        assert_eq!(os.brk(&mut mem, 0x0810_3000), 0x0810_3000);
        assert_eq!(os.brk(&mut mem, 0x0810_3001), 0x0810_3000);
        assert_eq!(os.brk(&mut mem, 0x0800_0000), 0x0810_3000);
    }

    #[test]
    fn mremap_grows_in_place_moves_and_checks() {
        let (mut os, mut mem) = setup();
        let a = mmap(&mut os, &mut mem, 0, 0x2000, 3, ANON).unwrap();
        mem.write(a as u64, 4, 0x1234).unwrap();
        assert_eq!(
            os.mremap(&mut mem, a, 0x2000, 0x4000, 0, 0),
            Ok(a),
            "in place"
        );
        let blocker = mmap(&mut os, &mut mem, a + 0x4000, 0x1000, 0, ANON | MAP_FIXED).unwrap();
        assert_eq!(
            os.mremap(&mut mem, a, 0x4000, 0x8000, 0, 0),
            Err(Errno::ENOMEM)
        );
        let b = os
            .mremap(&mut mem, a, 0x4000, 0x8000, MREMAP_MAYMOVE, 0)
            .unwrap();
        assert!(b > blocker);
        assert_eq!(mem.read(b as u64, 4), Ok(0x1234));
        assert!(!mem.is_mapped(a as u64));
        assert_eq!(
            os.mremap(&mut mem, a, 0x1000, 0x1000, 0, 0),
            Err(Errno::EFAULT)
        );
        let fixed = os.mremap(
            &mut mem,
            b,
            0x8000,
            0x1000,
            MREMAP_MAYMOVE | MREMAP_FIXED,
            0x5000_0000,
        );
        assert_eq!(fixed, Ok(0x5000_0000));
        assert_eq!(mem.read(0x5000_0000, 4), Ok(0x1234));
        assert_eq!(
            os.mremap(
                &mut mem,
                0x5000_0000,
                0x1000,
                0x1000,
                MREMAP_FIXED,
                0x6000_0000
            ),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            os.mremap(
                &mut mem,
                0x5000_0000,
                0x1000,
                0x2000,
                MREMAP_MAYMOVE | MREMAP_FIXED,
                0x4FFF_F000
            ),
            Err(Errno::EINVAL)
        );
        let c = os
            .mremap(
                &mut mem,
                0x5000_0000,
                0x1000,
                0x1000,
                MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
                0,
            )
            .unwrap();
        assert_eq!(mem.read(c as u64, 4), Ok(0x1234));
        assert_eq!(
            mem.read(0x5000_0000, 4),
            Ok(0),
            "the old range stays, empty"
        );
        assert_eq!(
            os.mremap(&mut mem, c, 0x1000, 0, MREMAP_MAYMOVE, 0),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn old_mmap_reads_its_arguments_safely() {
        let (mut os, mut mem) = setup();
        mem.protect(0xFFFF_F000, 0x1000, page::R | page::W);
        mem.protect(0, 0x1000, page::R | page::W);
        assert_eq!(os.old_mmap(&mut mem, 0xFFFF_FFF0), Err(Errno::EFAULT));
        let args = [0u32, 0x1000, 3, ANON, u32::MAX, 0];
        let bytes: Vec<u8> = args.iter().flat_map(|v| v.to_le_bytes()).collect();
        mem.poke(0xFFFF_F000, &bytes).unwrap();
        assert_eq!(os.old_mmap(&mut mem, 0xFFFF_F000), Ok(MMAP_BASE));
    }

    #[test]
    fn madvise_dontneed_zeroes() {
        let (mut os, mut mem) = setup();
        let a = mmap(&mut os, &mut mem, 0, 0x2000, 3, ANON).unwrap();
        mem.write(a as u64 + 0x1000, 4, 9).unwrap();
        assert_eq!(os.madvise(&mut mem, a + 1, 0x1000, 4), Err(Errno::EINVAL));
        assert_eq!(os.madvise(&mut mem, a, 0x1000, 999), Err(Errno::EINVAL));
        assert_eq!(os.madvise(&mut mem, a, 0x2000, 3), Ok(0));
        assert_eq!(mem.read(a as u64 + 0x1000, 4), Ok(9));
        // Past the mapping: ENOMEM, but the mapped pages took the advice.
        assert_eq!(os.madvise(&mut mem, a, 0x3000, 4), Err(Errno::ENOMEM));
        assert_eq!(mem.read(a as u64 + 0x1000, 4), Ok(0));
        mem.write(a as u64 + 0x1000, 4, 9).unwrap();
        assert_eq!(mem.read(a as u64 + 0x1000, 4), Ok(9));
        assert_eq!(os.madvise(&mut mem, a + 0x1000, 0x1000, 4), Ok(0));
        assert_eq!(mem.read(a as u64 + 0x1000, 4), Ok(0));
    }

    /// A file of `len` bytes (byte i is `i % 251`) opened read-only as a guest descriptor.
    fn file_fd(os: &mut Linux, tag: &str, len: usize) -> u32 {
        let path = std::env::temp_dir().join(format!("vmkit-mm-{tag}-{}", std::process::id()));
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let open = crate::linux::fs::fd::OpenFile::new(Node::File(file), 0);
        os.fds.open(open, false).unwrap()
    }

    #[test]
    fn file_mappings_copy_from_the_offset_and_zero_the_rest() {
        let (mut os, mut mem) = setup();
        let fd = file_fd(&mut os, "map", 5000);
        let a = os
            .mmap2(&mut mem, [0, 0x3000, 5, MAP_PRIVATE, fd, 1])
            .unwrap();
        // Offset 4096: 904 bytes of file, then zeros to the end of the mapping.
        assert_eq!(mem.read(a as u64, 1), Ok(4096 % 251));
        assert_eq!(mem.read(a as u64 + 903, 1), Ok(4999 % 251));
        assert_eq!(mem.read(a as u64 + 904, 4), Ok(0));
        assert_eq!(mem.read(a as u64 + 0x2ffc, 4), Ok(0));
        assert_eq!(mem.perms_at(a as u64), page::R | page::X);
        // MAP_FIXED over part of it: the file again from offset 0, over the middle page.
        let b = os
            .mmap2(
                &mut mem,
                [a + 0x1000, 0x1000, 3, MAP_PRIVATE | MAP_FIXED, fd, 0],
            )
            .unwrap();
        assert_eq!(b, a + 0x1000);
        assert_eq!(mem.read(b as u64 + 1, 1), Ok(1));
        assert_eq!(mem.perms_at(b as u64), page::R | page::W);
        // A private mapping is a copy: writing changes only the guest's pages.
        mem.write(b as u64, 1, 0xAA).unwrap();
        assert_eq!(mem.read(b as u64, 1), Ok(0xAA));
        // Parts can be protected and unmapped.
        assert_eq!(os.mprotect(&mut mem, a, 0x1000, 1), Ok(0));
        assert_eq!(mem.perms_at(a as u64), page::R);
        assert_eq!(os.munmap(&mut mem, b, 0x1000), Ok(0));
        assert!(!mem.is_mapped(b as u64));
        assert!(mem.is_mapped(a as u64 + 0x2000));
        // Shared: read-only is a copy; writable is refused, never silently not written back.
        assert!(os
            .mmap2(&mut mem, [0, 0x1000, 1, MAP_SHARED, fd, 0])
            .is_ok());
        assert_eq!(
            os.mmap2(&mut mem, [0, 0x1000, 3, MAP_SHARED, fd, 0]),
            Err(Errno::ENODEV)
        );
        assert_eq!(
            os.mmap2(&mut mem, [0, 0x1000, 1, MAP_PRIVATE, 77, 0]),
            Err(Errno::EBADF)
        );
    }

    #[test]
    fn mincore_reports_mapped_pages() {
        let (mut os, mut mem) = setup();
        let a = mmap(&mut os, &mut mem, 0, 0x2000, 3, ANON).unwrap();
        let v = mmap(&mut os, &mut mem, 0, 0x1000, 3, ANON).unwrap();
        assert_eq!(os.mincore(&mut mem, a, 0x2000, v), Ok(0));
        assert_eq!(mem.read(v as u64, 2), Ok(0x0101));
        assert_eq!(os.mincore(&mut mem, a + 1, 0x1000, v), Err(Errno::EINVAL));
        assert_eq!(os.mincore(&mut mem, a, 0x10_0000, v), Err(Errno::ENOMEM));
    }
}
