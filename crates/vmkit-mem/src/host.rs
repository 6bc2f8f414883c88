//! The host memory behind one guest memory: a single reservation of address space whose
//! pages the host kernel commits only when they are first written, and gives back when
//! they are discarded. This module owns every `unsafe` of the crate; it knows nothing of
//! page permissions.
//!
//! On Unix the reservation is one private anonymous `mmap` (`MAP_NORESERVE` where the
//! system has it): a 4 GiB guest costs the host only the pages the guest touches. Elsewhere
//! it is a zeroed heap allocation, which most allocators also back lazily.

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::ptr::NonNull;

/// The host refused to reserve memory for a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReserveError {
    /// Bytes asked for.
    pub size: u64,
    /// The host's error number (`errno`), when the host gave one.
    pub os_error: Option<i32>,
    /// The process's address-space limit (`ulimit -v`, `RLIMIT_AS`) in bytes, when one is
    /// set: the usual reason a large reservation fails.
    pub address_space_limit: Option<u64>,
}

/// `n` bytes in the largest binary unit that divides it ("4 GiB", "1536 KiB", "10 bytes").
fn human(n: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reserve {} of host address space for guest memory (none of it is committed until used)",
            human(self.size)
        )?;
        if let Some(errno) = self.os_error {
            write!(f, ": {}", std::io::Error::from_raw_os_error(errno))?;
        }
        if let Some(limit) = self.address_space_limit {
            write!(
                f,
                "; the address-space limit (ulimit -v) is {} KiB: raise it above {} plus what \
                 vmkit itself needs (e.g. `ulimit -v unlimited`)",
                limit >> 10,
                human(self.size)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ReserveError {}

/// The soft address-space limit of this process, if it has one.
fn address_space_limit() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable `rlimit` for the duration of the call.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0;
        if ok && lim.rlim_cur != libc::RLIM_INFINITY {
            // rlim_t is 32 bits wide on some targets.
            #[allow(clippy::useless_conversion)]
            return Some(u64::from(lim.rlim_cur));
        }
    }
    None
}

/// Zero-initialised host bytes, owned like a `Vec<u8>` that never grows.
pub(crate) struct HostBytes {
    ptr: NonNull<u8>,
    len: usize,
    /// The host's page size: the granularity at which memory can be handed back.
    host_page: usize,
}

// SAFETY: `HostBytes` owns its allocation exclusively (like `Vec<u8>`): no other handle to
// the memory exists, so moving it to another thread or sharing `&HostBytes` (which only
// gives `&[u8]`) is as safe as for a `Vec<u8>`.
unsafe impl Send for HostBytes {}
// SAFETY: see `Send`; shared references only read.
unsafe impl Sync for HostBytes {}

impl HostBytes {
    /// `len` zero bytes, or why the host refused.
    pub(crate) fn reserve(len: u64) -> Result<HostBytes, ReserveError> {
        let refused = |os_error: Option<i32>| ReserveError {
            size: len,
            os_error,
            address_space_limit: address_space_limit(),
        };
        // Slices are limited to isize::MAX bytes.
        let Some(size) = usize::try_from(len)
            .ok()
            .filter(|&n| n <= isize::MAX as usize)
        else {
            return Err(refused(None));
        };
        if size == 0 {
            return Ok(HostBytes {
                ptr: NonNull::dangling(),
                len: 0,
                host_page: 4096,
            });
        }
        let (ptr, host_page) = sys::reserve(size).map_err(refused)?;
        Ok(HostBytes {
            ptr,
            len: size,
            host_page,
        })
    }

    /// Zeroes `range` and, where the host allows, gives its memory back: whole host pages
    /// are replaced by fresh zero pages (committed again only when written), the partial
    /// host pages at either end are cleared in place.
    pub(crate) fn discard(&mut self, range: Range<usize>) {
        assert!(range.start <= range.end && range.end <= self.len);
        let page = self.host_page;
        let first = range.start.div_ceil(page) * page;
        let last = range.end / page * page;
        if first >= last {
            self[range].fill(0);
            return;
        }
        self[range.start..first].fill(0);
        self[last..range.end].fill(0);
        // SAFETY: `first..last` is a page-aligned, non-empty range inside our own mapping
        // (checked against `self.len` above), and `&mut self` guarantees no slice into it is
        // alive while its pages are replaced.
        let released = unsafe { sys::release(self.ptr.as_ptr().add(first), last - first) };
        if !released {
            self[first..last].fill(0);
        }
    }
}

