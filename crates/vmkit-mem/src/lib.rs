//! # vmkit-mem: guest memory
//!
//! One flat, byte-addressed, bounds-checked array with per-page (4 KiB) permissions, shared
//! by vmkit's guests (the native machine and the x86 guest). No guest address ever reaches
//! host memory outside this array.
//!
//! The crate owns the bytes and the page flags. It knows which pages hold decoded code
//! (`CODE`), so that a store into one can be reported to an interpreter, which then drops
//! its decoded blocks; it knows nothing else about interpreters.
//!
//! ```
//! use vmkit_mem::{page, Memory, MemError, PAGE_SIZE};
//! let mut mem = Memory::new(4 * PAGE_SIZE);
//! mem.protect(0, PAGE_SIZE, 0); // unmap page 0: null pointers fault
//! mem.write(0x1000, 4, 0xdead_beef).unwrap();
//! assert_eq!(mem.read(0x1000, 2), Ok(0xbeef));
//! assert!(matches!(mem.read(8, 1), Err(MemError::Unmapped { addr: 8, .. })));
//! assert!(matches!(mem.read(4 * PAGE_SIZE - 2, 4), Err(MemError::OutOfBounds { .. })));
//! ```
#![deny(missing_docs)]

use std::fmt;

/// Kind of memory access, for faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
        })
    }
}

/// Why an access was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemError {
    /// The access reaches past the end of guest memory.
    OutOfBounds {
        /// First byte accessed.
        addr: u64,
        /// Bytes accessed.
        size: u64,
        /// Guest memory size.
        memory_size: u64,
        /// Load, store or fetch.
        access: Access,
    },
    /// The page is not mapped (no permissions at all).
    Unmapped {
        /// Address accessed.
        addr: u64,
        /// Load, store or fetch.
        access: Access,
    },
    /// The page does not allow this access.
    Protection {
        /// Address accessed.
        addr: u64,
        /// Load, store or fetch.
        access: Access,
    },
}

impl MemError {
    /// The address the error is about.
    pub fn addr(&self) -> u64 {
        match *self {
            MemError::OutOfBounds { addr, .. }
            | MemError::Unmapped { addr, .. }
            | MemError::Protection { addr, .. } => addr,
        }
    }
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemError::OutOfBounds {
                addr,
                size,
                memory_size,
                access,
            } => write!(
                f,
                "{access} of {size} byte{} at {addr:#x} is outside guest memory (size {memory_size:#x})",
                if *size == 1 { "" } else { "s" }
            ),
            MemError::Unmapped { addr, access } => write!(f, "{access} at unmapped address {addr:#x}"),
            MemError::Protection { addr, access } => {
                write!(f, "{access} at {addr:#x} not permitted by the page's protection")
            }
        }
    }
}

impl std::error::Error for MemError {}

/// Page size for permissions and code tracking.
pub const PAGE_SIZE: u64 = 4096;
const PAGE_SHIFT: u32 = 12;

/// Page flag bits.
pub mod page {
    /// Loads allowed.
    pub const R: u8 = 1;
    /// Stores allowed.
    pub const W: u8 = 2;
    /// Execution allowed.
    pub const X: u8 = 4;
    /// The interpreter holds decoded instructions from this page.
    pub const CODE: u8 = 8;
}

/// Guest memory.
pub struct Memory {
    bytes: Vec<u8>,
    pages: Vec<u8>,
    /// Set when a store hit a `CODE` page; the interpreter clears it after flushing.
    pub code_written: bool,
    /// The bytes written to code pages since `code_written` was last cleared: [start, end).
    pub code_write_range: (u64, u64),
}

impl Memory {
    /// `size` bytes of zeroed memory, every page readable, writable and executable.
    /// Panics if the host cannot provide the memory; see [`Memory::try_new`].
    pub fn new(size: u64) -> Memory {
        match Memory::try_new(size) {
            Some(m) => m,
            None => panic!("cannot allocate {size} bytes of guest memory"),
        }
    }

