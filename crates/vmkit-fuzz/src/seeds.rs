//! Seed corpora, built in-process from what the repository already has: the examples and the
//! assembler's test programs as source text, their images, protected images of them under
//! several seeds, and small x86 programs, raw and wrapped in ELF32 files written here.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `crates/vmkit-fuzz`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Assembly sources: `examples/*.s`, the assembler's test programs, and snippets that reach
/// the macro, repetition and conditional machinery.
pub fn assembler() -> Vec<Vec<u8>> {
    let root = workspace_root();
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for dir in ["examples", "crates/vmkit-asm/tests/programs"] {
        for path in files(&root.join(dir), &["s", "inc"]) {
            if let Ok(bytes) = std::fs::read(&path) {
                seeds.push(bytes);
            }
        }
    }
    for snippet in SNIPPETS {
        seeds.push(snippet.as_bytes().to_vec());
    }
    seeds
}

const SNIPPETS: &[&str] = &[
    "main:\n    mov r1, 6\n    imul r1, 7\n    hcall print_int\n    halt\n",
    ".macro twice a\n    add r1, \\a\n    add r1, \\a\n.endm\nmain:\n    twice 3\n    twice r2\n    halt\n",
    ".macro v name, rest:vararg\n    mov \\name, 1\n.endm\nmain:\n    v r1, 2, 3\n    halt\n",
    "N = 4\nmain:\n.rept N\n    add r1, 1\n.endr\n.if N > 2\n    sub r1, 1\n.else\n    nop\n.endif\n    halt\n",
    ".memory 64K\n.stack 8K\nmain:\n    mov r4, buf\n    mov.d [r4 + 4], 0x1234\n    jmp .done\n.done:\n    halt\n.data\nbuf: .space 16\nw: .u16 1, 2\n.const\none: .f64 1.0\n",
    "main:\n    call f\n    sys exit\nf:\n    push r1\n    pop r2\n    cmp r1, r2\n    jnz main\n    ret\n",
];

/// Images (`.vmi` bytes) of every example that assembles.
pub fn image() -> Vec<Vec<u8>> {
    assembled_examples()
        .iter()
        .map(vmkit_image::Image::to_bytes)
        .collect()
}

/// Protected images: every example that protects, under two seeds and one or two VMs.
pub fn devirt() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for image in assembled_examples() {
        for (seed, vms) in [(1, 1), (2, 2)] {
            let opts = vmkit_protect::Options {
                seed,
                vms,
                only: Vec::new(),
                profile: None,
                ..Default::default()
            };
            if let Ok((protected, _)) = vmkit_protect::protect(&image, &opts) {
                seeds.push(protected.to_bytes());
            }
        }
    }
    seeds
}

/// Raw x86 code: PyVM's example and the snippets of [`x86_programs`] at
/// [`crate::targets::X86_BASE`].
pub fn x86_raw() -> Vec<Vec<u8>> {
    let mut seeds = x86_programs(crate::targets::X86_BASE);
    if let Ok(bytes) = std::fs::read(workspace_root().join("examples/x86/pyvm_hello.bin")) {
        seeds.push(bytes);
    }
    seeds
}

/// ELF32 executables written here around the x86 snippets, in several layouts: one RWX
/// segment, code and data segments with a `.bss` tail, position-independent, and one that
/// asks for a dynamic loader (which must be refused).
pub fn elf() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (i, code) in x86_programs(ELF_CODE).into_iter().enumerate() {
        let layout = match i % 4 {
            0 => Layout::OneSegment,
            1 => Layout::CodeAndData,
            2 => Layout::Pie,
            _ => Layout::Interp,
        };
        seeds.push(elf32(&code, layout));
    }
    seeds
}

fn assembled_examples() -> Vec<vmkit_image::Image> {
    files(&workspace_root().join("examples"), &["s"])
        .iter()
        .filter_map(|p| vmkit_asm::assemble_file(p).ok())
        .map(|a| a.image)
        .collect()
}

fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|e| extensions.iter().any(|x| e == *x))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

// ---- x86 programs ------------------------------------------------------------------------

/// Where the ELF seeds' code starts: the first page of the image holds the headers.
const ELF_BASE: u32 = 0x0804_8000;
const ELF_CODE: u32 = ELF_BASE + 0x100;

