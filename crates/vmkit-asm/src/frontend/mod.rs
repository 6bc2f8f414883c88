//! The front end: reads files, runs the macro processor and conditionals, and collects the
//! parsed statements into a [`Program`].
//!
//! Lines flow through a stack of frames (a file, a macro expansion, the repetitions of a
//! `.rept`); expanding something pushes a frame, so nesting never recurses in Rust and the
//! limits on depth and total size are plain counters. Because `.rept` counts and `.if`
//! conditions are decided here, before any address is known, they may only use constants
//! defined earlier in the source.

mod conditional;
mod expand;
mod statements;

use crate::ast::{Program, SegId};
use crate::diag::Suggester;
use crate::expr::Cursor;
use crate::lexer::{comment_start, lex, Token};
use crate::macros::{head_word, MacroDef, RawLine};
use crate::parser;
use crate::source::{Expansion, FileId, Origin, Report, Reports, SourceMap, Span};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

/// Deepest nesting of macro invocations.
pub(crate) const MAX_MACRO_DEPTH: usize = 100;
/// Deepest nesting of `.include`.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 50;
/// Most lines that macros and repetitions may produce in one run; a guard against
/// `.rept 1000000000` and macros that invoke themselves twice.
pub(crate) const MAX_EXPANDED_LINES: usize = 1_000_000;
/// Most bytes of text that macros and repetitions may produce in one run. The line limit
/// alone does not bound the work: a macro that passes its arguments to itself twice keeps
/// its line count but doubles the length of its lines at every level.
pub(crate) const MAX_EXPANDED_BYTES: usize = 16 << 20;
/// Longest line that a macro or repetition may produce. It stops a macro that doubles its
/// arguments long before the total is reached, and bounds the work on any one line.
pub(crate) const MAX_EXPANDED_LINE_BYTES: usize = MAX_LINE_BYTES;
/// Longest line, from a file or an expansion. All of a line's tokens are held at once, and
/// they cost many times its text.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;
/// Most bytes of source text read in one run, the main file and every `.include` together
/// (an `.include` inside a `.rept` reads its file once per repetition).
pub(crate) const MAX_SOURCE_BYTES: usize = crate::MAX_SOURCE_FILE_BYTES as usize;
/// Most lines read from files in one run, counted as for [`MAX_SOURCE_BYTES`]. Each line
/// costs memory until the end of the run, so 64 MiB of empty lines would cost gigabytes.
pub(crate) const MAX_SOURCE_LINES: usize = 4_000_000;

enum FrameKind {
    File { path: Option<PathBuf> },
    Macro,
    Repeat,
}

/// How many lines `text` has, as [`SourceMap::add_file`] splits it.
pub(crate) fn line_count(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count() + 1
}

/// One branch level of `.if`.
struct CondLevel {
    /// Lines in this branch are assembled.
    active: bool,
    /// Everything around this `.if` is active.
    parent_active: bool,
    /// Some branch was already taken (later `.elif`/`.else` are skipped).
    taken: bool,
    seen_else: bool,
    span: Span,
}

struct Frame {
    lines: Vec<RawLine>,
    pos: usize,
    kind: FrameKind,
    conds: Vec<CondLevel>,
}

/// The front end's state while reading.
pub(crate) struct Frontend {
    pub sources: SourceMap,
    pub program: Program,
    pub reports: Reports,
    /// "Did you mean" for every phase of the run.
    pub suggester: Suggester,
    /// Values of constants found while reading (for `.rept` and `.if`), by symbol index.
    early_values: RefCell<HashMap<usize, i64>>,
    macros: HashMap<String, Rc<MacroDef>>,
    frames: Vec<Frame>,
    /// Directory each file's `.include`s are relative to.
    file_dirs: Vec<PathBuf>,
    /// The last global label, which local labels attach to.
    scope: String,
    current_seg: Option<SegId>,
    last_seg_of_kind: HashMap<u8, SegId>,
    next_unique: u64,
    expanded_lines: usize,
    expanded_bytes: usize,
    source_bytes: usize,
    source_lines: usize,
    /// Set once an expansion limit (lines or depth) is hit: further macros and repetitions
    /// are not expanded, so the limit is reported once.
    over_budget: bool,
}

impl Frontend {
    pub fn new() -> Frontend {
        Frontend {
            sources: SourceMap::default(),
            program: Program::default(),
            reports: Reports::default(),
            suggester: Suggester::default(),
            early_values: RefCell::default(),
            macros: HashMap::new(),
            frames: Vec::new(),
            file_dirs: Vec::new(),
            scope: String::new(),
            current_seg: None,
            last_seg_of_kind: HashMap::new(),
            next_unique: 0,
            expanded_lines: 0,
            expanded_bytes: 0,
            source_bytes: 0,
            source_lines: 0,
            over_budget: false,
        }
    }

    /// Reads a whole program whose main file is `name` with `text`; `.include`s are
    /// relative to `dir`.
    pub fn run(&mut self, name: &str, text: &str, dir: PathBuf, path: Option<PathBuf>) {
        self.source_bytes = text.len();
        self.source_lines = line_count(text);
        if self.source_lines > MAX_SOURCE_LINES {
            self.reports.push(Report::global(format!(
                "`{name}` has {} lines, more than the limit of {MAX_SOURCE_LINES}",
                self.source_lines
            )));
            return;
        }
        let file = self.add_file(name.to_string(), text.to_string(), dir);
        let lines = self.file_lines(file, None);
        self.frames.push(Frame {
            lines,
            pos: 0,
            kind: FrameKind::File {
                path: path.and_then(|p| p.canonicalize().ok()),
            },
            conds: Vec::new(),
        });
        self.drive();
    }