impl Deref for HostBytes {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised bytes that live as long as `self` (or is
        // dangling with `len` 0, which is allowed).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for HostBytes {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes this the only live reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for HostBytes {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: `ptr` and `len` describe the allocation `sys::reserve` made, freed once.
            unsafe { sys::free(self.ptr, self.len) };
        }
    }
}

#[cfg(unix)]
mod sys {
    use std::ptr::NonNull;

    /// One private anonymous mapping of `len` (> 0) bytes and the host page size, or errno.
    pub(super) fn reserve(len: usize) -> Result<(NonNull<u8>, usize), Option<i32>> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096);
        // SAFETY: a fresh anonymous mapping at an address the kernel chooses aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().raw_os_error());
        }
        Ok((NonNull::new(ptr.cast()).ok_or(None)?, page))
    }

    /// Without `MAP_NORESERVE`, a strict-overcommit system would charge the whole
    /// reservation at once; Linux and Android have it, other systems commit lazily anyway.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const NORESERVE: libc::c_int = libc::MAP_NORESERVE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const NORESERVE: libc::c_int = 0;

    /// Replaces `len` bytes at `at` (page-aligned, inside a mapping from `reserve`) by fresh
    /// zero pages, returning their host memory. False if the host refused (the caller then
    /// clears the bytes itself).
    ///
    /// # Safety
    /// `at..at + len` must lie inside one mapping made by `reserve`, page-aligned, with no
    /// live references into it.
    pub(super) unsafe fn release(at: *mut u8, len: usize) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // On a private anonymous mapping, MADV_DONTNEED drops the pages: the next access
            // sees zeroes, without splitting the mapping. SAFETY: the caller's contract.
            unsafe { libc::madvise(at.cast(), len, libc::MADV_DONTNEED) == 0 }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            // Elsewhere MADV_DONTNEED may keep the contents; a fixed mapping over the range
            // replaces it by fresh zero pages. SAFETY: the caller's contract; MAP_FIXED only
            // replaces pages of our own mapping.
            let p = unsafe {
                libc::mmap(
                    at.cast(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | NORESERVE,
                    -1,
                    0,
                )
            };
            p != libc::MAP_FAILED
        }
    }

    /// Unmaps a reservation.
    ///
    /// # Safety
    /// `ptr`, `len` must be a mapping made by `reserve`, not used afterwards.
    pub(super) unsafe fn free(ptr: NonNull<u8>, len: usize) {
        // SAFETY: the caller's contract. A failure could only leak address space.
        unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    }
}

#[cfg(not(unix))]
mod sys {
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::ptr::NonNull;

    /// A zeroed heap block of `len` (> 0) bytes; the page size is nominal.
    pub(super) fn reserve(len: usize) -> Result<(NonNull<u8>, usize), Option<i32>> {
        let layout = Layout::from_size_align(len, 4096).map_err(|_| None)?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        Ok((NonNull::new(ptr).ok_or(None)?, 4096))
    }

    /// No portable way to give pages back: the caller clears them.
    ///
    /// # Safety
    /// None needed; kept `unsafe` to match the Unix version.
    pub(super) unsafe fn release(_at: *mut u8, _len: usize) -> bool {
        false
    }

    /// Frees a block from `reserve`.
    ///
    /// # Safety
    /// `ptr`, `len` must come from `reserve`, not used afterwards.
    pub(super) unsafe fn free(ptr: NonNull<u8>, len: usize) {
        // SAFETY: the caller's contract: same pointer and layout as the allocation.
        unsafe { dealloc(ptr.as_ptr(), Layout::from_size_align_unchecked(len, 4096)) };
    }
}
