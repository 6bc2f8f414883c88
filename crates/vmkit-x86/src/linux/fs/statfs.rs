//! `statfs64` and `fstatfs64`: the host's answer for the file system holding a visible
//! object, in the i386 `struct statfs64` layout (84 bytes, packed to 4). The sandbox's
//! virtual directories and devices answer as an empty `tmpfs` would. C libraries ask at
//! start-up (libselinux probes `/sys/fs/selinux`, coreutils' `ls` and `find` through it).

use super::super::{guest, Errno, Linux, Resolved};
use super::fd::Node;
use super::sandbox::{file_statfs, StatFs};
use super::AT_FDCWD;
use vmkit_mem::Memory;

/// `sizeof(struct statfs64)` on i386.
const STATFS64_SIZE: u32 = 84;
/// `TMPFS_MAGIC`, for what the sandbox itself serves.
const TMPFS_MAGIC: u32 = 0x0102_1994;

/// The fields of a `struct statfs64`.
#[derive(Default)]
struct FsStat {
    kind: u32,
    bsize: u32,
    blocks: u64,
    bfree: u64,
    bavail: u64,
    files: u64,
    ffree: u64,
    fsid: [i32; 2],
    namelen: u32,
    frsize: u32,
    flags: u32,
}

impl FsStat {
    fn of_host(st: &StatFs) -> FsStat {
        // SAFETY: `__fsid_t` is two `int`s with no invalid bit patterns; reading it as
        // such is what glibc's own `f_fsid.__val` accessor does.
        let fsid: [i32; 2] = unsafe { std::mem::transmute_copy(&st.f_fsid) };
        FsStat {
            kind: st.f_type as u32,
            bsize: st.f_bsize as u32,
            blocks: st.f_blocks,
            bfree: st.f_bfree,
            bavail: st.f_bavail,
            files: st.f_files,
            ffree: st.f_ffree,
            fsid,
            namelen: st.f_namelen as u32,
            frsize: st.f_frsize as u32,
            // Everything the guest sees is read-only unless allowed; the host's flags stay.
            flags: st.f_flags as u32,
        }
    }

    fn virtual_fs() -> FsStat {
        FsStat {
            kind: TMPFS_MAGIC,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            ..FsStat::default()
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(STATFS64_SIZE as usize);
        for w in [self.kind, self.bsize] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        for q in [self.blocks, self.bfree, self.bavail, self.files, self.ffree] {
            b.extend_from_slice(&q.to_le_bytes());
        }
        for i in self.fsid {
            b.extend_from_slice(&i.to_le_bytes());
        }
        for w in [self.namelen, self.frsize, self.flags, 0, 0, 0, 0] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b
    }
}

impl Linux {
    /// `statfs64(path, size, buf)`.
    pub(in crate::linux) fn statfs64(
        &mut self,
        mem: &mut Memory,
        path: u32,
        size: u32,
        buf: u32,
    ) -> Result<u32, Errno> {
        if size != STATFS64_SIZE {
            return Err(Errno::EINVAL);
        }
        let look = self.lookup(mem, AT_FDCWD, path, true)?;
        let st = match look.target {
            Resolved::Host(e) if !e.exists() => return Err(Errno::ENOENT),
            Resolved::Host(e) => FsStat::of_host(&e.statfs()?),
            Resolved::Virtual | Resolved::Device(_) => FsStat::virtual_fs(),
        };
        guest::store(mem, buf, &st.bytes())?;
        Ok(0)
    }

    /// `fstatfs64(fd, size, buf)`.
    pub(in crate::linux) fn fstatfs64(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        size: u32,
        buf: u32,
    ) -> Result<u32, Errno> {
        if size != STATFS64_SIZE {
            return Err(Errno::EINVAL);
        }
        let file = self.fds.get(fd)?;
        let st = {
            let file = file.borrow();
            match (file.node(), &file.guest_path) {
                (Node::File(f), _) => FsStat::of_host(&file_statfs(f)?),
                (Node::Dir(_) | Node::Path, Some(g)) if file.host_path.is_some() => {
                    FsStat::of_host(&self.host_entry(g)?.statfs()?)
                }
                _ => FsStat::virtual_fs(),
            }
        };
        guest::store(mem, buf, &st.bytes())?;
        Ok(0)
    }
}
