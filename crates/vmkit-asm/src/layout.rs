//! Layout and emission: addresses for every statement, then the bytes and the image.
//!
//! Layout repeats until nothing moves. Each pass computes every statement's size with the
//! operand encodings chosen so far, places the segments, and then lets every instruction
//! grow its encodings to fit the values computed from the new addresses. Encodings never
//! shrink (see [`crate::encode`]), so instruction sizes can only grow a bounded number of
//! times; `.space` and `.align` that depend on labels could in principle oscillate, which the
//! pass limit turns into an error.
//!
//! Segments without an address are placed like this: text, const, data, bss, the first at
//! 0x1000 and each next one at the first 4 KiB boundary after the previous one, skipping over
//! segments placed explicitly. The machine grants permissions per 4 KiB page, so two
//! segments never share a page unless the user asks for it.

use crate::ast::{DataItem, F64Item, Program, SegId, Stmt, StmtKind, SymKind};
use crate::encode::{initial_states, show, Lowering, Mode, OperandState};
use crate::expr::{Env, Expr};
use crate::source::{Report, Reports, Span};
use std::cell::RefCell;
use std::collections::HashMap;
use vmkit_image::{Image, Segment, SegmentKind, Symbol, SymbolKind, FLAG_WX};

/// Where the first automatically placed segment goes.
pub(crate) const DEFAULT_BASE: u64 = 0x1000;
/// Alignment of automatically placed segments: the machine's page size.
pub(crate) const PAGE: u64 = 0x1000;
/// Layout passes before giving up.
const MAX_PASSES: usize = 64;
/// Most bytes of file contents in one segment; the whole image is limited to
/// [`crate::MAX_IMAGE_BYTES`].
const MAX_FILE_BYTES: u64 = crate::MAX_IMAGE_BYTES;
/// The `nop` opcode, used to pad code.
const NOP: u8 = 0x01;

/// The result of layout: where everything is.
struct Placement {
    /// Address of each statement.
    addrs: Vec<u64>,
    base: Vec<u64>,
    size: Vec<u64>,
    /// Where `[cp + 0]` points: the lowest non-empty const segment.
    const_base: u64,
}

type EquCache = RefCell<HashMap<usize, Result<i64, Report>>>;

/// Values of symbols for one set of addresses.
struct LayoutEnv<'a> {
    program: &'a Program,
    addrs: &'a [u64],
    const_base: u64,
    dot: u64,
    equ_cache: &'a EquCache,
    /// Only read constants from the cache (while filling it in dependency order).
    shallow: bool,
}

impl LayoutEnv<'_> {
    /// Evaluates constant `id` and all it depends on, dependencies first.
    fn fill_cache(&self, id: usize) {
        let order = self
            .program
            .equ_order(id, &|k| self.equ_cache.borrow().contains_key(&k));
        for k in order {
            if let SymKind::Equ { expr, stmt } = &self.program.syms[k].kind {
                let inner = LayoutEnv {
                    dot: self.addrs.get(*stmt).copied().unwrap_or(0),
                    shallow: true,
                    ..*self
                };
                let v = expr.eval(&inner, false);
                self.equ_cache.borrow_mut().insert(k, v);
            }
        }
    }
}

impl Env for LayoutEnv<'_> {
    fn symbol(&self, name: &str, _span: Span, in_cp: bool) -> Result<i64, Report> {
        let Some(&id) = self.program.sym_index.get(name) else {
            return Ok(0); // reported by name resolution
        };
        let sym = &self.program.syms[id];
        match &sym.kind {
            SymKind::Label { stmt } => {
                let addr = self.addrs.get(*stmt).copied().unwrap_or(0);
                let in_const = self
                    .program
                    .label_seg(sym)
                    .is_some_and(|s| s.kind == SegmentKind::Const);
                Ok(if in_cp && in_const {
                    addr.wrapping_sub(self.const_base) as i64
                } else {
                    addr as i64
                })
            }
            SymKind::Equ { .. } => {
                if !self.shallow && !self.equ_cache.borrow().contains_key(&id) {
                    self.fill_cache(id);
                }
                // Missing only inside a cycle, which name resolution reported.
                self.equ_cache.borrow().get(&id).cloned().unwrap_or(Ok(0))
            }
        }
    }

    fn dot(&self, _span: Span) -> Result<i64, Report> {
        Ok(self.dot as i64)
    }
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    v.checked_add(align - 1).map(|x| x / align * align)
}

