//! Where every line the assembler reads came from.
//!
//! The assembler never works on files directly: the front end feeds it *logical lines*, which
//! are file lines, or macro and `.rept` body lines after parameter substitution. A [`Span`]
//! is a byte range in one logical line. This module keeps the logical lines and the original
//! files so that any span can be turned back into `file:line:col` of the text the user wrote,
//! with a note for every macro expansion, repetition and include it passed through.
//!
//! It must not know about syntax: it only maps positions and formats locations.

use crate::diag::{shorten, Diagnostic, Severity, MAX_QUOTED};
use std::collections::HashMap;
use std::rc::Rc;

/// Index of a file in the [`SourceMap`].
pub(crate) type FileId = u32;

/// A file as read, with where each line starts. One string and an offset per line, not a
/// string per line: a file of short lines would otherwise cost many times its size.
pub(crate) struct SourceFile {
    /// The name used in diagnostics.
    pub name: String,
    text: String,
    /// Byte offset of the start of each line in `text`.
    starts: Vec<usize>,
}

impl SourceFile {
    /// How many lines the file has.
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// Line `i` (0-based), without its line terminator (`\n` or `\r\n`).
    pub fn line(&self, i: usize) -> Option<&str> {
        let start = *self.starts.get(i)?;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.text.len(), |next| next - 1);
        let line = self.text.get(start..end)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }
}

/// Why a line was produced by something other than reading a file.
#[derive(Debug)]
pub(crate) enum ExpansionKind {
    /// Body of a macro invocation.
    Macro(String),
    /// One repetition of a `.rept` block (0-based iteration).
    Rept { iteration: u64, count: u64 },
    /// One repetition of an `.irp` block, with the item's text.
    Irp { var: String, item: String },
    /// Contents of an `.include`d file.
    Include,
}

/// One step of the chain that led to a line: what expanded, and the line that asked for it.
#[derive(Debug)]
pub(crate) struct Expansion {
    pub kind: ExpansionKind,
    /// File and 1-based line of the invocation / `.rept` / `.include` line.
    pub file: FileId,
    pub line: u32,
    pub parent: Option<Rc<Expansion>>,
}

/// For each byte of an expanded line, the byte range in the original line it came from.
/// Substituted text maps to the whole `\param` that produced it.
pub(crate) type ColMap = Rc<[(u32, u32)]>;

/// Where a logical line's text was written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Origin {
    pub file: FileId,
    /// 1-based line in `file`.
    pub line: u32,
    /// `None` when the text is exactly the file's line.
    pub col_map: Option<ColMap>,
    /// The macro/rept/include chain, innermost first.
    pub expansion: Option<Rc<Expansion>>,
}

/// A line as the parser sees it.
pub(crate) struct LogicalLine {
    pub text: String,
    pub origin: Origin,
}

