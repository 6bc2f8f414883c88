//! The code area: one host mapping holding the translator's chain slots (data, always
//! read-write) followed by its code (read-write while the translator writes it, read-execute
//! while it runs, never both). Slots sit within ±2 GiB of the code, so a block reaches its
//! successor with one `jmp [rip + slot]`.
//!
//! The area is bounded: when code or slots run out, the engine flushes everything and
//! starts again (see `JitEngine::flush`). This module owns the mapping's `unsafe`.

use std::ptr::NonNull;

/// Bytes of chain slots (8 bytes each).
const SLOT_BYTES: usize = 4 << 20;
/// Bytes of code.
const CODE_BYTES: usize = 60 << 20;

/// The code area. Code offsets are from the start of the code part; the first
/// `reserved` bytes (the entry and exit routines) survive a reset.
pub(super) struct CodeArea {
    base: NonNull<u8>,
    /// Bytes of code used.
    code_used: usize,
    /// Slots used.
    slots_used: usize,
    /// Code bytes kept by [`CodeArea::reset`].
    reserved: usize,
    /// The code bytes writable (and not executable) now: `[start, end)` offsets, empty
    /// when all code is executable.
    writable: (usize, usize),
}

impl CodeArea {
    /// Maps a new, writable area.
    pub(super) fn new() -> std::io::Result<CodeArea> {
        let len = SLOT_BYTES + CODE_BYTES;
        // SAFETY: a fresh private anonymous mapping at an address of the kernel's choice;
        // no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap returned a null code area"))?;
        Ok(CodeArea {
            base,
            code_used: 0,
            slots_used: 0,
            reserved: 0,
            writable: (0, CODE_BYTES),
        })
    }

    /// Host address of code offset 0.
    pub(super) fn code_base(&self) -> usize {
        self.base.as_ptr() as usize + SLOT_BYTES
    }

    /// Host address of the next code byte to be written.
    pub(super) fn code_cursor(&self) -> usize {
        self.code_base() + self.code_used
    }

    /// Whether `bytes` more code and `slots` more slots fit.
    pub(super) fn has_room(&self, bytes: usize, slots: usize) -> bool {
        self.code_used + bytes <= CODE_BYTES && (self.slots_used + slots) * 8 <= SLOT_BYTES
    }

    /// Whether `bytes` more code fit the writable window.
    pub(super) fn window_has(&self, bytes: usize) -> bool {
        self.code_used >= self.writable.0 && self.code_used + bytes <= self.writable.1
    }

    /// Takes a slot holding `value`; returns its host address. The caller checked
    /// [`CodeArea::has_room`].
    pub(super) fn new_slot(&mut self, value: u64) -> usize {
        assert!(
            (self.slots_used + 1) * 8 <= SLOT_BYTES,
            "code area slots exhausted"
        );
        let addr = self.base.as_ptr() as usize + self.slots_used * 8;
        self.slots_used += 1;
        set_slot(addr, value);
        addr
    }

    /// Appends `code` (made for the address [`CodeArea::code_cursor`] gave); returns its
    /// host address, or `None` if it does not fit the writable window.
    pub(super) fn append(&mut self, code: &[u8]) -> Option<usize> {
        let end = self.code_used + code.len();
        if self.code_used < self.writable.0 || end > self.writable.1 {
            return None;
        }
        let at = self.code_cursor();
        // SAFETY: `at..at + len` lies inside the writable window of our mapping (checked
        // above), and no Rust reference into it exists.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
        self.code_used += code.len();
        Some(at)
    }

    /// Keeps the code written so far across [`CodeArea::reset`] (the entry and exit
    /// routines).
    pub(super) fn reserve_written(&mut self) {
        self.reserved = self.code_used;
    }

    /// Forgets every slot and every code byte after the reserved ones.
    pub(super) fn reset(&mut self) {
        self.code_used = self.reserved;
        self.slots_used = 0;
    }

    /// Makes the next `len` bytes of code (from the cursor, whole host pages, at most to
    /// the end of the area) writable and not executable.
    pub(super) fn make_writable(&mut self, len: usize) {
        self.make_executable();
        let start = self.code_used / PAGE * PAGE;
        let end = (self.code_used + len).div_ceil(PAGE) * PAGE;
        let end = end.min(CODE_BYTES);
        self.protect(start..end, libc::PROT_READ | libc::PROT_WRITE);
        self.writable = (start, end);
    }

    /// Makes all code executable and not writable.
    pub(super) fn make_executable(&mut self) {
        let (start, end) = self.writable;
        if start < end {
            self.protect(start..end, libc::PROT_READ | libc::PROT_EXEC);
            self.writable = (0, 0);
        }
    }

    fn protect(&mut self, range: std::ops::Range<usize>, prot: i32) {
        // SAFETY: a page-aligned range of the code part of our own mapping; changing its
        // protection affects only code this area owns, and no Rust reference into it
        // exists.
        let r = unsafe {
            libc::mprotect(
                (self.code_base() + range.start) as *mut libc::c_void,
                range.end - range.start,
                prot,
            )
        };
        // mprotect on our own mapping fails only for lack of kernel memory; running on with
        // the wrong protection would be unsound, so stop.
        assert!(
            r == 0,
            "mprotect of the code area failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Host page size the code area's protections are changed in.
const PAGE: usize = 4096;

/// Stores `value` in the slot at `addr` (an address [`CodeArea::new_slot`] returned).
pub(super) fn set_slot(addr: usize, value: u64) {
    // SAFETY: slots lie in the always-writable data part of a live code area, 8-aligned;
    // translated code only reads them, and never while Rust runs.
    unsafe { (addr as *mut u64).write(value) };
}

impl Drop for CodeArea {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping, which nothing references any more.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), SLOT_BYTES + CODE_BYTES);
        }
    }
}