/// Lays out and emits the program. `None` if errors were reported.
pub(crate) fn build_image(
    program: &Program,
    imports: Vec<String>,
    reports: &mut Reports,
) -> Option<Image> {
    let mut states: Vec<Vec<OperandState>> = program
        .stmts
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Instr(i) => initial_states(i),
            _ => Vec::new(),
        })
        .collect();
    let mut placement = Placement {
        addrs: vec![0; program.stmts.len()],
        base: vec![DEFAULT_BASE; program.segs.len()],
        size: vec![0; program.segs.len()],
        const_base: 0,
    };
    let mut converged = false;
    for _ in 0..MAX_PASSES {
        let next = place(program, &placement, &states);
        let grew = grow(program, &next, &mut states);
        let same = next.addrs == placement.addrs
            && next.base == placement.base
            && next.size == placement.size;
        placement = next;
        if same && !grew {
            converged = true;
            break;
        }
    }
    if !converged {
        reports.push(Report::global(format!(
            "layout does not settle after {MAX_PASSES} passes"
        ))
        .hint("a `.space`, `.fill`, `.align` or section address probably depends on a label after it"));
        return None;
    }
    emit(program, &placement, &mut states, imports, reports)
}

fn const_base(program: &Program, base: &[u64], size: &[u64]) -> u64 {
    program
        .segs
        .iter()
        .enumerate()
        .filter(|(i, s)| s.kind == SegmentKind::Const && size[*i] > 0)
        .map(|(i, _)| base[i])
        .min()
        .unwrap_or(0)
}

fn env<'a>(program: &'a Program, p: &'a Placement, cache: &'a EquCache, dot: u64) -> LayoutEnv<'a> {
    LayoutEnv {
        program,
        addrs: &p.addrs,
        const_base: p.const_base,
        dot,
        equ_cache: cache,
        shallow: false,
    }
}

/// Size of a statement at `addr`, with the encodings chosen so far. Values come from the
/// previous pass; errors are left for the final pass.
fn stmt_size(
    program: &Program,
    i: usize,
    addr: u64,
    prev: &Placement,
    states: &[OperandState],
    cache: &EquCache,
) -> u64 {
    let stmt = &program.stmts[i];
    let eval = |e: &crate::expr::Expr| e.eval(&env(program, prev, cache, addr), false).unwrap_or(0);
    match &stmt.kind {
        StmtKind::Label | StmtKind::Equ => 0,
        StmtKind::Instr(instr) => {
            let e = env(program, prev, cache, addr);
            let mut sink = Vec::new();
            Lowering {
                env: &e,
                mode: Mode::Size,
                addr,
                reports: &mut sink,
            }
            .lower(instr, &mut states.to_vec())
            .map_or(0, |lowered| lowered.len() as u64)
        }
        StmtKind::Data { width, items } => items
            .iter()
            .map(|it| match it {
                DataItem::Value(_) => *width as u64,
                DataItem::Bytes(b) => b.len() as u64,
            })
            .sum(),
        StmtKind::Bytes(b) => b.len() as u64,
        StmtKind::F64(items) => 8 * items.len() as u64,
        StmtKind::Fill { count, width, .. } => {
            (eval(count).max(0) as u64).saturating_mul(*width as u64)
        }
        StmtKind::Space(n) => eval(n).max(0) as u64,
        StmtKind::Align(n) => {
            let a = eval(n);
            if a > 0 && (a as u64).is_power_of_two() {
                align_up(addr, a as u64).map_or(0, |up| up - addr)
            } else {
                0
            }
        }
    }
}

/// One layout pass: sizes with the current encodings, segment bases, addresses.
fn place(program: &Program, prev: &Placement, states: &[Vec<OperandState>]) -> Placement {
    let cache = RefCell::new(HashMap::new());
    let nseg = program.segs.len();
    let mut base = prev.base.clone();
    for (i, seg) in program.segs.iter().enumerate() {
        if let Some(e) = &seg.addr {
            base[i] = e.eval(&env(program, prev, &cache, 0), false).unwrap_or(0) as u64;
        }
    }
    let mut offset = vec![0u64; program.stmts.len()];
    let mut cursor = vec![0u64; nseg];
    for (i, stmt) in program.stmts.iter().enumerate() {
        let seg = stmt.seg;
        offset[i] = cursor[seg];
        let addr = base[seg].wrapping_add(cursor[seg]);
        let size = stmt_size(program, i, addr, prev, &states[i], &cache);
        cursor[seg] = cursor[seg].saturating_add(size);
    }
    place_automatic(program, &mut base, &cursor);
    let addrs = program
        .stmts
        .iter()
        .enumerate()
        .map(|(i, s)| base[s.seg].wrapping_add(offset[i]))
        .collect();
    Placement {
        addrs,
        const_base: const_base(program, &base, &cursor),
        base,
        size: cursor,
    }
}

