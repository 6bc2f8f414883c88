//! Fuzzing for vmkit on stable Rust: five targets (the assembler, the image loader, the
//! devirtualizer, the x86 decoder with its engine, the ELF loader), each a function over
//! bytes that must never panic nor hang, with seed corpora built from the repository and a
//! mutation-based runner (`cargo run -p vmkit-fuzz --release -- TARGET --time 60`).
//!
//! The runner has no coverage instrumentation (that needs a nightly compiler); instead each
//! target returns a coarse signature of what the input did, and inputs with a new signature
//! are kept and mutated further. `fuzz/` holds `cargo fuzz` entry points over the same
//! functions for anyone with a nightly toolchain. See docs/testing.md.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod mutate;
pub mod runner;
pub mod seeds;
pub mod targets;

use mutate::Mutator;
use targets::Signature;

/// One fuzz target: what it feeds, where its seeds come from, how its inputs mutate.
pub struct Target {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line on what it exercises.
    pub about: &'static str,
    /// The function under test: must not panic, must return quickly.
    pub run: fn(&[u8]) -> Signature,
    /// The seed corpus.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// How its inputs mutate.
    pub mutator: fn() -> Mutator,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "asm",
        about: "the assembler: source text (macros, .rept, expressions, directives), then disassembly and the image round trip",
        run: targets::assembler,
        seeds: seeds::assembler,
        mutator: asm_mutator,
    },
    Target {
        name: "image",
        about: "the image loader: .vmi bytes, as given and with the checksum made right, then a bounded run",
        run: targets::image,
        seeds: seeds::image,
        mutator: binary_mutator::<{ 1 << 18 }>,
    },
    Target {
        name: "devirt",
        about: "the devirtualizer: protected images, damaged, checksum made right",
        run: targets::devirt,
        seeds: seeds::devirt,
        mutator: binary_mutator::<{ 1 << 18 }>,
    },
    Target {
        name: "x86",
        about: "the x86 decoder and engines: raw 32-bit code in a raw machine, step-limited",
        run: targets::x86_raw,
        seeds: seeds::x86_raw,
        mutator: binary_mutator::<4096>,
    },
    Target {
        name: "elf",
        about: "the ELF loader: ELF32 files (headers, segments, stack), then a bounded run",
        run: targets::elf,
        seeds: seeds::elf,
        mutator: binary_mutator::<{ 1 << 16 }>,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn binary_mutator<const MAX: usize>() -> Mutator {
    Mutator {
        dictionary: [
            &vmkit_image::MAGIC[..],
            b"\x7fELF",
            b"\xCD\x80", // int 0x80
            b"\x0F\x05",
            b"\xF3\xA4", // rep movsb
            b"\x66",
            b"\x67",
            b"\xF0",
            b"\x0F",
            b"\xD9",
            b"\xDD",
        ]
        .iter()
        .map(|w| w.to_vec())
        .collect(),
        text: false,
        max_len: MAX,
    }
}

fn asm_mutator() -> Mutator {
    let mut dictionary: Vec<Vec<u8>> = vmkit_asm::mnemonics()
        .into_iter()
        .map(|m| format!("{m} ").into_bytes())
        .collect();
    for word in [
        ".macro m a, b:vararg\n",
        ".endm\n",
        ".rept 3\n",
        // Large counts: the cost of a repeated body must stay bounded.
        ".rept 100000\n",
        "1000000",
        ".endr\n",
        ".if 1\n",
        ".else\n",
        ".endif\n",
        ".include \"qbx_macros.inc\"\n",
        ".data\n",
        ".const\n",
        ".text\n",
        ".memory 1M\n",
        ".stack 64K\n",
        ".u8 ",
        ".u16 ",
        ".u32 ",
        ".u64 ",
        ".f64 ",
        ".asciz \"",
        ".space ",
        ".align 8\n",
        "\\a",
        "\\b",
        "r1",
        "r15",
        "sp",
        "cp",
        "[r4 + 8]",
        "[cp + x]",
        ", ",
        "main:\n",
        ".l:\n",
        "x = 1 << 63\n",
        "0x8000000000000000",
        "-1",
        "(",
        ")",
        "*",
        "/",
        "%",
        "\n",
    ] {
        dictionary.push(word.as_bytes().to_vec());
    }
    Mutator {
        dictionary,
        text: true,
        max_len: 1 << 16,
    }
}
