//! # vmkit-mem: guest memory
//!
//! One flat, byte-addressed, bounds-checked array with per-page (4 KiB) permissions, shared
//! by vmkit's guests (the native machine and the x86 guest). No guest address ever reaches
//! host memory outside this array.
//!
//! The array is one reservation of host address space (see [`Memory::try_new`]): the host
//! commits a page when the guest first writes it, and [`Memory::discard`] gives pages back,
//! so host memory follows what the guest touches, not the size of its address space.
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

mod host;

use host::HostBytes;
pub use host::ReserveError;

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
    /// The page is not mapped.
    Unmapped {
        /// Address accessed.
        addr: u64,
        /// Load, store or fetch.
        access: Access,
    },
    /// The page is mapped but does not allow this access (including a mapping with no
    /// access at all, `PROT_NONE`).
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

    /// The kind of access that was refused.
    pub fn access(&self) -> Access {
        match *self {
            MemError::OutOfBounds { access, .. }
            | MemError::Unmapped { access, .. }
            | MemError::Protection { access, .. } => access,
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

/// A [`Memory::fast_access_table`] entry: the access is allowed.
const FAST_OK: u8 = 1;
/// A [`Memory::fast_access_table`] entry: ask the checked accessors.
const FAST_ASK: u8 = 0;

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
    /// The page belongs to a mapping. Implied by any of `R`, `W`, `X`; on its own it is a
    /// mapping with no access (`PROT_NONE`): accesses fault as on an unmapped page, but the
    /// address range stays taken.
    pub const MAPPED: u8 = 16;
}

/// A run of consecutive mapped pages with the same permissions, as [`Memory::regions`]
/// lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte (page-aligned).
    pub start: u64,
    /// Length in bytes (whole pages).
    pub len: u64,
    /// Permission bits (`page::R | page::W | page::X`); 0 for a mapping with no access.
    pub perms: u8,
}

/// Guest memory.
pub struct Memory {
    bytes: HostBytes,
    pages: Vec<u8>,
    /// The fast-access table translated code reads: two bytes per page, see
    /// [`Memory::fast_access_table`].
    fast: Vec<u8>,
    /// Pages with `page::MAPPED` set.
    mapped_pages: u64,
    /// Set when a store hit a `CODE` page; read with [`Memory::code_written`], cleared by
    /// [`Memory::take_code_writes`] or [`Memory::clear_code_written`].
    code_written: bool,
    /// The bytes written to code pages since `code_written` was last cleared: [start, end).
    code_write_range: (u64, u64),
}

