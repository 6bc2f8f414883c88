//! The disassembler: an image back to source text that assembles to the same image.
//!
//! The output is complete: header directives, imports, constants, every segment at its
//! address with its labels, and code as instructions. Bytes that do not decode, that would
//! run across a label, or whose text would not assemble back to the very same bytes become
//! `.byte` lines, so the round trip is exact for any code bytes. Each instruction carries a
//! comment with its address and encoding.

use crate::ast::{OperandAst, StmtKind};
use crate::encode::{Lowering, Mode, OperandState};
use crate::expr::{Env, Expr, ExprKind};
use crate::lexer::{is_identifier, lex};
use crate::parser::{parse_statement, reserved_word, ParseCtx, Parsed};
use crate::source::{Report, Span};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use vmkit_image::{Image, SegmentKind, SymbolKind, FLAG_WX};
use vmkit_isa::{decode, format_instr, Op, Symbols};

/// Column where the address/bytes comment starts.
const COMMENT_COLUMN: usize = 40;
/// Bytes per `.byte` line.
const BYTES_PER_LINE: usize = 16;

/// Whether a symbol name can be written back as a label or constant.
fn printable(name: &str) -> bool {
    is_identifier(name) && !name.starts_with('.') && reserved_word(name).is_none()
}

/// Labels by where the disassembler will print them.
struct Placement<'a> {
    /// Segment index -> address -> names, in symbol-table order.
    in_segment: Vec<BTreeMap<u64, Vec<&'a str>>>,
    /// Labels that lie in no segment of their kind: printed in empty sections.
    orphans: Vec<(u64, SymbolKind, &'a str)>,
}

/// Puts each label in the first segment of its kind (code labels in text, data labels in
/// the others) that contains it or ends exactly at it. Reassembly gives a label in `.text`
/// the kind Code and any other the kind Data, so this is what keeps kinds intact.
fn place_labels(image: &Image) -> Placement<'_> {
    let mut in_segment = vec![BTreeMap::new(); image.segments.len()];
    let mut orphans = Vec::new();
    for sym in &image.symbols {
        if sym.kind == SymbolKind::Constant || !printable(&sym.name) {
            continue;
        }
        let fits = |s: &vmkit_image::Segment| {
            (s.kind == SegmentKind::Code) == (sym.kind == SymbolKind::Code)
        };
        let found = image
            .segments
            .iter()
            .position(|s| fits(s) && s.contains(sym.addr))
            .or_else(|| {
                image
                    .segments
                    .iter()
                    .position(|s| fits(s) && s.end() == sym.addr)
            });
        match found {
            Some(i) => in_segment[i]
                .entry(sym.addr)
                .or_insert_with(Vec::new)
                .push(sym.name.as_str()),
            None => orphans.push((sym.addr, sym.kind, sym.name.as_str())),
        }
    }
    Placement {
        in_segment,
        orphans,
    }
}

/// Names for `format_instr`, and values for checking that its text assembles back.
struct ImageSymbols<'a> {
    by_addr: HashMap<u64, &'a str>,
    /// Offset from the pool's start -> label placed in a const segment.
    by_const_offset: HashMap<u32, &'a str>,
    imports: Vec<Option<&'a str>>,
    /// Name -> (address, placed in a const segment).
    labels: HashMap<&'a str, (u64, bool)>,
    constants: HashMap<&'a str, u64>,
    const_base: u64,
}

impl<'a> ImageSymbols<'a> {
    fn new(image: &'a Image, placement: &Placement<'a>) -> ImageSymbols<'a> {
        let const_base = image.const_base();
        let mut s = ImageSymbols {
            by_addr: HashMap::new(),
            by_const_offset: HashMap::new(),
            imports: image
                .imports
                .iter()
                .map(|n| printable(n).then_some(n.as_str()))
                .collect(),
            labels: HashMap::new(),
            constants: HashMap::new(),
            const_base,
        };
        for (i, labels) in placement.in_segment.iter().enumerate() {
            let is_const = image.segments[i].kind == SegmentKind::Const;
            for (&addr, names) in labels {
                for &name in names {
                    s.by_addr.entry(addr).or_insert(name);
                    s.labels.insert(name, (addr, is_const));
                    if is_const {
                        if let Ok(off) = u32::try_from(addr.wrapping_sub(const_base)) {
                            if addr >= const_base {
                                s.by_const_offset.entry(off).or_insert(name);
                            }
                        }
                    }
                }
            }
        }
        for &(addr, _, name) in &placement.orphans {
            s.by_addr.entry(addr).or_insert(name);
            s.labels.insert(name, (addr, false));
        }
        for sym in &image.symbols {
            if sym.kind == SymbolKind::Constant && printable(&sym.name) {
                s.constants.insert(sym.name.as_str(), sym.addr);
            }
        }
        s
    }
}

