//! Address-space calls: `brk`, `mmap2` (anonymous, and private copies of files), the old
//! `mmap`, `munmap`, `mprotect`, `mremap`. Mappings are page permissions in the guest's own
//! [`Memory`]; nothing is shared with the host.

use super::errno::Errno;
use super::fd::Node;
use super::{guest, Linux};
use crate::linux_process::{MMAP_BASE, STACK_LIMIT};
use std::os::unix::fs::FileExt;
use vmkit_mem::{page, Memory, PAGE_SIZE};

fn page_up(v: u64) -> u64 {
    v.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

const MAP_SHARED: u32 = 0x01;
const MAP_PRIVATE: u32 = 0x02;
const MAP_FIXED: u32 = 0x10;
const MAP_ANONYMOUS: u32 = 0x20;
const PROT_WRITE: u32 = 0x2;

impl Linux {
    /// `brk`: grows (or reports) the heap; new pages are zeroed and read-write.
    pub(super) fn brk(&mut self, mem: &mut Memory, want: u32) -> u32 {
        if want < self.brk_start || want as u64 >= MMAP_BASE as u64 {
            return self.brk;
        }
        let old_end = page_up(self.brk as u64);
        let new_end = page_up(want as u64);
        if new_end > old_end {
            mem.protect(old_end, new_end - old_end, page::R | page::W);
            let _ = mem.fill(old_end, new_end - old_end, 0);
        }
        self.brk = want;
        want
    }

    /// Reserves `size` bytes of fresh address space for a mapping.
    fn reserve(&mut self, size: u64) -> Result<u64, Errno> {
        let start = self.mmap_next as u64;
        if start + size > STACK_LIMIT as u64 {
            return Err(Errno::ENOMEM);
        }
        self.mmap_next = (start + size) as u32;
        Ok(start)
    }

    /// `mmap2(addr, len, prot, flags, fd, pgoffset)`: anonymous mappings, and file mappings
    /// as private copies (a shared mapping is accepted only read-only, where a copy cannot be
    /// told apart).
    pub(super) fn mmap2(&mut self, mem: &mut Memory, a: [u32; 6]) -> Result<u32, Errno> {
        let (addr, len, prot, flags, fd, pgoff) = (a[0], a[1], a[2], a[3], a[4], a[5]);
        if len == 0 || prot & !7 != 0 || flags & (MAP_SHARED | MAP_PRIVATE) == 0 {
            return Err(Errno::EINVAL);
        }
        let file = if flags & MAP_ANONYMOUS == 0 {
            let file = self.fds.get(fd)?;
            if flags & MAP_SHARED != 0 && prot & PROT_WRITE != 0 {
                return Err(Errno::ENODEV);
            }
            if !file.borrow().readable() {
                return Err(Errno::EACCES);
            }
            if !matches!(file.borrow().node, Node::File(_)) {
                return Err(Errno::ENODEV);
            }
            Some(file)
        } else {
            None
        };
        let size = page_up(len as u64);
        let start = if flags & MAP_FIXED != 0 {
            if addr as u64 % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            addr as u64
        } else {
            self.reserve(size)?
        };
        if start + size > 1 << 32 {
            return Err(Errno::ENOMEM);
        }
        mem.protect(start, size, prot as u8);
        let _ = mem.fill(start, size, 0);
        if let Some(file) = file {
            let file = file.borrow();
            if let Node::File(f) = &file.node {
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
        self.flush_code = true;
        Ok(start as u32)
    }

    /// The old `mmap(struct mmap_arg_struct *)`, offset in bytes.
    pub(super) fn old_mmap(&mut self, mem: &mut Memory, args: u32) -> Result<u32, Errno> {
        let mut a = [0u32; 6];
        for (k, v) in a.iter_mut().enumerate() {
            *v = guest::u32_at(mem, args + 4 * k as u32)?;
        }
        if a[5] as u64 % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        a[5] /= PAGE_SIZE as u32;
        self.mmap2(mem, a)
    }

    /// `munmap`.
    pub(super) fn munmap(&mut self, mem: &mut Memory, addr: u32, len: u32) -> Result<u32, Errno> {
        if addr as u64 % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        mem.protect(addr as u64, len as u64, 0);
        self.flush_code = true;
        Ok(0)
    }

    /// `mprotect`.
    pub(super) fn mprotect(
        &mut self,
        mem: &mut Memory,
        addr: u32,
        len: u32,
        prot: u32,
    ) -> Result<u32, Errno> {
        if addr as u64 % PAGE_SIZE != 0 || prot & !7 != 0 {
            return Err(Errno::EINVAL);
        }
        mem.protect(addr as u64, len as u64, prot as u8);
        self.flush_code = true;
        Ok(0)
    }

    /// `mremap`: shrinks in place, grows by moving (with `MREMAP_MAYMOVE`).
    pub(super) fn mremap(
        &mut self,
        mem: &mut Memory,
        old: u32,
        old_len: u32,
        new_len: u32,
        flags: u32,
    ) -> Result<u32, Errno> {
        const MREMAP_MAYMOVE: u32 = 1;
        if old as u64 % PAGE_SIZE != 0 || new_len == 0 || flags & !MREMAP_MAYMOVE != 0 {
            return Err(Errno::EINVAL);
        }
        let (old_size, new_size) = (page_up(old_len as u64), page_up(new_len as u64));
        let perms = mem.perms_at(old as u64);
        if perms == 0 {
            return Err(Errno::EFAULT);
        }
        if new_size <= old_size {
            mem.protect(old as u64 + new_size, old_size - new_size, 0);
            self.flush_code = true;
            return Ok(old);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let start = self.reserve(new_size)?;
        let data = mem
            .peek(old as u64, old_size)
            .map_err(|_| Errno::EFAULT)?
            .to_vec();
        mem.protect(start, new_size, perms);
        let _ = mem.fill(start, new_size, 0);
        mem.poke(start, &data).map_err(|_| Errno::ENOMEM)?;
        mem.protect(old as u64, old_size, 0);
        self.flush_code = true;
        Ok(start as u32)
    }
}
