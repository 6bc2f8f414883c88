//! Loading ELF32 i386 images: validate the header, map each `PT_LOAD` segment at a load
//! bias with its permissions, as the kernel's `load_elf_binary` does (whole file pages, the
//! rest of the last file page and the `.bss` zero), and report what the initial stack needs
//! (entry, program headers, end of data for `brk`, the `PT_INTERP` path). The same code maps
//! the program and its dynamic loader ([`super::Linux::load_program`] decides where).

use crate::linux::MMAP_MIN_ADDR;
use object::elf::{
    FileHeader32, ProgramHeader32, EM_386, EM_68K, EM_AARCH64, EM_ARM, EM_BPF, EM_IA_64,
    EM_LOONGARCH, EM_MIPS, EM_PPC, EM_PPC64, EM_RISCV, EM_S390, EM_SPARC, EM_SPARCV9, EM_X86_64,
    ET_CORE, ET_DYN, ET_EXEC, ET_REL, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR,
};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;
use std::fmt;
use vmkit_mem::{page, Memory, PAGE_SIZE};

/// Where a position-independent executable (`ET_DYN` with an entry point) is placed: the
/// address an i386 process gets from a 64-bit Linux kernel with address randomization off
/// (`setarch -R`, as gdb runs programs), for PIE programs with or without an interpreter.
pub const PIE_BASE: u32 = 0x5655_5000;

/// What the loader learned about the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedElf {
    /// Entry point.
    pub entry: u32,
    /// Address of the program headers in guest memory (for `AT_PHDR`).
    pub phdr: u32,
    /// Number of program headers.
    pub phnum: u32,
    /// Size of one program header.
    pub phent: u32,
    /// End of the highest writable segment: where `brk` starts.
    pub brk_start: u32,
    /// Load bias (0 for `ET_EXEC`).
    pub bias: u32,
    /// The `PT_INTERP` path (the dynamic loader, without its NUL), if the image names one.
    pub interp: Option<Vec<u8>>,
}

/// Why a file is not a runnable static i386 executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not ELF, not 32-bit little-endian, or the headers are truncated or inconsistent.
    Malformed(String),
    /// ELF, but not an i386 executable: another class, byte order or machine, or an object
    /// file, shared library or core dump. Says what the file is ("an ELF64 x86-64
    /// executable").
    NotI386Executable(String),
    /// The dynamic loader the program names (`PT_INTERP`) cannot be used: not visible in
    /// the sandbox, unreadable, or not an i386 shared object. Says which path and why.
    Interpreter(String),
    /// A segment lies outside the 32-bit address space or overlaps the stack area.
    BadSegment(String),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Malformed(why) => write!(f, "not a valid ELF32 executable: {why}"),
            ElfError::NotI386Executable(what) => write!(
                f,
                "this is {what}; vmkit runs i386 programs (ELF32 executables, little-endian, EM_386){}",
                if what.contains("x86-64") || what.contains("relocatable") {
                    ": build with `gcc -m32`"
                } else {
                    ""
                }
            ),
            ElfError::Interpreter(why) => write!(f, "dynamic loader {why}"),
            ElfError::BadSegment(why) => write!(f, "bad segment: {why}"),
        }
    }
}

impl std::error::Error for ElfError {}

/// Whether `bytes` look like an ELF file (magic only).
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

fn malformed(e: impl fmt::Display) -> ElfError {
    ElfError::Malformed(e.to_string())
}