impl Symbols for ImageSymbols<'_> {
    fn name_at(&self, addr: u64) -> Option<&str> {
        self.by_addr.get(&addr).copied()
    }
    fn const_name(&self, offset: u32) -> Option<&str> {
        self.by_const_offset.get(&offset).copied()
    }
    fn import_name(&self, index: u16) -> Option<&str> {
        self.imports.get(index as usize).copied().flatten()
    }
}

/// Symbol values as the reassembled program will see them.
struct CheckEnv<'a> {
    syms: &'a ImageSymbols<'a>,
    dot: u64,
}

impl Env for CheckEnv<'_> {
    fn symbol(&self, name: &str, span: Span, in_cp: bool) -> Result<i64, Report> {
        if let Some(&(addr, is_const)) = self.syms.labels.get(name) {
            return Ok(if in_cp && is_const {
                addr.wrapping_sub(self.syms.const_base) as i64
            } else {
                addr as i64
            });
        }
        match self.syms.constants.get(name) {
            Some(&v) => Ok(v as i64),
            None => Err(Report::error(span, "unknown")),
        }
    }
    fn dot(&self, _: Span) -> Result<i64, Report> {
        Ok(self.dot as i64)
    }
}

/// Assembles one formatted instruction at `addr` the way the assembler would, to make sure
/// the text means exactly `expected`.
fn reassembles_to(text: &str, addr: u64, syms: &ImageSymbols<'_>, expected: &[u8]) -> bool {
    let Ok(toks) = lex(text) else { return false };
    let none = Vec::new;
    let ctx = ParseCtx {
        line: 0,
        text,
        scope: "",
        macro_names: &none,
        suggest: &crate::diag::Suggester::default(),
    };
    let Ok(Parsed::Stmt(StmtKind::Instr(mut instr))) = parse_statement(&ctx, &toks) else {
        return false;
    };
    if instr.op == Op::Hcall {
        if let Some(OperandAst::Imm { expr, .. }) = instr.operands.first_mut() {
            let index = expr
                .as_symbol()
                .and_then(|n| syms.imports.iter().position(|i| *i == Some(n)));
            if let Some(index) = index {
                *expr = Expr {
                    kind: ExprKind::Num(index as i64),
                    span: expr.span,
                };
            }
        }
    }
    let env = CheckEnv { syms, dot: addr };
    let mut states: Vec<OperandState> = crate::encode::initial_states(&instr);
    let mut reports = Vec::new();
    for mode in [Mode::Grow, Mode::Final] {
        let lowered = Lowering {
            env: &env,
            mode,
            addr,
            reports: &mut reports,
        }
        .lower(&instr, &mut states);
        if mode == Mode::Final {
            return reports.is_empty()
                && lowered.and_then(|i| i.encode().ok()).as_deref() == Some(expected);
        }
    }
    false
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn with_comment(out: &mut String, text: &str, addr: u64, bytes: &[u8]) {
    let pad = COMMENT_COLUMN.saturating_sub(4 + text.len()).max(1);
    let _ = writeln!(
        out,
        "    {text}{}; {addr:#06x}: {}",
        " ".repeat(pad),
        hex_bytes(bytes)
    );
}

fn byte_lines(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.chunks(BYTES_PER_LINE) {
        let list: Vec<String> = chunk.iter().map(|b| format!("{b:#04x}")).collect();
        let _ = writeln!(out, "    .byte {}", list.join(", "));
    }
}

fn labels_at(out: &mut String, labels: &BTreeMap<u64, Vec<&str>>, addr: u64) {
    if let Some(names) = labels.get(&addr) {
        for name in names {
            let _ = writeln!(out, "{name}:");
        }
    }
}

/// The source text of an image; assembling it gives an image with identical bytes.
pub fn disassemble(image: &Image) -> String {
    let placement = place_labels(image);
    let syms = ImageSymbols::new(image, &placement);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; vmkit image: {} segment{}, {} import{}, {} symbol{}",
        image.segments.len(),
        if image.segments.len() == 1 { "" } else { "s" },
        image.imports.len(),
        if image.imports.len() == 1 { "" } else { "s" },
        image.symbols.len(),
        if image.symbols.len() == 1 { "" } else { "s" },
    );
    match syms.name_at(image.entry) {
        Some(name) => {
            let _ = writeln!(out, ".entry {name}");
        }
        None => {
            let _ = writeln!(out, ".entry {:#x}", image.entry);
        }
    }
    if image.stack_size != 0 {
        let _ = writeln!(out, ".stack {:#x}", image.stack_size);
    }
    if image.memory_size != 0 {
        let _ = writeln!(out, ".memory {:#x}", image.memory_size);
    }
    if image.flags & FLAG_WX != 0 {
        let _ = writeln!(out, ".wx");
    }
    for (i, name) in image.imports.iter().enumerate() {
        if printable(name) {
            let _ = writeln!(
                out,
                ".import {name}{:>width$}; hcall {i}",
                "",
                width = 24usize.saturating_sub(name.len()).max(1)
            );
        } else {
            let _ = writeln!(out, ".import \"{}\"", escape(name));
        }
    }
    for sym in &image.symbols {
        if sym.kind == SymbolKind::Constant && printable(&sym.name) {
            let _ = writeln!(out, ".equ {}, {:#x}", sym.name, sym.addr);
        }
    }
    for (i, seg) in image.segments.iter().enumerate() {
        let labels = &placement.in_segment[i];
        let _ = writeln!(
            out,
            "\n; {} {} {:#x}..{:#x}, {} bytes in the file",
            seg.kind.name(),
            seg.perms,
            seg.addr,
            seg.end(),
            seg.data.len()
        );
        let _ = writeln!(out, ".{} {:#x}", seg.kind.name(), seg.addr);
        if seg.perms != seg.kind.default_perms() {
            let perms = if seg.perms.0 == 0 {
                "none".to_string()
            } else {
                seg.perms.to_string()
            };
            let _ = writeln!(out, ".perms {perms}");
        }
        let data = if seg.kind == SegmentKind::Bss {
            &[][..]
        } else {
            &seg.data[..]
        };
        if seg.kind == SegmentKind::Code {
            code(&mut out, seg.addr, data, labels, &syms);
        } else {
            data_bytes(&mut out, seg.addr, data, labels);
        }
        reserve(&mut out, seg.addr, data.len() as u64, seg.mem_size, labels);
    }
    if !placement.orphans.is_empty() {
        let _ = writeln!(out, "\n; labels outside every segment");
        for (addr, kind, name) in &placement.orphans {
            let section = if *kind == SymbolKind::Code {
                "text"
            } else {
                "data"
            };
            let _ = writeln!(out, ".{section} {addr:#x}\n{name}:");
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// The offset (from `from`) of the next label after `from`, within `len`.
fn next_label(labels: &BTreeMap<u64, Vec<&str>>, base: u64, from: usize, len: usize) -> usize {
    let after = base.saturating_add(from as u64).saturating_add(1);
    labels
        .range(after..)
        .next()
        .map(|(&a, _)| a.wrapping_sub(base) as usize)
        // Always past `from`, even in an unvalidated image whose addresses wrap.
        .filter(|&offset| offset > from)
        .map_or(len, |offset| offset.min(len))
}

fn code(
    out: &mut String,
    base: u64,
    data: &[u8],
    labels: &BTreeMap<u64, Vec<&str>>,
    syms: &ImageSymbols<'_>,
) {
    let mut pos = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_at = base;
    let flush = |out: &mut String, pending: &mut Vec<u8>, at: u64| {
        if !pending.is_empty() {
            let list: Vec<String> = pending.iter().map(|b| format!("{b:#04x}")).collect();
            with_comment(out, &format!(".byte {}", list.join(", ")), at, pending);
            pending.clear();
        }
    };
    while pos < data.len() {
        let addr = base.wrapping_add(pos as u64);
        if labels.contains_key(&addr) {
            flush(out, &mut pending, pending_at);
            labels_at(out, labels, addr);
        }
        let limit = next_label(labels, base, pos, data.len());
        let decoded = decode(&data[pos..limit]).ok().and_then(|(instr, len)| {
            let text = format_instr(&instr, addr, syms);
            reassembles_to(&text, addr, syms, &data[pos..pos + len]).then_some((text, len))
        });
        match decoded {
            Some((text, len)) => {
                flush(out, &mut pending, pending_at);
                with_comment(out, &text, addr, &data[pos..pos + len]);
                pos += len;
            }
            None => {
                if pending.is_empty() {
                    pending_at = addr;
                }
                pending.push(data[pos]);
                pos += 1;
                if pending.len() == BYTES_PER_LINE {
                    flush(out, &mut pending, pending_at);
                }
            }
        }
    }
    flush(out, &mut pending, pending_at);
}

fn data_bytes(out: &mut String, base: u64, data: &[u8], labels: &BTreeMap<u64, Vec<&str>>) {
    let mut pos = 0;
    while pos < data.len() {
        labels_at(out, labels, base.wrapping_add(pos as u64));
        let end = next_label(labels, base, pos, data.len());
        byte_lines(out, &data[pos..end]);
        pos = end;
    }
}

/// `.space` for the memory past the file bytes, broken at labels, then any label at the end.
fn reserve(
    out: &mut String,
    base: u64,
    from: u64,
    mem_size: u64,
    labels: &BTreeMap<u64, Vec<&str>>,
) {
    // Saturating: a hand-made image need not have been validated.
    let end = base.saturating_add(mem_size);
    let mut pos = base.saturating_add(from);
    while pos < end {
        labels_at(out, labels, pos);
        let next = labels.range(pos + 1..end).next().map_or(end, |(&a, _)| a);
        let _ = writeln!(out, "    .space {:#x}", next - pos);
        pos = next;
    }
    labels_at(out, labels, end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmkit_image::{Segment, Symbol};

    #[test]
    fn only_names_that_read_back_as_labels_are_printed() {
        for ok in ["main", "main.loop", "a$b", "_x"] {
            assert!(printable(ok), "{ok}");
        }
        for bad in ["r1", "SP", "cp", "dword", ".loop", "a-b", "", "%%x@1", "1a"] {
            assert!(!printable(bad), "{bad}");
        }
    }

    #[test]
    fn labels_go_to_a_segment_of_their_kind_or_stand_alone() {
        let mut img = Image::new(0x1000);
        img.segments
            .push(Segment::new(SegmentKind::Code, 0x1000, vec![2; 4]));
        img.segments
            .push(Segment::new(SegmentKind::Data, 0x1004, vec![0; 4]));
        let sym = |addr, kind, name: &str| Symbol {
            addr,
            kind,
            name: name.into(),
        };
        img.symbols = vec![
            sym(0x1000, SymbolKind::Code, "main"),
            sym(0x1002, SymbolKind::Data, "odd"),
            sym(0x1004, SymbolKind::Code, "code_end"),
            sym(0x1004, SymbolKind::Data, "data"),
            sym(0x9000, SymbolKind::Code, "far"),
            sym(0x1001, SymbolKind::Code, "r1"),
        ];
        let p = place_labels(&img);
        assert_eq!(p.in_segment[0].get(&0x1000), Some(&vec!["main"]));
        assert_eq!(
            p.in_segment[0].get(&0x1004),
            Some(&vec!["code_end"]),
            "at the end of text"
        );
        assert_eq!(p.in_segment[1].get(&0x1004), Some(&vec!["data"]));
        assert_eq!(
            p.orphans,
            vec![
                (0x1002, SymbolKind::Data, "odd"),
                (0x9000, SymbolKind::Code, "far")
            ]
        );
        let text = disassemble(&img);
        assert!(text.contains(".data 0x1002\nodd:"), "{text}");
        assert!(!text.contains("r1:"), "{text}");
    }

    #[test]
    fn unvalidated_images_do_not_panic() {
        let mut img = Image::new(u64::MAX);
        img.segments.push(Segment {
            kind: SegmentKind::Code,
            perms: vmkit_image::Perms(0xFF),
            addr: u64::MAX - 1,
            mem_size: u64::MAX,
            data: vec![0x01; 8],
        });
        img.symbols.push(vmkit_image::Symbol {
            addr: u64::MAX,
            kind: SymbolKind::Code,
            name: "end".into(),
        });
        let _ = disassemble(&img);
    }
}
