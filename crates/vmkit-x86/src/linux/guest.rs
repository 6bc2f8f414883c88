//! Reading and writing system-call arguments in guest memory. Every access goes through
//! [`Memory`]'s checked accessors with the guest's page permissions, so a bad pointer is
//! `EFAULT` for the guest and never reaches host memory.

use super::errno::Errno;
use vmkit_mem::{Memory, PAGE_SIZE};

/// Longest path the guest may pass, with its terminating NUL (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// `len` bytes at `addr`, readable by the guest.
pub fn bytes(mem: &Memory, addr: u32, len: u32) -> Result<&[u8], Errno> {
    mem.read_bytes(addr as u64, len as u64)
        .map_err(|_| Errno::EFAULT)
}

/// Stores `data` at `addr`, writable by the guest.
pub fn store(mem: &mut Memory, addr: u32, data: &[u8]) -> Result<(), Errno> {
    mem.write_bytes(addr as u64, data)
        .map_err(|_| Errno::EFAULT)
}

/// The 32-bit word at `addr`.
pub fn u32_at(mem: &Memory, addr: u32) -> Result<u32, Errno> {
    let b = bytes(mem, addr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The 64-bit word at `addr`.
pub fn u64_at(mem: &Memory, addr: u32) -> Result<u64, Errno> {
    let b = bytes(mem, addr, 8)?;
    let mut q = [0u8; 8];
    q.copy_from_slice(b);
    Ok(u64::from_le_bytes(q))
}

/// Stores a 32-bit word.
pub fn store_u32(mem: &mut Memory, addr: u32, v: u32) -> Result<(), Errno> {
    store(mem, addr, &v.to_le_bytes())
}

/// Stores a 64-bit word.
pub fn store_u64(mem: &mut Memory, addr: u32, v: u64) -> Result<(), Errno> {
    store(mem, addr, &v.to_le_bytes())
}

/// The NUL-terminated string at `addr` (without the NUL), at most `limit` bytes with it:
/// `EFAULT` if it runs into memory the guest cannot read, `ENAMETOOLONG` past the limit.
pub fn c_string(mem: &Memory, addr: u32, limit: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut at = addr as u64;
    loop {
        let chunk = (PAGE_SIZE - at % PAGE_SIZE).min((1u64 << 32) - at);
        if chunk == 0 {
            return Err(Errno::EFAULT);
        }
        let data = mem.read_bytes(at, chunk).map_err(|_| Errno::EFAULT)?;
        if let Some(end) = data.iter().position(|&b| b == 0) {
            out.extend_from_slice(&data[..end]);
            return if out.len() >= limit {
                Err(Errno::ENAMETOOLONG)
            } else {
                Ok(out)
            };
        }
        out.extend_from_slice(data);
        if out.len() >= limit {
            return Err(Errno::ENAMETOOLONG);
        }
        at += chunk;
    }
}

/// A path argument: a string of at most `PATH_MAX` bytes.
pub fn path(mem: &Memory, addr: u32) -> Result<Vec<u8>, Errno> {
    c_string(mem, addr, PATH_MAX)
}

/// An `iovec` array: (base, len) pairs.
pub fn iovecs(mem: &Memory, iov: u32, count: u32) -> Result<Vec<(u32, u32)>, Errno> {
    if count > 1024 {
        return Err(Errno::EINVAL);
    }
    let raw = bytes(mem, iov, count * 8)?;
    Ok(raw
        .chunks_exact(8)
        .map(|e| {
            (
                u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmkit_mem::page;

    #[test]
    fn strings_stop_at_unreadable_pages() {
        let mut mem = Memory::new(4 * PAGE_SIZE);
        mem.protect(0, 4 * PAGE_SIZE, 0);
        mem.protect(PAGE_SIZE, PAGE_SIZE, page::R | page::W);
        mem.poke(PAGE_SIZE, b"hello\0").unwrap();
        assert_eq!(c_string(&mem, PAGE_SIZE as u32, 100).unwrap(), b"hello");
        // No NUL before the unmapped page: EFAULT, not a read of host memory.
        mem.fill(PAGE_SIZE, PAGE_SIZE, b'x').unwrap();
        assert_eq!(
            c_string(&mem, PAGE_SIZE as u32, 1 << 20),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            c_string(&mem, PAGE_SIZE as u32, 100),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(c_string(&mem, 0, 100), Err(Errno::EFAULT));
        assert_eq!(store_u32(&mut mem, 8, 1), Err(Errno::EFAULT));
    }
}
