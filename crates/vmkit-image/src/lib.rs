//! # vmkit-image: the vmkit executable image format
//!
//! An image is what `vmkit asm` writes and `vmkit run` loads: a header (magic, version,
//! entry point, memory and stack sizes), a table of segments with load address and
//! permissions, the names of the host functions the program imports (`hcall`), an optional
//! symbol table for debugging, and the segments' bytes. A CRC-32 over the whole file catches
//! corruption. The byte layout is specified in `docs/image.md`.
//!
//! ```
//! use vmkit_image::{Image, Segment, SegmentKind};
//! let mut image = Image::new(0x1000);
//! image.segments.push(Segment::new(SegmentKind::Code, 0x1000, vec![0x02])); // halt
//! let bytes = image.to_bytes();
//! assert_eq!(Image::from_bytes(&bytes).unwrap(), image);
//! assert!(Image::from_bytes(&bytes[..10]).is_err());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

/// The four magic bytes at the start of every image.
pub const MAGIC: [u8; 4] = *b"VMKI";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 64;
/// Size of one segment table entry in bytes.
pub const SEGMENT_ENTRY_LEN: usize = 40;
/// Offset of the CRC-32 field in the header.
const CRC_OFFSET: usize = 60;
/// Header flag: the image asks to run with W^X (no page both writable and executable).
pub const FLAG_WX: u16 = 1;

/// Whether `bytes` start with the image magic (used to tell images from source text).
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// What a segment holds; decides its default permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// Instructions (read, write, execute by default: code may modify itself, as in QBX;
    /// W^X mode removes the write permission at load time).
    Code = 1,
    /// Initialised data (read + write).
    Data = 2,
    /// The constant pool (read only), addressed by `[cp + off]`.
    Const = 3,
    /// Zero-initialised data (read + write); no bytes in the file.
    Bss = 4,
}

impl SegmentKind {
    fn from_u8(v: u8) -> Option<SegmentKind> {
        Some(match v {
            1 => SegmentKind::Code,
            2 => SegmentKind::Data,
            3 => SegmentKind::Const,
            4 => SegmentKind::Bss,
            _ => return None,
        })
    }

    /// The permissions a segment of this kind gets by default.
    pub fn default_perms(self) -> Perms {
        match self {
            SegmentKind::Code => Perms::RWX,
            SegmentKind::Data | SegmentKind::Bss => Perms::RW,
            SegmentKind::Const => Perms::R,
        }
    }

    /// Lower-case name, as used by the assembler's `.section` directive.
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::Code => "text",
            SegmentKind::Data => "data",
            SegmentKind::Const => "const",
            SegmentKind::Bss => "bss",
        }
    }
}

/// Segment permissions: read, write, execute bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perms(pub u8);

impl Perms {
    /// Readable.
    pub const R: Perms = Perms(1);
    /// Read + write.
    pub const RW: Perms = Perms(3);
    /// Read + execute.
    pub const RX: Perms = Perms(5);
    /// Read + write + execute.
    pub const RWX: Perms = Perms(7);
    /// Bit for read.
    pub const READ: u8 = 1;
    /// Bit for write.
    pub const WRITE: u8 = 2;
    /// Bit for execute.
    pub const EXEC: u8 = 4;

    /// Whether reads are allowed.
    pub fn read(self) -> bool {
        self.0 & Self::READ != 0
    }
    /// Whether writes are allowed.
    pub fn write(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    /// Whether execution is allowed.
    pub fn exec(self) -> bool {
        self.0 & Self::EXEC != 0
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |b: bool, ch| if b { ch } else { '-' };
        write!(
            f,
            "{}{}{}",
            c(self.read(), 'r'),
            c(self.write(), 'w'),
            c(self.exec(), 'x')
        )
    }
}

/// One loadable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// What it holds.
    pub kind: SegmentKind,
    /// Access permissions.
    pub perms: Perms,
    /// Load address.
    pub addr: u64,
    /// Size in memory; bytes past `data.len()` are zero.
    pub mem_size: u64,
    /// Initial contents (empty for bss).
    pub data: Vec<u8>,
}