    /// Like [`Memory::new`], but `None` if the host refuses the allocation. The bytes come
    /// from a zeroed allocation, which the host OS maps lazily: a 4 GiB guest costs only the
    /// pages it touches.
    pub fn try_new(size: u64) -> Option<Memory> {
        let len = usize::try_from(size).ok()?;
        let bytes = zeroed_bytes(len)?;
        let npages = size.div_ceil(PAGE_SIZE) as usize;
        let mut pages = Vec::new();
        pages.try_reserve_exact(npages).ok()?;
        pages.resize(npages, page::R | page::W | page::X);
        Some(Memory {
            bytes,
            pages,
            code_written: false,
            code_write_range: (u64::MAX, 0),
        })
    }

    /// Size in bytes.
    #[inline]
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The whole memory as a slice.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// Sets the permission bits (`page::R | page::W | page::X`) of every page overlapping
    /// `[addr, addr + len)`.
    pub fn protect(&mut self, addr: u64, len: u64, perms: u8) {
        if len == 0 {
            return;
        }
        let first = (addr >> PAGE_SHIFT) as usize;
        let last = (((addr.saturating_add(len - 1)) >> PAGE_SHIFT) as usize)
            .min(self.pages.len().saturating_sub(1));
        for p in first..=last {
            if let Some(f) = self.pages.get_mut(p) {
                *f = (*f & page::CODE) | (perms & (page::R | page::W | page::X));
            }
        }
    }

    /// Permission bits of the page holding `addr` (0 past the end).
    pub fn perms_at(&self, addr: u64) -> u8 {
        self.pages
            .get((addr >> PAGE_SHIFT) as usize)
            .map_or(0, |f| f & !page::CODE)
    }

    /// Marks the pages of `[addr, addr + len)` as holding decoded code: stores into them
    /// set [`Memory::code_written`].
    pub fn mark_code(&mut self, addr: u64, len: u64) {
        let first = (addr >> PAGE_SHIFT) as usize;
        let last = ((addr + len.max(1) - 1) >> PAGE_SHIFT) as usize;
        for p in first..=last.min(self.pages.len().saturating_sub(1)) {
            self.pages[p] |= page::CODE;
        }
    }

    /// Clears the code mark of the pages of `[addr, addr + len)` (after an interpreter
    /// dropped the decoded code it held there).
    pub fn unmark_code(&mut self, addr: u64, len: u64) {
        let first = (addr >> PAGE_SHIFT) as usize;
        let last = ((addr + len.max(1) - 1) >> PAGE_SHIFT) as usize;
        for p in first..=last.min(self.pages.len().saturating_sub(1)) {
            self.pages[p] &= !page::CODE;
        }
    }

    /// Forgets every code mark (after an interpreter dropped its decoded code).
    pub fn clear_code_marks(&mut self) {
        for f in &mut self.pages {
            *f &= !page::CODE;
        }
        self.clear_code_written();
    }

    /// Forgets the record of stores into code pages.
    pub fn clear_code_written(&mut self) {
        self.code_written = false;
        self.code_write_range = (u64::MAX, 0);
    }

    #[cold]
    fn access_fault(&self, addr: u64, size: u64, access: Access) -> MemError {
        let end = addr.checked_add(size);
        if end.is_none_or(|e| e > self.size()) {
            return MemError::OutOfBounds {
                addr,
                size,
                memory_size: self.size(),
                access,
            };
        }
        let need = match access {
            Access::Read => page::R,
            Access::Write => page::W,
            Access::Execute => page::X,
        };
        // Report the first byte whose page refuses the access.
        let mut a = addr;
        while a < addr + size {
            let f = self.pages[(a >> PAGE_SHIFT) as usize];
            if f & (page::R | page::W | page::X) == 0 {
                return MemError::Unmapped { addr: a, access };
            }
            if f & need == 0 {
                return MemError::Protection { addr: a, access };
            }
            a = (a | (PAGE_SIZE - 1)) + 1;
        }
        MemError::Protection { addr, access }
    }

    /// Checks that `size` bytes at `addr` may be accessed with `need` page bits; returns the
    /// start offset.
    #[inline(always)]
    fn check(&self, addr: u64, size: u64, need: u8, access: Access) -> Result<usize, MemError> {
        let end = addr.wrapping_add(size);
        if end > self.size() || end < addr {
            return Err(self.access_fault(addr, size, access));
        }
        let p0 = self.pages[(addr >> PAGE_SHIFT) as usize];
        let p1 = self.pages[((end - 1) >> PAGE_SHIFT) as usize];
        if p0 & p1 & need != need {
            return Err(self.access_fault(addr, size, access));
        }
        Ok(addr as usize)
    }