/// What an ELF file is, from its identification and header ("an ELF64 x86-64
/// executable", "an ELF32 big-endian MIPS core dump"), or `None` when it is an i386
/// executable (`ET_EXEC`, or `ET_DYN` with an entry point: a PIE or a dynamic loader) that [`load`]
/// should try. Only the first 20 bytes are read, so any file that has them gets a name.
pub fn identify(bytes: &[u8]) -> Result<Option<String>, ElfError> {
    let ident = bytes
        .get(..20)
        .filter(|b| is_elf(b))
        .ok_or_else(|| malformed("the ELF header is truncated"))?;
    let big = match ident[5] {
        1 => false,
        2 => true,
        d => return Err(malformed(format!("unknown byte order {d} (EI_DATA)"))),
    };
    let half = |at: usize| {
        let b = [ident[at], ident[at + 1]];
        if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let (kind, machine) = (half(16), half(18));
    let class = match ident[4] {
        1 => "ELF32",
        2 => "ELF64",
        c => return Err(malformed(format!("unknown class {c} (EI_CLASS)"))),
    };
    let entry = bytes
        .get(24..28)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if class == "ELF32"
        && !big
        && machine == EM_386
        && (kind == ET_EXEC || (kind == ET_DYN && entry != 0))
    {
        return Ok(None);
    }
    let machine = match machine {
        EM_386 => "i386".to_string(),
        EM_X86_64 => "x86-64".into(),
        EM_ARM => "ARM".into(),
        EM_AARCH64 => "AArch64".into(),
        EM_RISCV => "RISC-V".into(),
        EM_MIPS => "MIPS".into(),
        EM_PPC => "PowerPC".into(),
        EM_PPC64 => "PowerPC64".into(),
        EM_S390 => "s390".into(),
        EM_SPARC | EM_SPARCV9 => "SPARC".into(),
        EM_IA_64 => "IA-64".into(),
        EM_LOONGARCH => "LoongArch".into(),
        EM_68K => "m68k".into(),
        EM_BPF => "eBPF".into(),
        m => format!("machine {m}"),
    };
    let what = match kind {
        ET_REL => "relocatable object file (.o)",
        ET_EXEC => "executable",
        ET_DYN if machine == "i386" => "shared library (ET_DYN without an entry point)",
        ET_DYN => "shared library or position-independent executable",
        ET_CORE => "core dump",
        _ => "file of an unknown type",
    };
    Ok(Some(format!(
        "an {class}{} {machine} {what}",
        if big { " big-endian" } else { "" }
    )))
}

/// The parsed headers of an i386 image, before anything is mapped.
struct Image<'a> {
    bytes: &'a [u8],
    header: &'a FileHeader32<LE>,
    phdrs: &'a [ProgramHeader32<LE>],
}

impl<'a> Image<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Image<'a>, ElfError> {
        if let Some(what) = identify(bytes)? {
            return Err(ElfError::NotI386Executable(what));
        }
        let header = FileHeader32::<LE>::parse(bytes).map_err(malformed)?;
        let phdrs = header.program_headers(LE, bytes).map_err(malformed)?;
        Ok(Image {
            bytes,
            header,
            phdrs,
        })
    }

    fn is_pie(&self) -> bool {
        self.header.e_type(LE) == ET_DYN
    }

    /// The lowest page and the end of the `PT_LOAD` segments, unbiased.
    fn span(&self) -> Result<(u64, u64), ElfError> {
        let loads = self.phdrs.iter().filter(|p| p.p_type(LE) == PT_LOAD);
        let low = loads.clone().map(|p| p.p_vaddr(LE) as u64).min();
        let high = loads
            .map(|p| p.p_vaddr(LE) as u64 + p.p_memsz(LE) as u64)
            .max();
        match (low, high) {
            (Some(low), Some(high)) => Ok((low & !(PAGE_SIZE - 1), high)),
            _ => Err(malformed("no loadable segments")),
        }
    }

    fn interp(&self) -> Result<Option<Vec<u8>>, ElfError> {
        let Some(p) = self.phdrs.iter().find(|p| p.p_type(LE) == PT_INTERP) else {
            return Ok(None);
        };
        let (offset, size) = (p.p_offset(LE) as usize, p.p_filesz(LE) as usize);
        let raw = offset
            .checked_add(size)
            .and_then(|end| self.bytes.get(offset..end))
            .ok_or_else(|| malformed("the PT_INTERP path lies outside the file"))?;
        let path = raw.split(|&b| b == 0).next().unwrap_or_default();
        if path.is_empty() {
            return Err(malformed("the PT_INTERP path is empty"));
        }
        Ok(Some(path.to_vec()))
    }
}

/// The unbiased page span `[low, high)` of an image's `PT_LOAD` segments, and whether the
/// image is position-independent (`ET_DYN`), so that a caller can choose its load bias.
pub fn span(bytes: &[u8]) -> Result<(u64, u64, bool), ElfError> {
    let image = Image::parse(bytes)?;
    let (low, high) = image.span()?;
    Ok((low, high, image.is_pie()))
}

/// Maps the executable's segments into `mem` (which must have nothing mapped there) and
/// copies their contents: an `ET_EXEC` at its addresses, an `ET_DYN` at [`PIE_BASE`].
pub fn load(mem: &mut Memory, bytes: &[u8]) -> Result<LoadedElf, ElfError> {
    let pie = Image::parse(bytes)?.is_pie();
    load_at(mem, bytes, if pie { PIE_BASE } else { 0 })
}