/// A byte range in a logical line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// Index of the logical line in the [`SourceMap`].
    pub line: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The span from the start of `self` to the end of `other` (same line).
    pub fn to(self, other: Span) -> Span {
        Span {
            line: self.line,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A diagnostic before its location is resolved.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub severity: Severity,
    pub message: String,
    /// `None`: about the whole program.
    pub span: Option<Span>,
    pub hint: Option<String>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn error(span: Span, message: impl Into<String>) -> Report {
        Report {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            hint: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Report {
        Report {
            severity: Severity::Warning,
            ..Report::error(span, message)
        }
    }

    /// An error about the program as a whole.
    pub fn global(message: impl Into<String>) -> Report {
        Report {
            span: None,
            ..Report::error(
                Span {
                    line: 0,
                    start: 0,
                    end: 0,
                },
                message,
            )
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Report {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Report {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Report {
        self.notes.push(note.into());
        self
    }
}

/// Most errors, and most warnings, kept in one run. A `.rept` can repeat an error a million
/// times, and each report costs memory until the end; past this many, reports are only
/// counted.
pub(crate) const MAX_KEPT_REPORTS: usize = 10_000;

/// The reports of one run, kept up to [`MAX_KEPT_REPORTS`] and counted beyond.
#[derive(Default)]
pub(crate) struct Reports {
    kept: Vec<Report>,
    /// For each kept report, how many reports beyond the limit looked like repeats of it.
    repeats: Vec<usize>,
    /// The first kept report with each severity, message and columns.
    index: HashMap<(Severity, String, u32, u32), usize>,
    /// Errors and warnings that were counted but not kept.
    dropped_errors: usize,
    dropped_warnings: usize,
    has_errors: bool,
    /// Errors and warnings kept.
    kept_errors: usize,
    kept_warnings: usize,
}

impl Reports {
    pub fn push(&mut self, report: Report) {
        let error = report.severity == Severity::Error;
        self.has_errors |= error;
        let (start, end) = report.span.map_or((0, 0), |s| (s.start, s.end));
        let key = (report.severity, report.message, start, end);
        let kept = if error {
            &mut self.kept_errors
        } else {
            &mut self.kept_warnings
        };
        if *kept < MAX_KEPT_REPORTS {
            *kept += 1;
            self.index.entry(key.clone()).or_insert(self.kept.len());
            self.kept.push(Report {
                message: key.1,
                ..report
            });
            self.repeats.push(0);
        } else if let Some(&i) = self.index.get(&key) {
            // Past the limit the line cannot be told apart without the source map: the
            // same message at the same columns is, in practice, the same line of a `.rept`
            // or macro body again.
            self.repeats[i] += 1;
        } else if error {
            self.dropped_errors += 1;
        } else {
            self.dropped_warnings += 1;
        }
    }

    /// Moves every report out of `more` into these.
    pub fn append(&mut self, more: &mut Vec<Report>) {
        for r in more.drain(..) {
            self.push(r);
        }
    }

    /// Whether any error was reported, kept or not.
    pub fn has_errors(&self) -> bool {
        self.has_errors
    }

    /// The kept reports, each with its count of repeats that were not kept, and how many
    /// other errors and warnings were not kept.
    pub fn into_parts(self) -> (Vec<(Report, usize)>, usize, usize) {
        (
            self.kept.into_iter().zip(self.repeats).collect(),
            self.dropped_errors,
            self.dropped_warnings,
        )
    }
}

/// All files and logical lines of one assembler run.
#[derive(Default)]
pub(crate) struct SourceMap {
    files: Vec<SourceFile>,
    lines: Vec<LogicalLine>,
}

impl SourceMap {
    pub fn add_file(&mut self, name: String, text: String) -> FileId {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        self.files.push(SourceFile { name, text, starts });
        (self.files.len() - 1) as FileId
    }

    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// Registers a logical line and returns its index for [`Span::line`].
    pub fn add_line(&mut self, text: String, origin: Origin) -> u32 {
        self.lines.push(LogicalLine { text, origin });
        (self.lines.len() - 1) as u32
    }

    pub fn line_text(&self, line: u32) -> &str {
        self.lines
            .get(line as usize)
            .map_or("", |l| l.text.as_str())
    }

    /// The text of `span` in its logical line.
    pub fn snippet(&self, span: Span) -> &str {
        self.line_text(span.line)
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    fn file_name(&self, id: FileId) -> &str {
        self.file(id).map_or("<unknown>", |f| f.name.as_str())
    }

    fn original_line(&self, origin: &Origin) -> &str {
        self.file(origin.file)
            .and_then(|f| f.line((origin.line as usize).wrapping_sub(1)))
            .unwrap_or("")
    }

    /// Where a span was written, cheaply: the file, its 1-based line and the byte offset
    /// in that line. Enough to sort and compare reports without building diagnostics.
    pub fn place(&self, span: Span) -> Option<(FileId, u32, usize)> {
        let origin = &self.lines.get(span.line as usize)?.origin;
        let start = match &origin.col_map {
            None => span.start as usize,
            Some(map) => map
                .get(span.start as usize)
                .map_or(usize::MAX, |r| r.0 as usize),
        };
        Some((origin.file, origin.line, start))
    }

    /// File name, 1-based line and column, length in characters and the original line.
    fn locate(&self, span: Span) -> Option<(&str, usize, usize, usize, &str)> {
        let logical = self.lines.get(span.line as usize)?;
        let origin = &logical.origin;
        let original = self.original_line(origin);
        let (start, end) = match &origin.col_map {
            None => (span.start as usize, span.end as usize),
            Some(map) => {
                let at = |i: usize| map.get(i).copied();
                let start = at(span.start as usize).map_or(original.len(), |r| r.0 as usize);
                let end = if span.end > span.start {
                    at(span.end as usize - 1).map_or(original.len(), |r| r.1 as usize)
                } else {
                    start
                };
                (start, end.max(start))
            }
        };
        let count = |s: Option<&str>, fallback: usize| s.map_or(fallback, |s| s.chars().count());
        let col = count(original.get(..start), start) + 1;
        let len = count(original.get(start..end), end.saturating_sub(start));
        Some((
            self.file_name(origin.file),
            origin.line as usize,
            col,
            len,
            original,
        ))
    }

    /// `file:line:col` of a span, for notes such as "first defined at ...".
    pub fn describe(&self, span: Span) -> String {
        match self.locate(span) {
            Some((file, line, col, _, _)) => format!("{file}:{line}:{col}"),
            None => "<unknown>".into(),
        }
    }

    /// The notes that explain how a line came to be: the expanded text if it differs from
    /// what is shown, then every macro, repetition and include around it.
    fn expansion_notes(&self, line: u32) -> Vec<String> {
        let mut notes = Vec::new();
        let Some(logical) = self.lines.get(line as usize) else {
            return notes;
        };
        if logical.origin.col_map.is_some() {
            let text = logical.text.trim();
            let text = text.split(';').next().unwrap_or(text).trim_end();
            notes.push(format!(
                "after substitution the line reads `{}`",
                shorten(text, 2 * MAX_QUOTED)
            ));
        }
        let mut next = logical.origin.expansion.clone();
        while let Some(exp) = next {
            let at = format!("{}:{}", self.file_name(exp.file), exp.line);
            notes.push(match &exp.kind {
                ExpansionKind::Macro(name) => format!("in expansion of macro `{name}` at {at}"),
                ExpansionKind::Rept { iteration, count } => format!(
                    "in repetition {} of {count} of `.rept` at {at}",
                    iteration + 1
                ),
                ExpansionKind::Irp { var, item } => {
                    format!("in the `.irp` repetition with `\\{var}` = `{item}` at {at}")
                }
                ExpansionKind::Include => format!("in file included from {at}"),
            });
            next = exp.parent.clone();
        }
        // Deep (recursive) expansions: keep the innermost and outermost few.
        const KEEP: usize = 6;
        if notes.len() > 2 * KEEP {
            let hidden = notes.len() - 2 * KEEP;
            let tail = notes.split_off(notes.len() - KEEP);
            notes.truncate(KEEP);
            notes.push(format!("... {hidden} more expansions ..."));
            notes.extend(tail);
        }
        notes
    }

    /// Resolves a report into a public diagnostic. `main_file` names the whole-program
    /// location.
    pub fn to_diagnostic(&self, report: Report, main_file: &str) -> Diagnostic {
        let mut diag = Diagnostic {
            severity: report.severity,
            message: report.message,
            file: main_file.to_string(),
            line: 0,
            col: 0,
            len: 0,
            source_line: String::new(),
            hint: report.hint,
            notes: report.notes,
        };
        if let Some(span) = report.span {
            if let Some((file, line, col, len, text)) = self.locate(span) {
                diag.file = file.to_string();
                diag.line = line;
                diag.col = col;
                diag.len = len.max(1);
                diag.source_line = text.to_string();
            }
            diag.notes.extend(self.expansion_notes(span.line));
        }
        diag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_file_lines_map_to_columns_in_characters() {
        let mut map = SourceMap::default();
        let f = map.add_file("a.s".into(), "x\r\n  é: mov r1, 2\n".into());
        let origin = Origin {
            file: f,
            line: 2,
            col_map: None,
            expansion: None,
        };
        let text = map.file(f).unwrap().line(1).unwrap().to_string();
        let at = text.find("mov").unwrap() as u32;
        let line = map.add_line(text, origin);
        let d = map.to_diagnostic(
            Report::error(
                Span {
                    line,
                    start: at,
                    end: at + 3,
                },
                "m",
            ),
            "a.s",
        );
        assert_eq!((d.line, d.col, d.len), (2, 6, 3));
        assert_eq!(d.source_line, "  é: mov r1, 2");
    }

    #[test]
    fn expanded_spans_map_through_the_column_map() {
        let mut map = SourceMap::default();
        let f = map.add_file("m.s".into(), "  mov r\\n, 1".into());
        // "  mov r0, 1": byte 7 ("0") came from "\n" at 7..9, the rest shift by one.
        let mut cm: Vec<(u32, u32)> = (0..7).map(|i| (i, i + 1)).collect();
        cm.push((7, 9));
        cm.extend((9..12).map(|i| (i, i + 1)));
        let exp = Rc::new(Expansion {
            kind: ExpansionKind::Rept {
                iteration: 0,
                count: 4,
            },
            file: f,
            line: 1,
            parent: None,
        });
        let line = map.add_line(
            "  mov r0, 1".into(),
            Origin {
                file: f,
                line: 1,
                col_map: Some(cm.into()),
                expansion: Some(exp),
            },
        );
        let d = map.to_diagnostic(
            Report::error(
                Span {
                    line,
                    start: 6,
                    end: 8,
                },
                "m",
            ),
            "m.s",
        );
        assert_eq!((d.col, d.len), (7, 3));
        assert_eq!(
            d.notes,
            vec![
                "after substitution the line reads `mov r0, 1`".to_string(),
                "in repetition 1 of 4 of `.rept` at m.s:1".to_string()
            ]
        );
    }
}