impl Memory {
    /// `size` bytes of zeroed memory, every page readable, writable and executable.
    /// Panics if the host cannot provide the memory; see [`Memory::try_new`].
    pub fn new(size: u64) -> Memory {
        match Memory::try_new(size) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Memory::new`], but an error if the host refuses. The bytes are one
    /// reservation of host address space that the host OS backs lazily: a 4 GiB guest
    /// costs only the pages it touches. The reservation itself needs `size` bytes of
    /// address space, which an address-space limit (`ulimit -v`) can refuse; the error then
    /// says so.
    pub fn try_new(size: u64) -> Result<Memory, ReserveError> {
        let bytes = HostBytes::reserve(size)?;
        let npages = size.div_ceil(PAGE_SIZE);
        let mut pages = Vec::new();
        usize::try_from(npages)
            .ok()
            .and_then(|n| pages.try_reserve_exact(n).ok())
            .ok_or(ReserveError {
                size,
                os_error: None,
                address_space_limit: None,
            })?;
        pages.resize(npages as usize, page::MAPPED | page::R | page::W | page::X);
        // Every entry starts as "ask", which is always right; the entries of pages that
        // allow more are filled in as permissions are set. Zeroed memory costs nothing
        // until written.
        let fast = vec![FAST_ASK; npages as usize * 4];
        let mem = Memory {
            bytes,
            pages,
            fast,
            mapped_pages: npages,
            code_written: false,
            code_write_range: (u64::MAX, 0),
        };
        Ok(mem)
    }

    /// The fast-access table, four bytes per page. For page `p`:
    /// - byte `4p` is 1 if a load of up to 4096 bytes starting in page `p` is certainly
    ///   allowed (pages `p` and `p + 1` are readable);
    /// - byte `4p + 1` is 1 if such a store is certainly allowed and needs no notice (both
    ///   pages are readable and writable, and neither holds decoded code);
    /// - bytes `4p + 2` and `4p + 3` say the same of page `p` alone (for an access that
    ///   does not cross into the next page).
    ///
    /// 0 means "ask [`Memory::read`] or [`Memory::write`]", which give the exact answer.
    ///
    /// Translated code reads it with one load per access and no flags; the table always
    /// matches the page flags. The pointer is valid until the next `&mut self` call.
    pub fn fast_access_table(&self) -> *const u8 {
        self.fast.as_ptr()
    }

    /// The host address of guest address 0; guest address `a` is at `host_base() + a` for
    /// `a < size()`. For translated code, which checks accesses with
    /// [`Memory::fast_access_table`]. Valid as long as `self`.
    pub fn host_base(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }

    /// Recomputes the fast-access entries of the pages in `span` and of the page before it
    /// (whose entry depends on its next page).
    fn refresh_fast(&mut self, span: std::ops::Range<usize>) {
        let n = self.pages.len();
        for p in span.start.saturating_sub(1)..span.end.min(n) {
            let here = self.pages[p];
            let next = self.pages.get(p + 1).copied().unwrap_or(0);
            let read = |f: u8| f & page::R != 0;
            let write = |f: u8| f & (page::R | page::W | page::CODE) == page::R | page::W;
            let entry = |ok: bool| if ok { FAST_OK } else { FAST_ASK };
            let e = [
                entry(read(here) && read(next)),
                entry(write(here) && write(next)),
                entry(read(here)),
                entry(write(here)),
            ];
            // Written only when it changes: untouched entries cost no host memory.
            if self.fast[4 * p..4 * p + 4] != e {
                self.fast[4 * p..4 * p + 4].copy_from_slice(&e);
            }
        }
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

    /// The page indices overlapping `[addr, addr + len)`, clipped to memory.
    fn page_span(&self, addr: u64, len: u64) -> std::ops::Range<usize> {
        if len == 0 {
            return 0..0;
        }
        let npages = self.pages.len() as u64;
        let first = (addr >> PAGE_SHIFT).min(npages);
        let last = (addr.saturating_add(len - 1) >> PAGE_SHIFT).min(npages.saturating_sub(1));
        first as usize..(last + 1).max(first) as usize
    }

    /// Sets the permission bits (`page::R | page::W | page::X`) of every page overlapping
    /// `[addr, addr + len)`. Any of them maps the page; `page::MAPPED` alone maps it with no
    /// access; 0 unmaps it. The contents stay (see [`Memory::discard`]).
    pub fn protect(&mut self, addr: u64, len: u64, perms: u8) {
        let access = perms & (page::R | page::W | page::X);
        let mapped = if access != 0 || perms & page::MAPPED != 0 {
            page::MAPPED
        } else {
            0
        };
        let span = self.page_span(addr, len);
        let mut count = self.mapped_pages;
        for f in &mut self.pages[span.clone()] {
            count -= u64::from(*f & page::MAPPED != 0);
            count += u64::from(mapped != 0);
            *f = (*f & page::CODE) | mapped | access;
        }
        self.mapped_pages = count;
        if access & page::R == 0 {
            // Nothing is allowed in the span: its entries are all "ask" (only written where
            // they were not, so unmapping a large untouched range costs a scan).
            let entries = &mut self.fast[4 * span.start..4 * span.end];
            if entries.iter().any(|&e| e != FAST_ASK) {
                entries.fill(FAST_ASK);
            }
            self.refresh_fast(span.start.saturating_sub(1)..span.start);
        } else {
            self.refresh_fast(span);
        }
    }

    /// Permission bits (`page::R | page::W | page::X`) of the page holding `addr` (0 past
    /// the end).
    pub fn perms_at(&self, addr: u64) -> u8 {
        self.pages
            .get((addr >> PAGE_SHIFT) as usize)
            .map_or(0, |f| f & (page::R | page::W | page::X))
    }

    /// Whether the page holding `addr` belongs to a mapping (possibly with no access).
    pub fn is_mapped(&self, addr: u64) -> bool {
        self.pages
            .get((addr >> PAGE_SHIFT) as usize)
            .is_some_and(|f| f & page::MAPPED != 0)
    }

    /// Bytes of all mapped pages.
    pub fn mapped_bytes(&self) -> u64 {
        self.mapped_pages * PAGE_SIZE
    }

    /// Bytes of the mapped pages overlapping `[addr, addr + len)`.
    pub fn mapped_bytes_in(&self, addr: u64, len: u64) -> u64 {
        let span = self.page_span(addr, len);
        self.pages[span]
            .iter()
            .filter(|&&f| f & page::MAPPED != 0)
            .count() as u64
            * PAGE_SIZE
    }

    /// Whether every page overlapping `[addr, addr + len)` is mapped and inside memory.
    pub fn is_all_mapped(&self, addr: u64, len: u64) -> bool {
        match addr.checked_add(len) {
            Some(end) if end <= self.size() => self.pages[self.page_span(addr, len)]
                .iter()
                .all(|f| f & page::MAPPED != 0),
            _ => false,
        }
    }

    /// The lowest page-aligned address in `[lo, hi)` that starts `len` (> 0) bytes of
    /// unmapped pages ending at or below `hi`: a first-fit search of the page table.
    pub fn find_unmapped(&self, lo: u64, hi: u64, len: u64) -> Option<u64> {
        let npages = self.pages.len() as u64;
        let mut p = lo.div_ceil(PAGE_SIZE);
        let end = (hi / PAGE_SIZE).min(npages);
        let want = len.div_ceil(PAGE_SIZE).max(1);
        while p + want <= end {
            let window = &self.pages[p as usize..(p + want) as usize];
            // The last mapped page in the window: the next candidate starts after it.
            match window.iter().rposition(|f| f & page::MAPPED != 0) {
                None => return Some(p * PAGE_SIZE),
                Some(i) => p += i as u64 + 1,
            }
        }
        None
    }

    /// Unmaps every page overlapping `[addr, addr + len)` (clipped to memory) and gives its
    /// host memory back, as `munmap` does: accesses fault as unmapped, and the pages read as
    /// zero when mapped again. Pages holding decoded code count as written (see
    /// [`Memory::mark_code`]).
    ///
    /// ```
    /// use vmkit_mem::{page, Memory, PAGE_SIZE};
    /// let mut mem = Memory::new(4 * PAGE_SIZE);
    /// mem.write(PAGE_SIZE, 4, 7).unwrap();
    /// mem.unmap(PAGE_SIZE + 1, 1); // the whole page
    /// assert!(!mem.is_mapped(PAGE_SIZE));
    /// assert!(mem.read(PAGE_SIZE, 4).is_err());
    /// mem.protect(PAGE_SIZE, PAGE_SIZE, page::R);
    /// assert_eq!(mem.read(PAGE_SIZE, 4), Ok(0));
    /// ```
    pub fn unmap(&mut self, addr: u64, len: u64) {
        let span = self.page_span(addr, len);
        if span.is_empty() {
            return;
        }
        let start = span.start as u64 * PAGE_SIZE;
        let end = (span.end as u64 * PAGE_SIZE).min(self.size());
        self.protect(start, end - start, 0);
        // In bounds by construction: the span is clipped to memory.
        let _ = self.discard(start, end - start);
    }

    /// The mapped address ranges in ascending order: maximal runs of consecutive mapped
    /// pages with the same permissions (Unicorn's `mem_regions`, the lines of
    /// `/proc/self/maps`). Walks the whole page table.
    ///
    /// ```
    /// use vmkit_mem::{page, Memory, Region, PAGE_SIZE};
    /// let mut mem = Memory::new(8 * PAGE_SIZE);
    /// mem.protect(0, 8 * PAGE_SIZE, 0);
    /// mem.protect(PAGE_SIZE, 2 * PAGE_SIZE, page::R | page::X);
    /// mem.protect(3 * PAGE_SIZE, PAGE_SIZE, page::R | page::W);
    /// let regions: Vec<Region> = mem.regions().collect();
    /// assert_eq!(regions, [
    ///     Region { start: PAGE_SIZE, len: 2 * PAGE_SIZE, perms: page::R | page::X },
    ///     Region { start: 3 * PAGE_SIZE, len: PAGE_SIZE, perms: page::R | page::W },
    /// ]);
    /// ```
    pub fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        let access = page::MAPPED | page::R | page::W | page::X;
        let mut next = 0;
        std::iter::from_fn(move || {
            let pages = &self.pages;
            let first = next + pages[next..].iter().position(|f| f & page::MAPPED != 0)?;
            let flags = pages[first] & access;
            let len = pages[first..]
                .iter()
                .position(|f| f & access != flags)
                .unwrap_or(pages.len() - first);
            next = first + len;
            let start = first as u64 * PAGE_SIZE;
            Some(Region {
                start,
                len: (next as u64 * PAGE_SIZE).min(self.size()) - start,
                perms: flags & !page::MAPPED,
            })
        })
    }