fn le(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Small programs that exit through `int 0x80`, each one reaching a different part of the
/// guest: system calls, loops and flags, string instructions, the x87, the stack, `brk` and
/// `mmap2`. `base` is the address of the first byte (for the absolute message address).
pub fn x86_programs(base: u32) -> Vec<Vec<u8>> {
    let exit = [0xB8, 1, 0, 0, 0, 0x31, 0xDB, 0xCD, 0x80]; // mov eax,1; xor ebx,ebx; int 0x80
    let mut programs = Vec::new();

    // write(1, msg, 6); exit(0); msg: "hello\n"
    let mut hello = vec![0xB8, 4, 0, 0, 0, 0xBB, 1, 0, 0, 0, 0xB9];
    hello.extend(le(base + 31));
    hello.extend([0xBA, 6, 0, 0, 0, 0xCD, 0x80]);
    hello.extend(exit);
    hello.resize(31, 0x90);
    hello.extend(b"hello\n");
    programs.push(hello);

    // mov ecx,100; l: add eax,ecx; adc edx,0; dec ecx; jnz l; exit
    let mut counted = vec![
        0xB9, 100, 0, 0, 0, 0x01, 0xC8, 0x83, 0xD2, 0, 0x49, 0x75, 0xF8,
    ];
    counted.extend(exit);
    programs.push(counted);

    // sub esp,64; mov edi,esp; mov ecx,16; mov al,0x41; rep stosb; mov esi,esp;
    // lea edi,[esp+32]; mov ecx,4; rep movsd; cld; repe cmpsb; exit
    let mut strings = vec![
        0x83, 0xEC, 0x40, 0x89, 0xE7, 0xB9, 16, 0, 0, 0, 0xB0, 0x41, 0xF3, 0xAA, 0x89, 0xE6, 0x8D,
        0x7C, 0x24, 0x20, 0xB9, 4, 0, 0, 0, 0xF3, 0xA5, 0xFC, 0xF3, 0xA6,
    ];
    strings.extend(exit);
    programs.push(strings);

    // fld1; fldpi; fmulp; fsqrt; sub esp,8; fistp dword [esp]; fldz; fcomp st(1)...; exit
    let mut x87 = vec![
        0xD9, 0xE8, 0xD9, 0xEB, 0xDE, 0xC9, 0xD9, 0xFA, 0x83, 0xEC, 0x08, 0xDB, 0x1C, 0x24, 0xD9,
        0xEE, 0xD9, 0xE8, 0xDE, 0xD9, 0xDF, 0xE0,
    ];
    x87.extend(exit);
    programs.push(x87);

    // call f; exit; f: push ebp; mov ebp,esp; imul eax,eax,7; cdq; idiv ecx (ecx=3 first);
    // pop ebp; ret
    let mut calls = vec![0xB9, 3, 0, 0, 0, 0xB8, 9, 0, 0, 0, 0xE8, 9, 0, 0, 0];
    calls.extend(exit);
    calls.extend([
        0x55, 0x89, 0xE5, 0x6B, 0xC0, 0x07, 0x99, 0xF7, 0xF9, 0x5D, 0xC3,
    ]);
    programs.push(calls);

    // brk(0); brk(that + 4096); mmap2(0, 8192, RW, PRIVATE|ANON, -1, 0); munmap; exit
    let mut memory = vec![
        0xB8, 45, 0, 0, 0, 0x31, 0xDB, 0xCD, 0x80, // brk(0)
        0x8D, 0x98, 0x00, 0x10, 0, 0, 0xB8, 45, 0, 0, 0, 0xCD, 0x80, // brk(eax+4096)
        0xB8, 192, 0, 0, 0, 0x31, 0xDB, 0xB9, 0, 0x20, 0, 0, 0xBA, 3, 0, 0, 0, // mmap2
        0xBE, 0x22, 0, 0, 0, 0xBF, 0xFF, 0xFF, 0xFF, 0xFF, 0x55, 0x31, 0xED, 0xCD, 0x80, 0x5D,
        0x89, 0xC3, 0xB8, 91, 0, 0, 0, 0xCD, 0x80, // munmap(eax, 8192)
    ];
    memory.extend(exit);
    programs.push(memory);

    // Flags and conditional moves: stc; sbb eax,eax; setc bl; cmovz ecx,eax; bsf edx,eax;
    // bt eax,3; rol eax,5; shld eax,ebx,3; exit
    let mut flags = vec![
        0xF9, 0x19, 0xC0, 0x0F, 0x92, 0xC3, 0x0F, 0x44, 0xC8, 0x0F, 0xBC, 0xD0, 0x0F, 0xBA, 0xE0,
        0x03, 0xC1, 0xC0, 0x05, 0x0F, 0xA4, 0xD8, 0x03,
    ];
    flags.extend(exit);
    programs.push(flags);

    // cpuid; rdtsc twice (the engines must count it alike); exit
    let mut cpu_info = vec![0x31, 0xC0, 0x0F, 0xA2, 0x0F, 0x31, 0x89, 0xC3, 0x0F, 0x31];
    cpu_info.extend(exit);
    programs.push(cpu_info);

    // Self-modifying: mov byte [here+n], 0x40 (inc eax) over a nop, then run it.
    let patch_at = base + 7 + 5;
    let mut selfmod = vec![0xC6, 0x05];
    selfmod.extend(le(patch_at));
    selfmod.push(0x40);
    selfmod.extend([0x90; 5]);
    selfmod.extend(exit);
    programs.push(selfmod);

    programs
}

// ---- ELF32 files -------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Layout {
    OneSegment,
    CodeAndData,
    Pie,
    Interp,
}