/// Maps an image's segments at `bias` (which must be 0 for an `ET_EXEC`), as the kernel
/// maps them: each segment's pages hold the file's bytes from the page-aligned offset up to
/// the end of the segment's file part, zeros after it.
pub fn load_at(mem: &mut Memory, bytes: &[u8], bias: u32) -> Result<LoadedElf, ElfError> {
    let image = Image::parse(bytes)?;
    let (header, phdrs, e) = (image.header, image.phdrs, LE);
    let interp = image.interp()?;
    if !image.is_pie() && bias != 0 {
        return Err(ElfError::BadSegment(
            "a fixed-address executable cannot be moved".into(),
        ));
    }
    let mut brk_start = 0u32;
    let mut phdr_addr = None;
    let mut loads = 0;
    for p in phdrs {
        match p.p_type(e) {
            PT_PHDR => phdr_addr = Some(p.p_vaddr(e).wrapping_add(bias)),
            PT_LOAD => {
                loads += 1;
                let vaddr = p.p_vaddr(e) as u64 + bias as u64;
                let memsz = p.p_memsz(e) as u64;
                let filesz = p.p_filesz(e) as u64;
                let offset = p.p_offset(e) as u64;
                if filesz > memsz {
                    return Err(ElfError::BadSegment(format!(
                        "segment at {vaddr:#x} has more file bytes ({filesz}) than memory bytes ({memsz})"
                    )));
                }
                let end = vaddr + memsz;
                if end > crate::linux::STACK_LIMIT as u64 || vaddr < MMAP_MIN_ADDR {
                    return Err(ElfError::BadSegment(format!(
                        "segment {vaddr:#x}..{end:#x} lies outside the user address space"
                    )));
                }
                // The file's bytes from the start of the first page (as mmap maps them).
                let lead = (vaddr % PAGE_SIZE).min(offset);
                let data = bytes
                    .get((offset - lead) as usize..(offset + filesz) as usize)
                    .ok_or_else(|| {
                        malformed(format!("segment at {vaddr:#x} lies outside the file"))
                    })?;
                let flags = p.p_flags(e);
                let mut perms = 0;
                if flags & PF_R != 0 {
                    perms |= page::R;
                }
                if flags & PF_W != 0 {
                    perms |= page::W | page::R;
                }
                if flags & PF_X != 0 {
                    perms |= page::X | page::R;
                }
                // Pages shared with a previous segment keep its permissions too.
                let first = vaddr & !(PAGE_SIZE - 1);
                let shared = mem.perms_at(first);
                mem.protect(vaddr, memsz.max(1), perms | page::MAPPED);
                if shared != 0 {
                    mem.protect(first, 1, shared | perms | page::MAPPED);
                }
                mem.poke(vaddr - lead, data)
                    .map_err(|err| ElfError::BadSegment(err.to_string()))?;
                if flags & PF_W != 0 || end as u32 > brk_start {
                    brk_start = brk_start.max(end as u32);
                }
                if phdr_addr.is_none() {
                    let phoff = header.e_phoff(e) as u64;
                    if phoff >= offset && phoff < offset + filesz {
                        phdr_addr = Some((vaddr + (phoff - offset)) as u32);
                    }
                }
            }
            _ => {}
        }
    }
    if loads == 0 {
        return Err(malformed("no loadable segments"));
    }
    Ok(LoadedElf {
        entry: header.e_entry(e).wrapping_add(bias),
        phdr: phdr_addr.unwrap_or(0),
        phnum: phdrs.len() as u32,
        phent: header.e_phentsize(e) as u32,
        brk_start: ((brk_start as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE) as u32,
        bias,
        interp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF identification and header start: class, byte order, type, machine, entry.
    fn header(class: u8, data: u8, kind: u16, machine: u16, entry: u32) -> Vec<u8> {
        let mut h = vec![0u8; 52];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let half = |v: u16| {
            if data == 2 {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        h[16..18].copy_from_slice(&half(kind));
        h[18..20].copy_from_slice(&half(machine));
        h[24..28].copy_from_slice(&entry.to_le_bytes());
        h
    }

    #[test]
    fn i386_executables_pass_and_everything_else_is_named() {
        let name = |b: Vec<u8>| identify(&b).unwrap();
        assert_eq!(name(header(1, 1, ET_EXEC, EM_386, 0x8049000)), None);
        assert_eq!(
            name(header(1, 1, ET_DYN, EM_386, 0x1000)),
            None,
            "static PIE"
        );
        assert_eq!(
            name(header(1, 1, ET_DYN, EM_386, 0)).as_deref(),
            Some("an ELF32 i386 shared library (ET_DYN without an entry point)")
        );
        assert_eq!(
            name(header(2, 1, ET_EXEC, EM_X86_64, 0x401000)).as_deref(),
            Some("an ELF64 x86-64 executable")
        );
        assert_eq!(
            name(header(1, 2, ET_EXEC, EM_386, 0)).as_deref(),
            Some("an ELF32 big-endian i386 executable")
        );
        assert_eq!(
            name(header(1, 1, ET_CORE, EM_386, 0)).as_deref(),
            Some("an ELF32 i386 core dump")
        );
        assert!(identify(b"\x7fELF\x01\x01").is_err(), "truncated");
        assert!(
            identify(&header(3, 1, ET_EXEC, EM_386, 0)).is_err(),
            "bad class"
        );
    }
}