/// Places the segments that have no written address.
fn place_automatic(program: &Program, base: &mut [u64], size: &[u64]) {
    // The placed segments by start, with the greatest end among each one and those before
    // it: a segment that does not fit at `at` jumps past all of them that start before its
    // end at once. Testing every placed segment again after each move took the square of
    // their number, in every layout pass.
    let mut explicit: Vec<(u64, u64)> = program
        .segs
        .iter()
        .enumerate()
        .filter(|(i, s)| s.addr.is_some() && size[*i] > 0)
        .map(|(i, _)| (base[i], base[i].saturating_add(size[i])))
        .collect();
    explicit.sort_unstable();
    let max_end: Vec<u64> = explicit
        .iter()
        .scan(0u64, |m, &(_, e)| {
            *m = (*m).max(e);
            Some(*m)
        })
        .collect();
    let order = [
        SegmentKind::Code,
        SegmentKind::Const,
        SegmentKind::Data,
        SegmentKind::Bss,
    ];
    let mut cursor = DEFAULT_BASE;
    for kind in order {
        for (i, seg) in program.segs.iter().enumerate() {
            if seg.kind != kind || seg.addr.is_some() {
                continue;
            }
            let mut at = align_up(cursor, PAGE).unwrap_or(cursor);
            // Skip over explicitly placed segments in the way: every one that starts before
            // the end and ends after the start is in the way, so the least place is past
            // the greatest of their ends.
            loop {
                let end = at.saturating_add(size[i].max(1));
                let before = explicit.partition_point(|&(s, _)| s < end);
                let Some(&m) = before.checked_sub(1).and_then(|k| max_end.get(k)) else {
                    break;
                };
                if m <= at {
                    break;
                }
                at = align_up(m, PAGE).unwrap_or(m);
            }
            base[i] = at;
            cursor = at.saturating_add(size[i]);
        }
    }
}

/// Lets every instruction grow its encodings for the values at these addresses.
fn grow(program: &Program, p: &Placement, states: &mut [Vec<OperandState>]) -> bool {
    let cache = RefCell::new(HashMap::new());
    let mut grew = false;
    for (i, stmt) in program.stmts.iter().enumerate() {
        if let StmtKind::Instr(instr) = &stmt.kind {
            let e = env(program, p, &cache, p.addrs[i]);
            let mut sink = Vec::new();
            let before = states[i].clone();
            let _ = Lowering {
                env: &e,
                mode: Mode::Grow,
                addr: p.addrs[i],
                reports: &mut sink,
            }
            .lower(instr, &mut states[i]);
            grew |= states[i] != before;
        }
    }
    grew
}

/// Writes `bytes` at `offset` of a segment's file contents.
fn write_at(buf: &mut Vec<u8>, offset: u64, bytes: &[u8]) -> bool {
    let Some(end) = offset
        .checked_add(bytes.len() as u64)
        .filter(|&e| e <= MAX_FILE_BYTES)
    else {
        return false;
    };
    let (offset, end) = (offset as usize, end as usize);
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(bytes);
    true
}

/// Whether `v` fits `width` bytes as a signed or an unsigned number.
fn fits(v: i64, width: u8) -> bool {
    if width >= 8 {
        return true;
    }
    let bits = width as u32 * 8;
    v >= -(1i64 << (bits - 1)) && v < (1i64 << bits)
}

fn data_range(width: u8) -> &'static str {
    match width {
        1 => "-128..=255",
        2 => "-32768..=65535",
        _ => "-0x80000000..=0xffffffff",
    }
}

