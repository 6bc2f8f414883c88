//! Loading static ELF32 i386 executables: validate the header, map each `PT_LOAD` segment
//! with its permissions, and report what the initial stack needs (entry, program headers,
//! end of data for `brk`).

use object::elf::{
    FileHeader32, ProgramHeader32, EM_386, ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD,
    PT_PHDR,
};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;
use std::fmt;
use vmkit_mem::{page, Memory, PAGE_SIZE};

/// Where a position-independent static executable (`-static-pie`) is placed.
const PIE_BASE: u32 = 0x5655_5000;

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
}

/// Why a file is not a runnable static i386 executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not ELF, not 32-bit little-endian, or the headers are truncated or inconsistent.
    Malformed(String),
    /// ELF for another machine.
    WrongMachine(u16),
    /// Needs a dynamic loader.
    Dynamic,
    /// A segment lies outside the 32-bit address space or overlaps the stack area.
    BadSegment(String),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Malformed(why) => write!(f, "not a valid ELF32 executable: {why}"),
            ElfError::WrongMachine(m) => write!(
                f,
                "ELF machine {m} is not i386 (3); vmkit's x86 guest runs 32-bit x86 programs"
            ),
            ElfError::Dynamic => write!(
                f,
                "dynamically linked executables are not supported (they need ld.so): build with `gcc -m32 -static`"
            ),
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

/// Maps the executable's segments into `mem` (which must have nothing mapped there) and
/// copies their contents.
pub fn load(mem: &mut Memory, bytes: &[u8]) -> Result<LoadedElf, ElfError> {
    let header = FileHeader32::<LE>::parse(bytes).map_err(malformed)?;
    let e = header.endian().map_err(malformed)?;
    if header.e_machine(e) != EM_386 {
        return Err(ElfError::WrongMachine(header.e_machine(e)));
    }
    let kind = header.e_type(e);
    if kind != ET_EXEC && kind != ET_DYN {
        return Err(malformed(format!("ELF type {kind} is not an executable")));
    }
    let phdrs: &[ProgramHeader32<LE>] = header.program_headers(e, bytes).map_err(malformed)?;
    if phdrs.iter().any(|p| p.p_type(e) == PT_INTERP) {
        return Err(ElfError::Dynamic);
    }
    let bias = if kind == ET_DYN { PIE_BASE } else { 0 };
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
                if end > crate::linux_process::STACK_LIMIT as u64 {
                    return Err(ElfError::BadSegment(format!(
                        "segment {vaddr:#x}..{end:#x} reaches the stack area"
                    )));
                }
                let data = bytes
                    .get(offset as usize..(offset + filesz) as usize)
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
                mem.protect(vaddr, memsz.max(1), perms);
                if shared != 0 {
                    mem.protect(first, 1, shared | perms);
                }
                mem.poke(vaddr, data)
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
    })
}