    /// Reads `size` (1, 2, 4 or 8) bytes at `addr`, little-endian, zero-extended.
    #[inline(always)]
    pub fn read(&self, addr: u64, size: u32) -> Result<u64, MemError> {
        let at = self.check(addr, size as u64, page::R, Access::Read)?;
        let b = &self.bytes[at..at + size as usize];
        Ok(match size {
            1 => b[0] as u64,
            2 => u16::from_le_bytes([b[0], b[1]]) as u64,
            4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
            _ => {
                let mut q = [0u8; 8];
                q.copy_from_slice(&b[..8]);
                u64::from_le_bytes(q)
            }
        })
    }

    /// Reads 8 bytes at `addr`.
    #[inline(always)]
    pub fn read_u64(&self, addr: u64) -> Result<u64, MemError> {
        self.read(addr, 8)
    }

    /// Writes the low `size` (1, 2, 4 or 8) bytes of `value` at `addr`.
    #[inline(always)]
    pub fn write(&mut self, addr: u64, size: u32, value: u64) -> Result<(), MemError> {
        let end = addr.wrapping_add(size as u64);
        if end > self.size() || end < addr {
            return Err(self.access_fault(addr, size as u64, Access::Write));
        }
        let p0 = self.pages[(addr >> PAGE_SHIFT) as usize];
        let p1 = self.pages[((end - 1) >> PAGE_SHIFT) as usize];
        let both = p0 | p1;
        if p0 & p1 & page::W == 0 {
            return Err(self.access_fault(addr, size as u64, Access::Write));
        }
        if both & page::CODE != 0 {
            self.note_code_write(addr, size as u64);
        }
        let at = addr as usize;
        let b = value.to_le_bytes();
        self.bytes[at..at + size as usize].copy_from_slice(&b[..size as usize]);
        Ok(())
    }

    /// Checks that a store of `size` bytes at `addr` would succeed, without storing.
    #[inline]
    pub fn check_write(&self, addr: u64, size: u32) -> Result<(), MemError> {
        self.check(addr, size as u64, page::W, Access::Write)
            .map(|_| ())
    }

    /// Copies `len` bytes at `addr` out of guest memory (checked for reading).
    pub fn read_bytes(&self, addr: u64, len: u64) -> Result<&[u8], MemError> {
        if len == 0 {
            return Ok(&[]);
        }
        let at = self.check(addr, len, page::R, Access::Read)?;
        self.check_pages(addr, len, page::R, Access::Read)?;
        Ok(&self.bytes[at..at + len as usize])
    }

    /// Writes `data` at `addr` (checked for writing, code pages noticed).
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        if data.is_empty() {
            return Ok(());
        }
        let len = data.len() as u64;
        let at = self.check(addr, len, page::W, Access::Write)?;
        self.check_pages(addr, len, page::W, Access::Write)?;
        self.note_code_write(addr, len);
        self.bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn check_pages(&self, addr: u64, len: u64, need: u8, access: Access) -> Result<(), MemError> {
        let first = addr >> PAGE_SHIFT;
        let last = (addr + len - 1) >> PAGE_SHIFT;
        for p in first..=last {
            if self.pages[p as usize] & need == 0 {
                return Err(self.access_fault(addr, len, access));
            }
        }
        Ok(())
    }

    fn note_code_write(&mut self, addr: u64, len: u64) {
        let first = addr >> PAGE_SHIFT;
        let last = (addr + len - 1) >> PAGE_SHIFT;
        if (first..=last).any(|p| self.pages[p as usize] & page::CODE != 0) {
            self.code_written = true;
            let (lo, hi) = self.code_write_range;
            self.code_write_range = (lo.min(addr), hi.max(addr + len));
        }
    }

    /// The byte range `[addr, addr + len)` for a host-side access, bounds checked.
    fn host_range(
        &self,
        addr: u64,
        len: u64,
        access: Access,
    ) -> Result<std::ops::Range<usize>, MemError> {
        match addr.checked_add(len) {
            Some(end) if end <= self.size() => Ok(addr as usize..end as usize),
            _ => Err(MemError::OutOfBounds {
                addr,
                size: len,
                memory_size: self.size(),
                access,
            }),
        }
    }