fn emit(
    program: &Program,
    p: &Placement,
    states: &mut [Vec<OperandState>],
    imports: Vec<String>,
    reports: &mut Reports,
) -> Option<Image> {
    let cache = RefCell::new(HashMap::new());
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); program.segs.len()];
    let mut too_big = vec![false; program.segs.len()];
    for (i, stmt) in program.stmts.iter().enumerate() {
        let seg = stmt.seg;
        let addr = p.addrs[i];
        let offset = addr.wrapping_sub(p.base[seg]);
        let poisoned = program.poisoned.get(i).copied().unwrap_or(false);
        let e = env(program, p, &cache, addr);
        let mut local: Vec<Report> = Vec::new();
        let room = if too_big[seg] {
            0
        } else {
            MAX_FILE_BYTES.saturating_sub(offset)
        };
        let mut overflow = false;
        let bytes = stmt_bytes(
            program,
            stmt,
            addr,
            &e,
            &mut states[i],
            &mut local,
            (room, &mut overflow),
        );
        if !poisoned {
            reports.append(&mut local);
        }
        let overflow = overflow || !bytes.is_empty() && !write_at(&mut bufs[seg], offset, &bytes);
        if overflow && !too_big[seg] {
            too_big[seg] = true;
            reports.push(Report::error(
                program.segs[seg].span,
                format!("this section holds more than {MAX_FILE_BYTES} bytes of contents"),
            ));
        }
    }

    check_segments(program, p, reports);

    let image_settings = settings(program, p, &cache, reports);
    // Earlier phases' errors count too: emission ran only to find more of them.
    if reports.has_errors() {
        return None;
    }
    let (entry, stack, memory) = image_settings?;

    let mut order: Vec<SegId> = (0..program.segs.len()).filter(|&i| p.size[i] > 0).collect();
    order.sort_by_key(|&i| (p.base[i], i));
    let segments: Vec<Segment> = order
        .iter()
        .map(|&i| {
            let decl = &program.segs[i];
            Segment {
                kind: decl.kind,
                perms: decl
                    .perms
                    .map_or(decl.kind.default_perms(), |(perms, _)| perms),
                addr: p.base[i],
                mem_size: p.size[i],
                data: if decl.kind == SegmentKind::Bss {
                    Vec::new()
                } else {
                    std::mem::take(&mut bufs[i])
                },
            }
        })
        .collect();

    let e = env(program, p, &cache, 0);
    let mut symbols: Vec<Symbol> = program
        .syms
        .iter()
        .filter(|s| !s.is_macro_local())
        .map(|s| match &s.kind {
            SymKind::Label { stmt } => Symbol {
                addr: p.addrs[*stmt],
                kind: if program
                    .label_seg(s)
                    .is_some_and(|d| d.kind == SegmentKind::Code)
                {
                    SymbolKind::Code
                } else {
                    SymbolKind::Data
                },
                name: s.name.clone(),
            },
            SymKind::Equ { .. } => Symbol {
                addr: e.symbol(&s.name, s.span, false).unwrap_or(0) as u64,
                kind: SymbolKind::Constant,
                name: s.name.clone(),
            },
        })
        .collect();
    symbols.sort_by(|a, b| (a.addr, a.kind as u8, &a.name).cmp(&(b.addr, b.kind as u8, &b.name)));

    let image = Image {
        flags: if program.wx { FLAG_WX } else { 0 },
        entry,
        memory_size: memory,
        stack_size: stack,
        segments,
        imports,
        symbols,
    };
    if let Err(err) = image.validate() {
        reports.push(Report::global(format!("the image is invalid: {err}")));
        return None;
    }
    if memory > 0 {
        for seg in &image.segments {
            if seg.end() > memory {
                let decl_span = program.memory.as_ref().map(|s| s.span);
                let msg = format!(
                    "the {} segment ends at {:#x}, beyond `.memory` ({:#x})",
                    seg.kind.name(),
                    seg.end(),
                    memory
                );
                reports.push(match decl_span {
                    Some(s) => Report::warning(s, msg),
                    None => Report::global(msg),
                });
            }
        }
    }
    Some(image)
}