    fn add_file(&mut self, name: String, text: String, dir: PathBuf) -> FileId {
        let id = self.sources.add_file(name, text);
        self.file_dirs.push(dir);
        id
    }

    fn file_lines(&self, file: FileId, expansion: Option<Rc<Expansion>>) -> Vec<RawLine> {
        let Some(f) = self.sources.file(file) else {
            return Vec::new();
        };
        (0..f.line_count())
            .map(|i| RawLine {
                text: f.line(i).unwrap_or("").to_string(),
                origin: Origin {
                    file,
                    line: i as u32 + 1,
                    col_map: None,
                    expansion: expansion.clone(),
                },
            })
            .collect()
    }

    fn error(&mut self, report: Report) {
        self.reports.push(report);
    }

    fn drive(&mut self) {
        while let Some(frame) = self.frames.last_mut() {
            if frame.pos >= frame.lines.len() {
                if let Some(frame) = self.frames.pop() {
                    for c in frame.conds {
                        self.reports.push(
                            Report::error(c.span, "this `.if` has no matching `.endif`").hint(
                                "every `.if` must be closed by `.endif` in the same file or macro",
                            ),
                        );
                    }
                }
                continue;
            }
            // Each line is read once; take it rather than clone it.
            let line = std::mem::take(&mut frame.lines[frame.pos]);
            frame.pos += 1;
            self.line(line);
        }
    }

    /// Whether lines are being assembled. Each level's `active` already includes its
    /// parent's, and a new frame starts active (it could only be pushed from active code).
    fn active(&self) -> bool {
        self.frames
            .last()
            .and_then(|f| f.conds.last())
            .is_none_or(|c| c.active)
    }

    fn line(&mut self, raw: RawLine) {
        // Blank and comment-only lines say nothing and need no place in the source map.
        if raw.text[..comment_start(&raw.text)].trim().is_empty() {
            return;
        }
        if raw.text.len() > MAX_LINE_BYTES && self.active() {
            let len = raw.text.len();
            // The line itself is not kept: only its start is shown.
            let mut start = raw.text;
            let cut = (0..=200)
                .rev()
                .find(|&i| start.is_char_boundary(i))
                .unwrap_or(0);
            start.truncate(cut);
            let line = self.sources.add_line(start, raw.origin);
            self.error(Report::error(
                Span {
                    line,
                    start: 0,
                    end: 1,
                },
                format!("this line has {len} bytes, more than the limit of {MAX_LINE_BYTES}"),
            ));
            return;
        }
        let head = head_word(&raw.text);
        let conditional = matches!(
            head.as_str(),
            ".if" | ".ifdef" | ".ifndef" | ".ifb" | ".ifnb" | ".elif" | ".else" | ".endif"
        );
        if !self.active() && !conditional {
            return;
        }
        let origin = raw.origin.clone();
        let line_id = self.sources.add_line(raw.text, raw.origin);
        let text = self.sources.line_text(line_id).to_string();
        let toks = match lex(&text) {
            Ok(t) => t,
            Err(e) => {
                if conditional {
                    self.broken_conditional(&head, line_id);
                }
                if self.active() {
                    self.error(
                        Report::error(
                            Span {
                                line: line_id,
                                start: e.start,
                                end: e.end,
                            },
                            e.message,
                        )
                        .maybe_hint(e.hint),
                    );
                }
                return;
            }
        };
        let span_of = |t: &Token| Span {
            line: line_id,
            start: t.start,
            end: t.end,
        };
        let (labels, rest) = parser::split_labels(&toks);
        let code_end = text[..comment_start(&text)].trim_end().len() as u32;
        if conditional {
            if self.active() {
                for label in &labels {
                    self.define_label(label, line_id);
                }
            }
            if let Some(head_tok) = rest.first() {
                let cur = Cursor::new(&rest[1..], line_id, code_end);
                self.conditional(&head, span_of(head_tok), cur);
            }
            return;
        }
        if let Some(t) = toks.iter().find(|t| {
            t.ident()
                .is_some_and(|s| s.starts_with("%%") && !s.contains('@'))
        }) {
            if self.active() {
                let name = t.ident().unwrap_or_default().to_string();
                self.error(
                    Report::error(span_of(t), format!("macro-local label `{name}` outside a macro"))
                        .hint("`%%name` labels are renamed per expansion and only exist inside `.macro` bodies"),
                );
            }
            return;
        }
        for label in labels {
            self.define_label(label, line_id);
        }
        let Some(head_tok) = rest.first() else {
            return;
        };
        let head_span = span_of(head_tok);
        let Some(word) = head_tok.ident() else {
            self.parse_and_apply(line_id, &text, rest);
            return;
        };
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            ".macro" => self.define_macro(line_id, &text, head_span),
            ".endm" => self.error(Report::error(head_span, "`.endm` without `.macro`")),
            ".endr" => self.error(Report::error(
                head_span,
                "`.endr` without `.rept` or `.irp`",
            )),
            ".rept" | ".irp" => {
                let cur = Cursor::new(&rest[1..], line_id, code_end);
                self.repeat(&lower, head_span, cur, &text, &origin);
            }
            ".include" => {
                let cur = Cursor::new(&rest[1..], line_id, code_end);
                self.include(head_span, cur, &origin);
            }
            _ => match self.macros.get(word).cloned() {
                Some(def) => {
                    let args = text
                        .get(head_tok.end as usize..code_end as usize)
                        .unwrap_or("")
                        .to_string();
                    self.invoke(&def, head_span, &args, &origin);
                }
                None => self.parse_and_apply(line_id, &text, rest),
            },
        }
    }
}