    /// Zeroes `[addr, addr + len)` and gives its host memory back: the pages read as zero
    /// and cost the host nothing until written again (whole host pages; partial ones at the
    /// ends are cleared in place). Ignores permissions; bounds checked.
    pub fn discard(&mut self, addr: u64, len: u64) -> Result<(), MemError> {
        let range = self.host_range(addr, len, Access::Write)?;
        if len > 0 {
            self.note_code_write(addr, len);
            self.bytes.discard(range);
        }
        Ok(())
    }

    /// Host-side copy of `len` bytes from `src` to `dst` (ranges that do not overlap),
    /// ignoring permissions, bounds checked. Pages that are zero on both sides are skipped,
    /// so moving a mostly untouched region does not make the host commit it.
    pub fn copy_within(&mut self, src: u64, dst: u64, len: u64) -> Result<(), MemError> {
        let from = self.host_range(src, len, Access::Read)?;
        let to = self.host_range(dst, len, Access::Write)?;
        if len == 0 {
            return Ok(());
        }
        self.note_code_write(dst, len);
        if from.start < to.end && to.start < from.end {
            self.bytes.copy_within(from, to.start);
            return Ok(());
        }
        let chunk = PAGE_SIZE as usize;
        let mut off = 0;
        while off < from.len() {
            let n = chunk.min(from.len() - off);
            let (s, d) = (from.start + off, to.start + off);
            let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
            if !(zero(&self.bytes[s..s + n]) && zero(&self.bytes[d..d + n])) {
                self.bytes.copy_within(s..s + n, d);
            }
            off += n;
        }
        Ok(())
    }