/// An ELF32 i386 executable with `code` at [`ELF_CODE`]; the headers sit in the first 0x100
/// bytes of the file, which the first segment maps at [`ELF_BASE`].
fn elf32(code: &[u8], layout: Layout) -> Vec<u8> {
    const EHDR: usize = 52;
    const PHDR: usize = 32;
    let (e_type, base) = match layout {
        Layout::Pie => (3u16, 0u32), // ET_DYN, linked at 0
        _ => (2u16, ELF_BASE),       // ET_EXEC
    };
    let code_off = 0x100usize;
    let data = b"data segment\0\0\0\0";
    let interp = b"/lib/ld-linux.so.2\0";
    let mut phdrs: Vec<[u32; 8]> = Vec::new();
    // p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
    let text_len = (code_off + code.len()) as u32;
    let data_off = text_len.next_multiple_of(4);
    let data_addr = base + 0x1000 * (1 + text_len / 0x1000) + data_off % 0x1000;
    match layout {
        Layout::OneSegment | Layout::Pie => {
            phdrs.push([1, 0, base, base, text_len, text_len, 7, 0x1000]);
        }
        Layout::CodeAndData => {
            phdrs.push([1, 0, base, base, text_len, text_len, 5, 0x1000]);
            let filesz = data.len() as u32;
            phdrs.push([
                1,
                data_off,
                data_addr,
                data_addr,
                filesz,
                filesz + 0x2000,
                6,
                0x1000,
            ]);
            phdrs.push([0x6474_E551, 0, 0, 0, 0, 0, 6, 16]); // PT_GNU_STACK
        }
        Layout::Interp => {
            let at = data_off;
            phdrs.push([
                3,
                at,
                base + at,
                base + at,
                interp.len() as u32,
                interp.len() as u32,
                4,
                1,
            ]);
            phdrs.push([1, 0, base, base, text_len, text_len, 5, 0x1000]);
        }
    }
    let entry = base + code_off as u32;
    let mut out = Vec::new();
    out.extend(b"\x7fELF");
    out.extend([1, 1, 1, 0]); // 32-bit, little-endian, version 1, System V
    out.extend([0u8; 8]);
    out.extend(e_type.to_le_bytes());
    out.extend(3u16.to_le_bytes()); // EM_386
    out.extend(1u32.to_le_bytes());
    out.extend(entry.to_le_bytes());
    out.extend((EHDR as u32).to_le_bytes()); // e_phoff
    out.extend(0u32.to_le_bytes()); // e_shoff
    out.extend(0u32.to_le_bytes()); // e_flags
    out.extend((EHDR as u16).to_le_bytes());
    out.extend((PHDR as u16).to_le_bytes());
    out.extend((phdrs.len() as u16).to_le_bytes());
    out.extend(40u16.to_le_bytes()); // e_shentsize
    out.extend(0u16.to_le_bytes()); // e_shnum
    out.extend(0u16.to_le_bytes()); // e_shstrndx
    for p in &phdrs {
        for v in p {
            out.extend(v.to_le_bytes());
        }
    }
    assert!(out.len() <= code_off, "ELF headers overflow into the code");
    out.resize(code_off, 0);
    // The snippets address their message absolutely at ELF_CODE; a PIE is placed elsewhere,
    // so its message address is simply wrong, which is a fine input too.
    out.extend(code);
    out.resize(data_off as usize, 0);
    match layout {
        Layout::CodeAndData => out.extend(data),
        Layout::Interp => out.extend(interp),
        _ => {}
    }
    out
}
