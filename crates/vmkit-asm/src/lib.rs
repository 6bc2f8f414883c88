//! # vmkit-asm: the vmkit assembler and disassembler
//!
//! The assembler turns source text into a [`vmkit_image::Image`]; the disassembler turns any
//! image back into source text that assembles to the same bytes. Both take every instruction
//! spelling, encoding and text form from `vmkit-isa`'s instruction table, so neither
//! repeats an opcode number.
//!
//! ```
//! let src = "
//!     .text
//! main:
//!     mov r1, 10
//! loop:
//!     dec r1
//!     jnz loop
//!     halt
//! ";
//! let out = vmkit_asm::assemble_str("count.s", src).unwrap();
//! assert!(out.warnings.is_empty());
//! let text = vmkit_asm::disassemble(&out.image);
//! let again = vmkit_asm::assemble_str("again.s", &text).unwrap();
//! assert_eq!(again.image.to_bytes(), out.image.to_bytes());
//! ```
//!
//! ## How it works
//!
//! Assembly runs in phases, one module each; reading them in this order follows a line of
//! source on its way into the image:
//!
//! | module | owns |
//! |---|---|
//! | `file.rs` | reading a source file: regular files only, up to a limit |
//! | `source.rs` | where each line came from; spans back to `file:line:col` through macros; the reports kept |
//! | `lexer.rs` | tokens: numbers, characters, strings, identifiers, operators |
//! | `frontend/` | files, `.include`, macros, `.rept`/`.irp`, `.if`: lines in, statements out |
//! | `macros.rs` | macro definitions and text substitution of `\param`, `\@`, `%%label` |
//! | `parser.rs`, `expr.rs`, `mnemonic.rs` | statement grammar checked against the ISA's operand slots |
//! | `resolve.rs` | undefined names and suggestions, imports, cycles, unused labels |
//! | `layout.rs`, `encode.rs` | addresses by iteration until sizes settle, then the bytes |
//! | `diag.rs` | rustc-style rendering and "did you mean" |
//! | `disasm.rs` | the way back: an image to source that assembles to the same bytes |
//!
//! The syntax is described in `docs/assembler.md`, and so are the limits that keep any
//! source, however hostile, from making the assembler run for long or use much memory.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ast;
mod diag;
mod disasm;
mod encode;
mod expr;
mod file;
mod frontend;
mod layout;
mod lexer;
mod macros;
mod mnemonic;
mod parser;
mod resolve;
mod source;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use disasm::disassemble;
pub use file::{read_limited, ReadError, MAX_SOURCE_FILE_BYTES};

use std::path::{Path, PathBuf};

/// A successfully assembled program.
#[derive(Clone, Debug)]
pub struct Assembled {
    /// The image, validated.
    pub image: vmkit_image::Image,
    /// Warnings (never errors), in the order found.
    pub warnings: Vec<Diagnostic>,
}

/// The largest image the assembler writes: 64 MiB, header, segments and symbols together.
/// The `vmkit` command line reads images up to the same size, so whatever the assembler
/// writes can be read back.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Assembles the file at `path`; `.include` paths are relative to the including file.
/// The file must be a regular file of at most [`MAX_SOURCE_FILE_BYTES`].
pub fn assemble_file(path: &Path) -> Result<Assembled, Diagnostics> {
    match read_limited(path, MAX_SOURCE_FILE_BYTES) {
        Ok(bytes) => assemble_source(path, &bytes),
        Err(e) => {
            let name = path.display().to_string();
            Err(Diagnostics(vec![Diagnostic::whole_file(
                &name,
                format!("cannot read `{name}`: {e}"),
                None,
            )]))
        }
    }
}

/// Assembles `bytes`, the contents of the file at `path` as the caller read them (with
/// [`read_limited`], say); `.include` paths are relative to `path`'s directory. Bytes that
/// are not UTF-8 are replaced by U+FFFD. More than [`MAX_SOURCE_FILE_BYTES`] is an error.
pub fn assemble_source(path: &Path, bytes: &[u8]) -> Result<Assembled, Diagnostics> {
    let name = path.display().to_string();
    if bytes.len() as u64 > MAX_SOURCE_FILE_BYTES {
        let too_large = ReadError::TooLarge {
            limit: MAX_SOURCE_FILE_BYTES,
        };
        return Err(Diagnostics(vec![Diagnostic::whole_file(
            &name,
            format!("cannot read `{name}`: {too_large}"),
            None,
        )]));
    }
    let text = String::from_utf8_lossy(bytes);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    assemble(&name, &text, dir, Some(path.to_path_buf()))
}

/// Assembles `source`; `name` is used in diagnostics and `.include` paths are relative to
/// the current directory.
pub fn assemble_str(name: &str, source: &str) -> Result<Assembled, Diagnostics> {
    assemble(name, source, PathBuf::new(), None)
}