    /// Marks the pages of `[addr, addr + len)` as holding decoded code: stores into them
    /// make [`Memory::code_written`] true.
    pub fn mark_code(&mut self, addr: u64, len: u64) {
        let span = self.page_span(addr, len.max(1));
        if self.pages[span.clone()].iter().all(|f| f & page::CODE != 0) {
            return;
        }
        for f in &mut self.pages[span.clone()] {
            *f |= page::CODE;
        }
        self.refresh_fast(span);
    }

    /// Clears the code mark of the pages of `[addr, addr + len)` (after an interpreter
    /// dropped the decoded code it held there).
    pub fn unmark_code(&mut self, addr: u64, len: u64) {
        let span = self.page_span(addr, len.max(1));
        for f in &mut self.pages[span.clone()] {
            *f &= !page::CODE;
        }
        self.refresh_fast(span);
    }

    /// Forgets every code mark (after an interpreter dropped its decoded code).
    pub fn clear_code_marks(&mut self) {
        for p in 0..self.pages.len() {
            if self.pages[p] & page::CODE != 0 {
                self.pages[p] &= !page::CODE;
                self.refresh_fast(p..p + 1);
            }
        }
        self.clear_code_written();
    }

    /// Whether a store hit a page marked as holding decoded code since the record was last
    /// cleared. As cheap as a field read: engines check it after every store.
    #[inline(always)]
    pub fn code_written(&self) -> bool {
        self.code_written
    }