impl Segment {
    /// A segment with the kind's default permissions whose memory size is its data size.
    pub fn new(kind: SegmentKind, addr: u64, data: Vec<u8>) -> Segment {
        Segment {
            kind,
            perms: kind.default_perms(),
            addr,
            mem_size: data.len() as u64,
            data,
        }
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.mem_size)
    }

    /// Whether `addr` lies inside the segment.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.addr && addr < self.end()
    }
}

/// What a symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// A label in code.
    Code = 1,
    /// A label on data.
    Data = 2,
    /// A constant from `.equ` (not an address).
    Constant = 3,
}

impl SymbolKind {
    fn from_u8(v: u8) -> Option<SymbolKind> {
        Some(match v {
            1 => SymbolKind::Code,
            2 => SymbolKind::Data,
            3 => SymbolKind::Constant,
            _ => return None,
        })
    }
}

/// A named address, for debugging and disassembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The address (or value, for constants).
    pub addr: u64,
    /// What it names.
    pub kind: SymbolKind,
    /// The name, as written in the source.
    pub name: String,
}

/// A loadable program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Header flags ([`FLAG_WX`]).
    pub flags: u16,
    /// Address of the first instruction.
    pub entry: u64,
    /// Memory the program wants, in bytes; 0 leaves it to the machine (1 MiB by default).
    pub memory_size: u64,
    /// Stack reserve in bytes; 0 leaves it to the machine.
    pub stack_size: u64,
    /// Segments, in file order.
    pub segments: Vec<Segment>,
    /// Host functions called by `hcall n`, where n indexes this list.
    pub imports: Vec<String>,
    /// Symbols (may be empty).
    pub symbols: Vec<Symbol>,
}

/// Why bytes are not a valid image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The file does not start with `VMKI`.
    BadMagic,
    /// A version this build does not read.
    UnsupportedVersion(u16),
    /// The file ends inside a structure.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset where it starts (the file ends before its last byte).
        offset: usize,
    },
    /// The stored CRC-32 does not match the contents.
    ChecksumMismatch {
        /// Stored in the header.
        stored: u32,
        /// Computed over the file.
        computed: u32,
    },
    /// A field holds a value the format does not define.
    BadField {
        /// Which field.
        what: String,
        /// Its value.
        value: u64,
    },
    /// A segment is inconsistent.
    BadSegment {
        /// Index in the segment table.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Two segments overlap in memory.
    Overlap {
        /// First segment index.
        a: usize,
        /// Second segment index.
        b: usize,
    },
    /// A name is not UTF-8 or is empty.
    BadName {
        /// Import or symbol.
        what: &'static str,
        /// Its index.
        index: usize,
    },
    /// The entry point is not inside an executable segment.
    BadEntry(u64),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::BadMagic => write!(f, "not a vmkit image (missing VMKI magic)"),
            ImageError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "image format version {v} is not supported (this build reads {VERSION})"
                )
            }
            ImageError::Truncated { what, offset } => {
                write!(
                    f,
                    "image is truncated: {what} at byte {offset} runs past the end of the file"
                )
            }
            ImageError::ChecksumMismatch { stored, computed } => write!(
                f,
                "image is corrupt: checksum {computed:#010x} does not match stored {stored:#010x}"
            ),
            ImageError::BadField { what, value } => write!(f, "invalid {what}: {value:#x}"),
            ImageError::BadSegment { index, reason } => write!(f, "segment {index}: {reason}"),
            ImageError::Overlap { a, b } => write!(f, "segments {a} and {b} overlap"),
            ImageError::BadName { what, index } => write!(f, "{what} {index} has an invalid name"),
            ImageError::BadEntry(e) => {
                write!(f, "entry point {e:#x} is not inside an executable segment")
            }
        }
    }
}

impl std::error::Error for ImageError {}

