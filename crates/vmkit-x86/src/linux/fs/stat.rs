//! File status as the guest sees it: [`FileStat`] filled from the host (or made up for
//! virtual directories, devices and pipes), encoded in the exact i386 layouts of
//! `struct stat64` (96 bytes) and `struct statx` (256 bytes).

use std::os::unix::fs::MetadataExt;

/// `S_IFMT` file-type bits.
pub mod mode {
    /// Mask of the type bits.
    pub const S_IFMT: u32 = 0o170000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;
}

/// A file's status, independent of the layout it is reported in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    /// Device of the file system.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device, for device files.
    pub rdev: u64,
    /// Size in bytes.
    pub size: i64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Last access (seconds, nanoseconds).
    pub atime: (i64, u32),
    /// Last modification.
    pub mtime: (i64, u32),
    /// Last status change.
    pub ctime: (i64, u32),
    /// Creation, when the host file system records it.
    pub btime: Option<(i64, u32)>,
}

impl FileStat {
    /// The status of a host file.
    pub fn from_metadata(m: &std::fs::Metadata) -> FileStat {
        let btime = m.created().ok().and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| (d.as_secs() as i64, d.subsec_nanos()))
        });
        FileStat {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev(),
            size: m.size() as i64,
            blksize: m.blksize() as u32,
            blocks: m.blocks(),
            atime: (m.atime(), m.atime_nsec() as u32),
            mtime: (m.mtime(), m.mtime_nsec() as u32),
            ctime: (m.ctime(), m.ctime_nsec() as u32),
            btime,
        }
    }

    /// A made-up object of type and permissions `mode` (virtual directories, devices,
    /// pipes), owned by the guest's user.
    pub fn synthetic(mode: u32, ino: u64, rdev: u64) -> FileStat {
        FileStat {
            dev: 0x1d,
            ino,
            mode,
            nlink: if mode & mode::S_IFMT == mode::S_IFDIR {
                2
            } else {
                1
            },
            uid: crate::linux::GUEST_UID,
            gid: crate::linux::GUEST_UID,
            rdev,
            blksize: 4096,
            ..FileStat::default()
        }
    }

    /// Whether the type bits say directory.
    pub fn is_dir(&self) -> bool {
        self.mode & mode::S_IFMT == mode::S_IFDIR
    }

    /// i386 `struct stat64`. Fails with `EOVERFLOW` only where Linux would (never, for these
    /// 64-bit fields; times are truncated to 32 bits as the i386 layout has it).
    pub fn stat64_bytes(&self) -> [u8; 96] {
        let mut b = [0u8; 96];
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(0, &self.dev.to_le_bytes());
        put(12, &(self.ino as u32).to_le_bytes());
        put(16, &self.mode.to_le_bytes());
        put(20, &self.nlink.to_le_bytes());
        put(24, &self.uid.to_le_bytes());
        put(28, &self.gid.to_le_bytes());
        put(32, &self.rdev.to_le_bytes());
        put(44, &self.size.to_le_bytes());
        put(52, &self.blksize.to_le_bytes());
        put(56, &self.blocks.to_le_bytes());
        put(64, &(self.atime.0 as u32).to_le_bytes());
        put(68, &self.atime.1.to_le_bytes());
        put(72, &(self.mtime.0 as u32).to_le_bytes());
        put(76, &self.mtime.1.to_le_bytes());
        put(80, &(self.ctime.0 as u32).to_le_bytes());
        put(84, &self.ctime.1.to_le_bytes());
        put(88, &self.ino.to_le_bytes());
        b
    }

    /// `struct statx` (the same on every architecture).
    pub fn statx_bytes(&self) -> [u8; 256] {
        const STATX_BASIC_STATS: u32 = 0x7ff;
        const STATX_BTIME: u32 = 0x800;
        let mut b = [0u8; 256];
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        let mask = STATX_BASIC_STATS | if self.btime.is_some() { STATX_BTIME } else { 0 };
        put(0, &mask.to_le_bytes());
        put(4, &self.blksize.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(20, &self.uid.to_le_bytes());
        put(24, &self.gid.to_le_bytes());
        put(28, &(self.mode as u16).to_le_bytes());
        put(32, &self.ino.to_le_bytes());
        put(40, &self.size.to_le_bytes());
        put(48, &self.blocks.to_le_bytes());
        let time = |t: (i64, u32)| [t.0.to_le_bytes().as_slice(), &t.1.to_le_bytes()].concat();
        put(64, &time(self.atime));
        put(80, &time(self.btime.unwrap_or_default()));
        put(96, &time(self.ctime));
        put(112, &time(self.mtime));
        let (rmaj, rmin) = split_dev(self.rdev);
        let (dmaj, dmin) = split_dev(self.dev);
        put(128, &rmaj.to_le_bytes());
        put(132, &rmin.to_le_bytes());
        put(136, &dmaj.to_le_bytes());
        put(140, &dmin.to_le_bytes());
        b
    }
}

/// glibc's `major()` and `minor()` of a 64-bit `dev_t`.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// `DT_*` directory-entry type for a file type.
pub fn dirent_kind(ft: super::sandbox::FileType) -> u8 {
    use super::sandbox::FileType;
    match ft {
        FileType::Directory => 4,
        FileType::RegularFile => 8,
        FileType::Symlink => 10,
        FileType::CharacterDevice => 2,
        FileType::BlockDevice => 6,
        FileType::Fifo => 1,
        FileType::Socket => 12,
        FileType::Unknown => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat64_layout_matches_i386() {
        let s = FileStat {
            dev: 0x803,
            ino: 0x1_0000_0007,
            mode: 0o100644,
            nlink: 2,
            uid: 1000,
            gid: 100,
            size: 0x1_2345_6789,
            blksize: 4096,
            blocks: 8,
            mtime: (1_700_000_000, 5),
            ..FileStat::default()
        };
        let b = s.stat64_bytes();
        let w = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        assert_eq!(w(0), 0x803);
        assert_eq!(w(12), 7, "__st_ino is the truncated inode");
        assert_eq!(w(16), 0o100644);
        assert_eq!((w(20), w(24), w(28)), (2, 1000, 100));
        assert_eq!((w(44), w(48)), (0x2345_6789, 1), "st_size at 44, 4-aligned");
        assert_eq!((w(52), w(56)), (4096, 8));
        assert_eq!((w(72), w(76)), (1_700_000_000, 5));
        assert_eq!((w(88), w(92)), (7, 1));
    }

    #[test]
    fn statx_layout() {
        let s = FileStat {
            dev: 0x803,
            mode: 0o040755,
            size: 10,
            ..FileStat::default()
        };
        let b = s.statx_bytes();
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 0o040755);
        assert_eq!(b[40], 10);
        assert_eq!((b[136], b[140]), (8, 3));
        assert_eq!(split_dev(0x803), (8, 3));
    }
}