    /// The bytes stored into code pages since the record was last cleared, `[start, end)`,
    /// or `None` if there were none.
    fn code_writes(&self) -> Option<std::ops::Range<u64>> {
        let (lo, hi) = self.code_write_range;
        (self.code_written && hi > lo).then_some(lo..hi)
    }

    /// The bytes stored into code pages since the record was last cleared, `[start, end)`,
    /// or `None` if there were none; clears the record. What an engine calls to learn which
    /// decoded code to drop.
    pub fn take_code_writes(&mut self) -> Option<std::ops::Range<u64>> {
        let writes = self.code_writes();
        self.clear_code_written();
        writes
    }

    /// Forgets the record of stores into code pages.
    fn clear_code_written(&mut self) {
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
            if f & page::MAPPED == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_allocations_are_none_not_aborts() {
        assert!(Memory::try_new(u64::MAX / 2).is_err());
        assert_eq!(Memory::try_new(0).map(|m| m.size()), Ok(0));
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
        assert!(!m.code_written());
        m.write(PAGE_SIZE + 100, 1, 1).unwrap();
        assert!(m.code_written());
    }

    #[test]
    fn mapped_pages_are_counted_and_prot_none_stays_taken() {
        let mut m = Memory::new(8 * PAGE_SIZE);
        assert_eq!(m.mapped_bytes(), 8 * PAGE_SIZE);
        m.protect(0, 8 * PAGE_SIZE, 0);
        assert_eq!(m.mapped_bytes(), 0);
        m.protect(PAGE_SIZE, 2 * PAGE_SIZE, page::MAPPED);
        m.protect(4 * PAGE_SIZE, 1, page::R);
        assert_eq!(m.mapped_bytes(), 3 * PAGE_SIZE);
        assert_eq!(m.mapped_bytes_in(0, 3 * PAGE_SIZE), 2 * PAGE_SIZE);
        assert!(m.is_mapped(PAGE_SIZE) && m.perms_at(PAGE_SIZE) == 0);
        assert!(m.is_all_mapped(PAGE_SIZE, 2 * PAGE_SIZE));
        assert!(!m.is_all_mapped(PAGE_SIZE, 3 * PAGE_SIZE));
        assert!(!m.is_all_mapped(u64::MAX - 1, 2));
        // A mapping with no access faults as a protection error, not as unmapped.
        assert!(matches!(
            m.read(PAGE_SIZE, 1),
            Err(MemError::Protection { .. })
        ));
        assert!(matches!(m.read(0, 1), Err(MemError::Unmapped { .. })));
        // First fit skips mapped pages, PROT_NONE ones included.
        assert_eq!(m.find_unmapped(0, 8 * PAGE_SIZE, PAGE_SIZE), Some(0));
        assert_eq!(
            m.find_unmapped(0, 8 * PAGE_SIZE, 2 * PAGE_SIZE),
            Some(5 * PAGE_SIZE)
        );
        assert_eq!(m.find_unmapped(0, 8 * PAGE_SIZE, 4 * PAGE_SIZE), None);
        assert_eq!(m.find_unmapped(1, 8 * PAGE_SIZE, 1), Some(3 * PAGE_SIZE));
        assert_eq!(
            m.find_unmapped(0, u64::MAX, 3 * PAGE_SIZE),
            Some(5 * PAGE_SIZE)
        );
        // Spans past the end are clipped, never a panic.
        m.protect(u64::MAX - 5, 10, page::R);
        m.mark_code(u64::MAX - 5, 10);
        m.unmark_code(u64::MAX - 5, 10);
        assert_eq!(m.mapped_bytes(), 3 * PAGE_SIZE);
    }

    #[test]
    fn discard_zeroes_and_copy_within_moves() {
        let mut m = Memory::new(16 * PAGE_SIZE);
        m.fill(0, 16 * PAGE_SIZE, 0xAB).unwrap();
        m.discard(100, 3 * PAGE_SIZE).unwrap();
        assert_eq!(m.peek(99, 1).unwrap(), [0xAB]);
        assert!(m.peek(100, 3 * PAGE_SIZE).unwrap().iter().all(|&b| b == 0));
        assert_eq!(m.peek(100 + 3 * PAGE_SIZE, 1).unwrap(), [0xAB]);
        assert!(m.discard(15 * PAGE_SIZE, 2 * PAGE_SIZE).is_err());
        m.mark_code(10 * PAGE_SIZE, 1);
        m.discard(10 * PAGE_SIZE, PAGE_SIZE).unwrap();
        assert!(m.code_written());
        m.clear_code_written();

        // Page 0 of the source is partly zero, page 1 all zero onto a dirty destination.
        m.poke(8 * PAGE_SIZE, b"moved").unwrap();
        m.discard(9 * PAGE_SIZE, PAGE_SIZE).unwrap();
        m.copy_within(8 * PAGE_SIZE, 12 * PAGE_SIZE, 2 * PAGE_SIZE)
            .unwrap();
        assert_eq!(m.peek(12 * PAGE_SIZE, 5).unwrap(), b"moved");
        assert!(m
            .peek(13 * PAGE_SIZE, PAGE_SIZE)
            .unwrap()
            .iter()
            .all(|&b| b == 0));
        // Overlapping ranges copy as memmove does.
        m.copy_within(12 * PAGE_SIZE, 12 * PAGE_SIZE + 2, 8)
            .unwrap();
        assert_eq!(m.peek(12 * PAGE_SIZE + 2, 5).unwrap(), b"moved");
        assert!(m.copy_within(0, 15 * PAGE_SIZE, 2 * PAGE_SIZE).is_err());
    }

    #[test]
    fn a_refused_reservation_says_why() {
        let e = ReserveError {
            size: 4 << 30,
            os_error: Some(12),
            address_space_limit: Some(4_000_000 << 10),
        };
        let text = e.to_string();
        assert!(
            text.contains("cannot reserve 4 GiB of host address space"),
            "{text}"
        );
        assert!(text.contains("ulimit -v) is 4000000 KiB"), "{text}");
    }

    #[test]
    fn a_large_reservation_costs_no_host_memory_until_touched() {
        // 64 GiB of guest memory: only the page table (16 MiB) is committed.
        let mut m = Memory::try_new(64 << 30).expect("a lazy reservation");
        m.write((64 << 30) - 8, 8, 7).unwrap();
        assert_eq!(m.read((64 << 30) - 8, 8), Ok(7));
    }

    #[test]
    fn unmap_rounds_out_to_pages_clips_to_memory_and_zeroes() {
        let mut m = Memory::new(4 * PAGE_SIZE);
        m.write(PAGE_SIZE - 4, 8, u64::MAX).unwrap();
        m.mark_code(PAGE_SIZE, 1);
        m.unmap(PAGE_SIZE + 100, 1);
        assert_eq!(m.mapped_bytes(), 3 * PAGE_SIZE);
        assert!(m.is_mapped(0) && !m.is_mapped(PAGE_SIZE) && m.is_mapped(2 * PAGE_SIZE));
        assert!(matches!(
            m.read(PAGE_SIZE, 1),
            Err(MemError::Unmapped {
                addr: PAGE_SIZE,
                ..
            })
        ));
        // The code page counts as written; its contents are gone.
        assert!(m.code_written);
        m.protect(PAGE_SIZE, PAGE_SIZE, page::R);
        assert_eq!(m.read(PAGE_SIZE - 4, 8), Ok(0xFFFF_FFFF));
        // Past the end and empty ranges are harmless.
        m.unmap(3 * PAGE_SIZE, 100 * PAGE_SIZE);
        m.unmap(0, 0);
        m.unmap(10 * PAGE_SIZE, PAGE_SIZE);
        assert_eq!(m.mapped_bytes(), 3 * PAGE_SIZE);
    }

    #[test]
    fn regions_merge_equal_neighbours_and_split_on_permissions() {
        let mut m = Memory::new(10 * PAGE_SIZE);
        let all = page::R | page::W | page::X;
        assert_eq!(
            m.regions().collect::<Vec<_>>(),
            [Region {
                start: 0,
                len: 10 * PAGE_SIZE,
                perms: all
            }]
        );
        m.unmap(0, PAGE_SIZE);
        m.protect(2 * PAGE_SIZE, PAGE_SIZE, page::MAPPED);
        m.mark_code(3 * PAGE_SIZE, 1); // code marks do not split a region
        m.unmap(6 * PAGE_SIZE, 2 * PAGE_SIZE);
        let r = |start: u64, pages: u64, perms: u8| Region {
            start: start * PAGE_SIZE,
            len: pages * PAGE_SIZE,
            perms,
        };
        assert_eq!(
            m.regions().collect::<Vec<_>>(),
            [r(1, 1, all), r(2, 1, 0), r(3, 3, all), r(8, 2, all)]
        );
        m.unmap(0, 10 * PAGE_SIZE);
        assert_eq!(m.regions().count(), 0);

        // A memory whose size is not a whole number of pages ends its last region there.
        let m = Memory::new(PAGE_SIZE + 10);
        assert_eq!(
            m.regions().collect::<Vec<_>>(),
            [r(0, 1, all)].map(|mut x| {
                x.len = PAGE_SIZE + 10;
                x
            })
        );
    }
}

#[cfg(test)]
mod fast_table_tests {
    use super::*;