/// Names are non-empty, at most 65535 bytes, and free of control characters (they end up in
/// terminal output).
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= u16::MAX as usize && !s.chars().any(char::is_control)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ImageError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(ImageError::Truncated {
                what,
                offset: self.pos,
            }),
        }
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ImageError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, ImageError> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ImageError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, ImageError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn name(&mut self, what: &'static str, index: usize) -> Result<String, ImageError> {
        let len = self.u16(what)? as usize;
        let raw = self.take(len, what)?;
        match std::str::from_utf8(raw) {
            Ok(s) if valid_name(s) => Ok(s.to_string()),
            _ => Err(ImageError::BadName { what, index }),
        }
    }
}

impl Image {
    /// An empty image that starts at `entry`.
    pub fn new(entry: u64) -> Image {
        Image {
            flags: 0,
            entry,
            memory_size: 0,
            stack_size: 0,
            segments: Vec::new(),
            imports: Vec::new(),
            symbols: Vec::new(),
        }
    }

    /// The segment containing `addr`, if any.
    pub fn segment_at(&self, addr: u64) -> Option<&Segment> {
        self.segments.iter().find(|s| s.contains(addr))
    }

    /// The `len` bytes at `addr` as the image loads them (a segment's zero tail reads as
    /// zeros), if one segment holds them all.
    pub fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let seg = self.segment_at(addr)?;
        let off = usize::try_from(addr - seg.addr).ok()?;
        if addr.checked_add(len as u64)? > seg.end() {
            return None;
        }
        let mut out = vec![0; len];
        if let Some(have) = seg.data.get(off..) {
            let n = have.len().min(len);
            out[..n].copy_from_slice(&have[..n]);
        }
        Some(out)
    }

    /// Writes `bytes` at `addr`, growing a segment's stored data over its zero tail as
    /// needed; false (and nothing written) unless one segment holds them all.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> bool {
        let Some(seg) = self.segments.iter_mut().find(|s| s.contains(addr)) else {
            return false;
        };
        let Some(end) = addr.checked_add(bytes.len() as u64) else {
            return false;
        };
        if end > seg.end() {
            return false;
        }
        let off = (addr - seg.addr) as usize;
        if seg.data.len() < off + bytes.len() {
            seg.data.resize(off + bytes.len(), 0);
        }
        seg.data[off..off + bytes.len()].copy_from_slice(bytes);
        true
    }

    /// Load address of the constant pool: the first `Const` segment, or 0.
    pub fn const_base(&self) -> u64 {
        self.segments
            .iter()
            .find(|s| s.kind == SegmentKind::Const)
            .map_or(0, |s| s.addr)
    }

    /// Highest address used by any segment.
    pub fn end_address(&self) -> u64 {
        self.segments.iter().map(Segment::end).max().unwrap_or(0)
    }

    /// No two non-empty segments share an address. Sorted by start and swept, so that an image
    /// with the format's 65,535 segments costs a sort, not two billion comparisons.
    fn check_overlap(&self) -> Result<(), ImageError> {
        let mut spans: Vec<(u64, u64, usize)> = (self.segments.iter().enumerate())
            .filter(|(_, s)| s.mem_size > 0)
            .map(|(i, s)| (s.addr, s.end(), i))
            .collect();
        spans.sort_unstable();
        // The segment reaching furthest so far: any later start below its end overlaps it.
        let mut reach: Option<(u64, usize)> = None;
        for (addr, end, i) in spans {
            if let Some((far, j)) = reach {
                if addr < far {
                    return Err(ImageError::Overlap {
                        a: i.min(j),
                        b: i.max(j),
                    });
                }
            }
            if reach.is_none_or(|(far, _)| end > far) {
                reach = Some((end, i));
            }
        }
        Ok(())
    }

    /// Checks the structural rules: sizes, overlap, entry point, names.
    pub fn validate(&self) -> Result<(), ImageError> {
        for (i, s) in self.segments.iter().enumerate() {
            if (s.data.len() as u64) > s.mem_size {
                return Err(ImageError::BadSegment {
                    index: i,
                    reason: format!(
                        "holds {} bytes but its memory size is {}",
                        s.data.len(),
                        s.mem_size
                    ),
                });
            }
            if s.kind == SegmentKind::Bss && !s.data.is_empty() {
                return Err(ImageError::BadSegment {
                    index: i,
                    reason: "a bss segment has no bytes in the file".into(),
                });
            }
            if s.perms.0 & !7 != 0 {
                return Err(ImageError::BadSegment {
                    index: i,
                    reason: format!("undefined permission bits {:#x}", s.perms.0),
                });
            }
            if s.addr.checked_add(s.mem_size).is_none() {
                return Err(ImageError::BadSegment {
                    index: i,
                    reason: "extends past the end of the address space".into(),
                });
            }
        }
        self.check_overlap()?;
        let entry_ok = self
            .segments
            .iter()
            .any(|s| s.perms.exec() && s.contains(self.entry));
        if !entry_ok {
            return Err(ImageError::BadEntry(self.entry));
        }
        for (i, name) in self.imports.iter().enumerate() {
            if !valid_name(name) {
                return Err(ImageError::BadName {
                    what: "import",
                    index: i,
                });
            }
        }
        for (i, sym) in self.symbols.iter().enumerate() {
            if !valid_name(&sym.name) {
                return Err(ImageError::BadName {
                    what: "symbol",
                    index: i,
                });
            }
        }
        Ok(())
    }

    /// Serialises the image. The caller should [`validate`](Image::validate) first; an
    /// invalid image serialises but will not load.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.entry.to_le_bytes());
        out.extend_from_slice(&self.memory_size.to_le_bytes());
        out.extend_from_slice(&self.stack_size.to_le_bytes());
        out.extend_from_slice(&(self.segments.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.imports.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.symbols.len() as u32).to_le_bytes());
        out.resize(HEADER_LEN, 0);

        let table_at = out.len();
        out.resize(table_at + SEGMENT_ENTRY_LEN * self.segments.len(), 0);
        for name in &self.imports {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
        for sym in &self.symbols {
            out.extend_from_slice(&sym.addr.to_le_bytes());
            out.push(sym.kind as u8);
            out.extend_from_slice(&(sym.name.len() as u16).to_le_bytes());
            out.extend_from_slice(sym.name.as_bytes());
        }
        for (i, s) in self.segments.iter().enumerate() {
            let file_offset = out.len() as u64;
            out.extend_from_slice(&s.data);
            let mut entry = [0u8; SEGMENT_ENTRY_LEN];
            entry[0] = s.kind as u8;
            entry[1] = s.perms.0;
            entry[8..16].copy_from_slice(&s.addr.to_le_bytes());
            entry[16..24].copy_from_slice(&s.mem_size.to_le_bytes());
            entry[24..32].copy_from_slice(&file_offset.to_le_bytes());
            entry[32..40].copy_from_slice(&(s.data.len() as u64).to_le_bytes());
            let at = table_at + i * SEGMENT_ENTRY_LEN;
            out[at..at + SEGMENT_ENTRY_LEN].copy_from_slice(&entry);
        }
        let crc = crc32fast::hash(&out);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and validates an image.
    ///
    /// A file cut short is reported as truncated (with where it ends); any other damage that
    /// the checksum reveals is reported as a checksum mismatch rather than as whatever field
    /// the damage happened to hit.
    pub fn from_bytes(bytes: &[u8]) -> Result<Image, ImageError> {
        if bytes.len() < MAGIC.len() || bytes[..4] != MAGIC {
            return Err(ImageError::BadMagic);
        }
        let checksum = (bytes.len() >= HEADER_LEN).then(|| {
            let stored = u32::from_le_bytes([
                bytes[CRC_OFFSET],
                bytes[CRC_OFFSET + 1],
                bytes[CRC_OFFSET + 2],
                bytes[CRC_OFFSET + 3],
            ]);
            let mut zeroed = bytes.to_vec();
            zeroed[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
            (stored, crc32fast::hash(&zeroed))
        });
        let parsed = Image::parse(bytes);
        match (parsed, checksum) {
            (Err(e @ ImageError::Truncated { .. }), _) => Err(e),
            (Err(e @ (ImageError::BadMagic | ImageError::UnsupportedVersion(_))), _) => Err(e),
            (_, Some((stored, computed))) if stored != computed => {
                Err(ImageError::ChecksumMismatch { stored, computed })
            }
            (result, _) => result,
        }
    }

    /// Parses the structure and validates it, without looking at the checksum.
    fn parse(bytes: &[u8]) -> Result<Image, ImageError> {
        if bytes.len() < MAGIC.len() || bytes[..4] != MAGIC {
            return Err(ImageError::BadMagic);
        }
        let mut c = Cursor { bytes, pos: 4 };
        let version = c.u16("version")?;
        if version != VERSION {
            return Err(ImageError::UnsupportedVersion(version));
        }
        let flags = c.u16("flags")?;
        let entry = c.u64("entry point")?;
        let memory_size = c.u64("memory size")?;
        let stack_size = c.u64("stack size")?;
        let nseg = c.u16("segment count")? as usize;
        let nimp = c.u16("import count")? as usize;
        let nsym = c.u32("symbol count")? as usize;
        let reserved = c.take(CRC_OFFSET - c.pos, "header")?;
        c.u32("checksum")?;
        if reserved.iter().any(|&b| b != 0) {
            return Err(ImageError::BadField {
                what: "reserved header bytes".into(),
                value: 0,
            });
        }
        if flags & !FLAG_WX != 0 {
            return Err(ImageError::BadField {
                what: "header flags".into(),
                value: flags as u64,
            });
        }

        let mut raw_segments = Vec::with_capacity(nseg.min(1024));
        for i in 0..nseg {
            let e = c.take(SEGMENT_ENTRY_LEN, "segment table entry")?;
            let kind = SegmentKind::from_u8(e[0]).ok_or_else(|| ImageError::BadSegment {
                index: i,
                reason: format!("undefined kind {}", e[0]),
            })?;
            if e[2..8].iter().any(|&b| b != 0) {
                return Err(ImageError::BadSegment {
                    index: i,
                    reason: "reserved bytes are not zero".into(),
                });
            }
            let word = |k: usize| u64::from_le_bytes(e[k..k + 8].try_into().unwrap_or_default());
            raw_segments.push((kind, Perms(e[1]), word(8), word(16), word(24), word(32)));
        }
        let mut imports = Vec::with_capacity(nimp.min(1024));
        for i in 0..nimp {
            imports.push(c.name("import", i)?);
        }
        let mut symbols = Vec::with_capacity(nsym.min(65536));
        for i in 0..nsym {
            let addr = c.u64("symbol")?;
            let k = c.u8("symbol")?;
            let kind = SymbolKind::from_u8(k).ok_or_else(|| ImageError::BadField {
                what: format!("kind of symbol {i}"),
                value: k as u64,
            })?;
            let name = c.name("symbol", i)?;
            symbols.push(Symbol { addr, kind, name });
        }
        let mut segments = Vec::with_capacity(raw_segments.len());
        for (i, (kind, perms, addr, mem_size, off, len)) in raw_segments.into_iter().enumerate() {
            // Contents that start inside the file but run past its end: the file was cut.
            if off <= bytes.len() as u64 && off.saturating_add(len) > bytes.len() as u64 {
                return Err(ImageError::Truncated {
                    what: "segment contents",
                    // Where the contents start, as for every other structure.
                    offset: off as usize,
                });
            }
            let data = usize::try_from(off)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(o, l)| bytes.get(o..o.checked_add(l)?))
                .ok_or(ImageError::BadSegment {
                    index: i,
                    reason: format!(
                        "its {len} bytes at file offset {off} lie outside the {}-byte file",
                        bytes.len()
                    ),
                })?;
            segments.push(Segment {
                kind,
                perms,
                addr,
                mem_size,
                data: data.to_vec(),
            });
        }
        let image = Image {
            flags,
            entry,
            memory_size,
            stack_size,
            segments,
            imports,
            symbols,
        };
        image.validate()?;
        Ok(image)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn read_covers_zero_tails_and_stays_in_one_segment() {
        let mut image = Image::new(0x1000);
        let mut seg = Segment::new(SegmentKind::Data, 0x1000, vec![1, 2, 3]);
        seg.mem_size = 6;
        image.segments.push(seg);
        assert_eq!(image.read(0x1001, 4), Some(vec![2, 3, 0, 0]));
        assert_eq!(image.read(0x1004, 3), None);
        assert_eq!(image.read(0x2000, 1), None);
        // Writes grow the stored data over the zero tail, within the segment only.
        assert!(image.write(0x1004, &[9, 8]));
        assert_eq!(image.read(0x1000, 6), Some(vec![1, 2, 3, 0, 9, 8]));
        assert!(!image.write(0x1005, &[7, 7]));
        assert!(!image.write(0x2000, &[7]));
        assert_eq!(image.read(0x1000, 6), Some(vec![1, 2, 3, 0, 9, 8]));
    }

    use super::*;
    use proptest::prelude::*;

    fn sample() -> Image {
        let mut image = Image::new(0x1000);
        image
            .segments
            .push(Segment::new(SegmentKind::Code, 0x1000, vec![1, 2, 3]));
        image
            .segments
            .push(Segment::new(SegmentKind::Const, 0x2000, b"hi".to_vec()));
        image.segments.push(Segment {
            kind: SegmentKind::Bss,
            perms: Perms::RW,
            addr: 0x3000,
            mem_size: 4096,
            data: vec![],
        });
        image.imports.push("print".into());
        image.symbols.push(Symbol {
            addr: 0x1000,
            kind: SymbolKind::Code,
            name: "main".into(),
        });
        image
    }

    #[test]
    fn round_trip() {
        let image = sample();
        assert_eq!(Image::from_bytes(&image.to_bytes()).unwrap(), image);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().to_bytes();
        for n in 0..bytes.len() {
            assert!(
                Image::from_bytes(&bytes[..n]).is_err(),
                "prefix of {n} bytes loaded"
            );
        }
    }

    #[test]
    fn cut_off_files_say_truncated() {
        let bytes = sample().to_bytes();
        for n in HEADER_LEN..bytes.len() {
            match Image::from_bytes(&bytes[..n]) {
                Err(ImageError::Truncated { .. }) => {}
                other => panic!("prefix of {n} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn control_characters_in_names_are_refused() {
        let mut image = sample();
        image.imports[0] = "print\x1b[2J".into();
        assert!(matches!(image.validate(), Err(ImageError::BadName { .. })));
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let bytes = sample().to_bytes();
        for i in 4..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Image::from_bytes(&b).is_err(), "flip at {i} loaded");
        }
    }

    #[test]
    fn overlap_is_found_between_any_two_segments_in_any_order() {
        let seg = |addr: u64, len: u64| Segment {
            addr,
            mem_size: len,
            ..sample().segments[2].clone()
        };
        let mut image = sample();
        // 0x6000..0x7000 lies inside 0x5800..0x8000; a segment listed between them starts later.
        image.segments.push(seg(0x5800, 0x2800));
        image.segments.push(seg(0x9000, 0x100));
        image.segments.push(seg(0x6000, 0x1000));
        let last = image.segments.len() - 1;
        assert_eq!(
            image.validate(),
            Err(ImageError::Overlap {
                a: last - 2,
                b: last
            })
        );
        // Empty segments overlap nothing; touching ones do not overlap.
        let mut image = sample();
        let end = image.segments.iter().map(|s| s.end()).max().unwrap();
        image.segments.push(seg(end, 0x100));
        image.segments.push(seg(end + 0x10, 0));
        assert_eq!(image.validate(), Ok(()));
    }

    #[test]
    fn overlap_and_entry_are_checked() {
        let mut image = sample();
        image.segments[1].addr = 0x1002;
        assert_eq!(image.validate(), Err(ImageError::Overlap { a: 0, b: 1 }));
        let mut image = sample();
        image.entry = 0x2000;
        assert_eq!(image.validate(), Err(ImageError::BadEntry(0x2000)));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Image::from_bytes(&bytes);
            if bytes.len() >= 4 { bytes[..4].copy_from_slice(&MAGIC); }
            let _ = Image::from_bytes(&bytes);
        }
    }
}