/// The bytes a statement puts in the file (none for reserved space); bad values are
/// reported to `local`.
/// The bytes of one statement. `room` is how many bytes its segment can still hold: a
/// `.fill` or `.align` larger than that is not built (a thousand `.fill`s of 48 MiB each
/// would otherwise be built one after the other, long after the segment overflowed), and
/// `overflow` is set instead.
fn stmt_bytes(
    program: &Program,
    stmt: &Stmt,
    addr: u64,
    e: &LayoutEnv<'_>,
    states: &mut [OperandState],
    local: &mut Vec<Report>,
    (room, overflow): (u64, &mut bool),
) -> Vec<u8> {
    let value = |expr: &Expr, fallback: i64, local: &mut Vec<Report>| {
        expr.eval(e, false).unwrap_or_else(|r| {
            local.push(r);
            fallback
        })
    };
    match &stmt.kind {
        StmtKind::Label | StmtKind::Equ => Vec::new(),
        StmtKind::Space(n) => {
            let v = value(n, 0, local);
            if v < 0 {
                local.push(Report::error(
                    n.span,
                    format!("`.space` size is negative ({v})"),
                ));
            }
            Vec::new()
        }
        StmtKind::Instr(instr) => Lowering {
            env: e,
            mode: Mode::Final,
            addr,
            reports: local,
        }
        .lower(instr, states)
        .and_then(|lowered| lowered.encode().ok())
        .unwrap_or_default(),
        StmtKind::Data { width, items } => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    DataItem::Bytes(b) => out.extend_from_slice(b),
                    DataItem::Value(expr) => {
                        let v = value(expr, 0, local);
                        if !fits(v, *width) {
                            local.push(data_error(expr.span, v, *width));
                        }
                        out.extend_from_slice(&v.to_le_bytes()[..*width as usize]);
                    }
                }
            }
            out
        }
        StmtKind::Bytes(b) => b.clone(),
        StmtKind::F64(items) => items
            .iter()
            .flat_map(|item| {
                let v = match item {
                    F64Item::Literal(f) => *f,
                    F64Item::Int(expr) => value(expr, 0, local) as f64,
                };
                v.to_le_bytes()
            })
            .collect(),
        StmtKind::Fill {
            count,
            value: fill,
            width,
        } => {
            let n = value(count, 0, local);
            let v = value(fill, 0, local);
            if n < 0 {
                local.push(Report::error(
                    count.span,
                    format!("`.fill` count is negative ({n})"),
                ));
            } else if !fits(v, *width) {
                local.push(data_error(fill.span, v, *width));
            }
            let total = (n.max(0) as u64).saturating_mul(*width as u64);
            if total > MAX_FILE_BYTES {
                local.push(Report::error(
                    count.span,
                    format!(
                        "`.fill` of {} bytes is larger than the limit of {MAX_FILE_BYTES} bytes",
                        show(total as i64)
                    ),
                ));
                return Vec::new();
            }
            if total > room {
                *overflow = true;
                return Vec::new();
            }
            v.to_le_bytes()[..*width as usize].repeat(total as usize / *width as usize)
        }
        StmtKind::Align(n) => {
            let a = value(n, 1, local);
            if a <= 0 || !(a as u64).is_power_of_two() {
                local.push(Report::error(
                    n.span,
                    format!("`.align` needs a power of two, not {a}"),
                ));
                return Vec::new();
            }
            // Code is padded with `nop` so that execution can run through the padding;
            // elsewhere the padding is reserved space like `.space`.
            if program.segs[stmt.seg].kind != SegmentKind::Code {
                return Vec::new();
            }
            let pad = align_up(addr, a as u64).map_or(0, |up| up - addr);
            if pad > MAX_FILE_BYTES {
                local.push(Report::error(n.span, "alignment padding is too large"));
                return Vec::new();
            }
            if pad > room {
                *overflow = true;
                return Vec::new();
            }
            vec![NOP; pad as usize]
        }
    }
}

fn data_error(span: Span, v: i64, width: u8) -> Report {
    Report::error(
        span,
        format!(
            "value {} does not fit in {} byte{} ({})",
            show(v),
            width,
            if width == 1 { "" } else { "s" },
            data_range(width)
        ),
    )
}

/// Reports segments that overlap or run past the end of the address space.
fn check_segments(program: &Program, p: &Placement, reports: &mut Reports) {
    let mut live: Vec<SegId> = (0..program.segs.len()).filter(|&i| p.size[i] > 0).collect();
    // The image counts its segments in 16 bits; more would be written as a wrong count.
    if live.len() > u16::MAX as usize {
        reports.push(
            Report::global(format!(
                "the program has {} segments, more than the {} an image can hold",
                live.len(),
                u16::MAX
            ))
            .hint("each section directive with an address starts a new segment"),
        );
        return;
    }
    live.sort_by_key(|&i| (p.base[i], i));
    for &i in &live {
        if p.base[i].checked_add(p.size[i]).is_none() {
            reports.push(Report::error(
                program.segs[i].span,
                "this section runs past the end of the 64-bit address space",
            ));
        }
    }
    for pair in live.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let a_end = p.base[a].saturating_add(p.size[a]);
        if a_end > p.base[b] {
            let (da, db) = (&program.segs[a], &program.segs[b]);
            reports.push(
                Report::error(
                    db.span,
                    format!(
                        "`.{}` section at {:#x}..{:#x} overlaps the `.{}` section at {:#x}..{:#x}",
                        db.kind.name(),
                        p.base[b],
                        p.base[b].saturating_add(p.size[b]),
                        da.kind.name(),
                        p.base[a],
                        a_end
                    ),
                )
                .hint("give the sections addresses that do not overlap, or leave them out to place them automatically"),
            );
        }
    }
}