    fn entry(mem: &Memory, page: u64, kind: usize) -> u8 {
        // SAFETY: test-only read of the table, in bounds for this memory.
        unsafe { *mem.fast_access_table().add(4 * page as usize + kind) }
    }

    #[test]
    fn the_fast_table_follows_the_page_flags() {
        let mut mem = Memory::new(16 * PAGE_SIZE);
        assert_eq!(
            entry(&mem, 0, 0),
            FAST_ASK,
            "entries start as ask, always right"
        );
        mem.protect(0, 16 * PAGE_SIZE, page::R | page::W);
        assert_eq!(entry(&mem, 0, 0), FAST_OK);
        assert_eq!(
            entry(&mem, 15, 0),
            FAST_ASK,
            "the last page has no next page"
        );
        assert_eq!(entry(&mem, 15, 2), FAST_OK);
        mem.protect(0, 16 * PAGE_SIZE, 0);
        mem.protect(PAGE_SIZE, 3 * PAGE_SIZE, page::R | page::W);
        assert_eq!(entry(&mem, 0, 0), FAST_ASK);
        assert_eq!((entry(&mem, 1, 0), entry(&mem, 1, 1)), (FAST_OK, FAST_OK));
        assert_eq!((entry(&mem, 2, 0), entry(&mem, 2, 1)), (FAST_OK, FAST_OK));
        assert_eq!((entry(&mem, 3, 0), entry(&mem, 3, 1)), (FAST_ASK, FAST_ASK));
        assert_eq!((entry(&mem, 3, 2), entry(&mem, 3, 3)), (FAST_OK, FAST_OK));
        assert_eq!((entry(&mem, 4, 2), entry(&mem, 4, 3)), (FAST_ASK, FAST_ASK));
        mem.protect(2 * PAGE_SIZE, PAGE_SIZE, page::R);
        assert_eq!((entry(&mem, 1, 0), entry(&mem, 1, 1)), (FAST_OK, FAST_ASK));
        mem.mark_code(PAGE_SIZE, 1);
        assert_eq!((entry(&mem, 0, 1), entry(&mem, 1, 1)), (FAST_ASK, FAST_ASK));
        mem.protect(2 * PAGE_SIZE, PAGE_SIZE, page::R | page::W);
        mem.unmark_code(PAGE_SIZE, 1);
        assert_eq!((entry(&mem, 1, 0), entry(&mem, 1, 1)), (FAST_OK, FAST_OK));
        mem.mark_code(2 * PAGE_SIZE, 1);
        mem.clear_code_marks();
        assert_eq!(entry(&mem, 2, 1), FAST_OK);
    }
}