    /// Host-side write that ignores page permissions (loading, embedding API), still bounds
    /// checked and still noticed by the decoded-code cache.
    pub fn poke(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let range = self.host_range(addr, data.len() as u64, Access::Write)?;
        if !data.is_empty() {
            self.note_code_write(addr, data.len() as u64);
        }
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }

    /// Host-side read that ignores page permissions, bounds checked.
    pub fn peek(&self, addr: u64, len: u64) -> Result<&[u8], MemError> {
        let range = self.host_range(addr, len, Access::Read)?;
        Ok(&self.bytes[range])
    }

    /// Host-side fill of `len` bytes at `addr` with `value`, ignoring permissions.
    pub fn fill(&mut self, addr: u64, len: u64, value: u8) -> Result<(), MemError> {
        let range = self.host_range(addr, len, Access::Write)?;
        if len > 0 {
            self.note_code_write(addr, len);
        }
        self.bytes[range].fill(value);
        Ok(())
    }

    /// Instruction bytes at `addr` for the decoder: up to `max` bytes, stopping at the end of
    /// memory or at the first page that is not executable. Faults if `addr` itself cannot be
    /// fetched.
    pub fn fetch_window(&self, addr: u64, max: usize) -> Result<&[u8], MemError> {
        self.check(addr, 1, page::X, Access::Execute)?;
        let mut end = (addr + max as u64).min(self.size());
        let next_page = (addr | (PAGE_SIZE - 1)) + 1;
        if end > next_page && self.pages[(next_page >> PAGE_SHIFT) as usize] & page::X == 0 {
            end = next_page;
        }
        Ok(&self.bytes[addr as usize..end as usize])
    }

    /// The fault a fetch of `size` bytes at `addr` gets (used when decoding ran into the end
    /// of fetchable memory).
    pub fn fetch_fault(&self, addr: u64, size: u64) -> MemError {
        self.access_fault(addr, size, Access::Execute)
    }
}

/// A zero-filled byte vector of `len` bytes, or `None` if the allocator refuses.
fn zeroed_bytes(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: `layout` has non-zero size (len > 0).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` was just allocated by the global allocator with the layout of `len`
    // bytes (align 1), all of them initialised to zero; length and capacity are `len`, so
    // the Vec frees it with the same layout.
    Some(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_allocations_are_none_not_aborts() {
        assert!(Memory::try_new(u64::MAX / 2).is_none());
        assert_eq!(Memory::try_new(0).map(|m| m.size()), Some(0));
    }

    #[test]
    fn bounds_and_permissions() {
        let mut m = Memory::new(3 * PAGE_SIZE);
        m.protect(0, PAGE_SIZE, 0);
        m.protect(PAGE_SIZE, PAGE_SIZE, page::R);
        assert!(matches!(
            m.read(0, 1),
            Err(MemError::Unmapped { addr: 0, .. })
        ));
        assert!(matches!(
            m.write(PAGE_SIZE, 8, 1),
            Err(MemError::Protection { .. })
        ));
        assert_eq!(m.read(PAGE_SIZE, 8), Ok(0));
        m.write(2 * PAGE_SIZE, 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read(2 * PAGE_SIZE, 2), Ok(0x7788));
        assert!(matches!(
            m.read(3 * PAGE_SIZE - 4, 8),
            Err(MemError::OutOfBounds { .. })
        ));
        assert!(matches!(
            m.read(u64::MAX - 2, 8),
            Err(MemError::OutOfBounds { .. })
        ));
        // A store that straddles into a read-only page is refused as a whole.
        assert!(m.write(2 * PAGE_SIZE - 4, 8, 0).is_err());
        assert_eq!(m.read(2 * PAGE_SIZE - 4, 4), Ok(0));
    }

    #[test]
    fn stores_into_code_pages_are_noticed() {
        let mut m = Memory::new(2 * PAGE_SIZE);
        m.mark_code(PAGE_SIZE + 10, 4);
        m.write(0x10, 8, 1).unwrap();
        assert!(!m.code_written);
        m.write(PAGE_SIZE + 100, 1, 1).unwrap();
        assert!(m.code_written);
    }
}