fn assemble(
    name: &str,
    text: &str,
    dir: PathBuf,
    path: Option<PathBuf>,
) -> Result<Assembled, Diagnostics> {
    let mut front = frontend::Frontend::new();
    front.run(name, text, dir, path);
    let frontend::Frontend {
        sources,
        mut program,
        mut reports,
        suggester,
        ..
    } = front;
    let imports = resolve::resolve(&mut program, &sources, &suggester, &mut reports);
    let image = layout::build_image(&program, imports, &mut reports);

    let (kept, dropped_errors, dropped_warnings) = reports.into_parts();
    let diagnostics = tidy(&sources, kept, (dropped_errors, dropped_warnings), name);
    let mut diagnostics = diagnostics;
    if let Some(image) = &image {
        let size = image.to_bytes().len() as u64;
        if size > MAX_IMAGE_BYTES {
            diagnostics.push(Diagnostic::whole_file(
                name,
                format!(
                    "the image would be {size} bytes, more than the limit of {}",
                    file::show_size(MAX_IMAGE_BYTES)
                ),
                Some(
                    "large zeroed areas cost nothing in `.bss` or at the end of a segment (`.space`)".into(),
                ),
            ));
        }
    }
    match image {
        Some(image) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Assembled {
            image,
            warnings: diagnostics,
        }),
        _ => Err(Diagnostics(diagnostics)),
    }
}

/// Most errors, and most warnings, that one run shows; the rest are counted in a last
/// diagnostic ("and 99900 more errors not shown").
const MAX_SHOWN: usize = 100;

/// Puts reports in reading order, reports an error that occurs at the same place in every
/// repetition of a `.rept` (or every expansion of a macro) once, with a count, and shows at
/// most [`MAX_SHOWN`] errors and as many warnings. Each report comes with the number of its
/// repeats that were counted but not kept; `dropped` counts the errors and warnings that
/// were not kept at all.
///
/// Only the reports shown become [`Diagnostic`]s: each holds its whole source line, and
/// thousands of errors on one long line would otherwise hold thousands of copies of it.
fn tidy(
    sources: &source::SourceMap,
    reports: Vec<(source::Report, usize)>,
    dropped: (usize, usize),
    main_file: &str,
) -> Vec<Diagnostic> {
    use std::collections::HashMap;
    type Place = Option<(source::FileId, u32, usize)>;
    struct Entry {
        report: source::Report,
        place: Place,
        more: usize,
    }
    let mut files: Vec<source::FileId> = Vec::new();
    let mut out: Vec<Entry> = Vec::new();
    let mut index: HashMap<(Severity, String, Place), usize> = HashMap::new();
    for (report, repeats) in reports {
        let place = report.span.and_then(|s| sources.place(s));
        if let Some((file, _, _)) = place {
            if !files.contains(&file) {
                files.push(file);
            }
        }
        let key = (report.severity, report.message.clone(), place);
        match index.get(&key).and_then(|&i| out.get_mut(i)) {
            // Literally the same report (an `.equ` failing at each use, on the same logical
            // line, so in the same expansion): once is enough.
            Some(first)
                if first.report.notes == report.notes
                    && first.report.span.map(|s| s.line) == report.span.map(|s| s.line) =>
            {
                first.more += repeats
            }
            Some(first) => first.more += 1 + repeats,
            None => {
                index.insert(key, out.len());
                out.push(Entry {
                    report,
                    place,
                    more: repeats,
                });
            }
        }
    }
    let file_rank = |f: source::FileId| files.iter().position(|&x| x == f).unwrap_or(usize::MAX);
    // Whole-program diagnostics go last.
    out.sort_by_key(|e| match e.place {
        Some((file, line, col)) => (false, file_rank(file), line, col),
        None => (true, usize::MAX, 0, 0),
    });
    let mut shown = Vec::new();
    let (mut hidden_errors, mut hidden_warnings) = dropped;
    let (mut errors, mut warnings) = (0, 0);
    for e in out {
        let (count, hidden) = if e.report.severity == Severity::Error {
            (&mut errors, &mut hidden_errors)
        } else {
            (&mut warnings, &mut hidden_warnings)
        };
        if *count >= MAX_SHOWN {
            *hidden += 1;
            continue;
        }
        *count += 1;
        let mut d = sources.to_diagnostic(e.report, main_file);
        if e.more > 0 {
            d.notes.push(format!(
                "the same {} occurs {} more time{} in other expansions",
                d.severity,
                e.more,
                if e.more == 1 { "" } else { "s" }
            ));
        }
        shown.push(d);
    }
    for (hidden, severity) in [
        (hidden_errors, Severity::Error),
        (hidden_warnings, Severity::Warning),
    ] {
        if hidden > 0 {
            shown.push(Diagnostic::not_shown(
                severity, hidden, main_file, MAX_SHOWN,
            ));
        }
    }
    shown
}

/// Every mnemonic spelling the assembler accepts, in lower case: plain names, conditional
/// ones with every condition alias (`jz`, `je`, `setnz`, `cmovge`) and sized ones with each
/// suffix (`add`, `add.b`, `add.w`, `add.d`, `add.q`).
pub fn mnemonics() -> Vec<String> {
    mnemonic::all().to_vec()
}