/// Entry point, stack size and memory size.
fn settings(
    program: &Program,
    p: &Placement,
    cache: &EquCache,
    reports: &mut Reports,
) -> Option<(u64, u64, u64)> {
    let e = env(program, p, cache, 0);
    let mut number = |setting: &Option<crate::ast::Setting>, what: &str| -> Option<u64> {
        let Some(s) = setting else { return Some(0) };
        match s.expr.eval(&e, false) {
            Ok(v) if v >= 0 => Some(v as u64),
            Ok(v) => {
                reports.push(Report::error(
                    s.expr.span,
                    format!("`{what}` is negative ({v})"),
                ));
                None
            }
            Err(r) => {
                reports.push(r);
                None
            }
        }
    };
    let stack = number(&program.stack, ".stack");
    let memory = number(&program.memory, ".memory");
    // A missing or misplaced entry point is usually a consequence of earlier errors (the
    // code that failed to parse); only complain about it on its own.
    let had_errors = reports.has_errors();
    let entry = if had_errors {
        Some(0)
    } else {
        entry_point(program, p, &e, reports)
    };
    Some((entry?, stack?, memory?))
}

fn entry_point(
    program: &Program,
    p: &Placement,
    e: &LayoutEnv<'_>,
    reports: &mut Reports,
) -> Option<u64> {
    let executable = |addr: u64| {
        program.segs.iter().enumerate().any(|(i, s)| {
            let perms = s.perms.map_or(s.kind.default_perms(), |(perms, _)| perms);
            perms.exec() && p.size[i] > 0 && addr >= p.base[i] && addr - p.base[i] < p.size[i]
        })
    };
    if let Some(setting) = &program.entry {
        let v = match setting.expr.eval(e, false) {
            Ok(v) => v as u64,
            Err(r) => {
                reports.push(r);
                return None;
            }
        };
        if !executable(v) {
            reports.push(
                Report::error(
                    setting.expr.span,
                    format!("the entry point {v:#x} is not inside an executable section"),
                )
                .hint("point `.entry` at a label in `.text`"),
            );
            return None;
        }
        return Some(v);
    }
    for name in ["main", "start"] {
        if let Some(sym) = program.symbol(name) {
            if let SymKind::Label { stmt } = sym.kind {
                let v = p.addrs[stmt];
                if !executable(v) {
                    reports.push(Report::error(
                        sym.span,
                        format!(
                            "`{name}` is the entry point but is not inside an executable section"
                        ),
                    ));
                    return None;
                }
                return Some(v);
            }
        }
    }
    let first_code = program
        .segs
        .iter()
        .enumerate()
        .filter(|(i, s)| s.kind == SegmentKind::Code && p.size[*i] > 0)
        .map(|(i, _)| p.base[i])
        .min();
    match first_code {
        Some(v) if executable(v) => Some(v),
        _ => {
            reports.push(
                Report::global("the program has no instructions to run")
                    .hint("put code in a `.text` section; execution starts at `main`, `start` or `.entry`"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_values_fit_signed_or_unsigned() {
        assert!(fits(255, 1) && fits(-128, 1) && !fits(256, 1) && !fits(-129, 1));
        assert!(fits(65535, 2) && fits(-32768, 2) && !fits(65536, 2));
        assert!(fits(0xFFFF_FFFF, 4) && fits(-0x8000_0000, 4) && !fits(0x1_0000_0000, 4));
        assert!(fits(i64::MIN, 8) && fits(-1, 8));
    }

    #[test]
    fn alignment() {
        assert_eq!(align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(align_up(0x2000, 0x1000), Some(0x2000));
        assert_eq!(align_up(u64::MAX, 16), None);
    }

    #[test]
    fn file_contents_grow_with_zero_fill_and_are_capped() {
        let mut buf = Vec::new();
        assert!(write_at(&mut buf, 3, &[1, 2]));
        assert_eq!(buf, [0, 0, 0, 1, 2]);
        assert!(write_at(&mut buf, 0, &[9]));
        assert_eq!(buf, [9, 0, 0, 1, 2]);
        assert!(!write_at(&mut buf, MAX_FILE_BYTES, &[1]));
        assert!(!write_at(&mut buf, u64::MAX, &[1]));
        assert_eq!(buf.len(), 5);
    }
}
