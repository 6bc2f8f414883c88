//! Diagnostics: what went wrong, where, and how to fix it, rendered like rustc's.
//!
//! This module owns the public [`Diagnostic`] type and its text rendering, plus the
//! "did you mean" helper. It knows nothing about where a diagnostic came from: turning a
//! position in (possibly macro-expanded) source into a file, line and column is the job of
//! [`crate::source`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The program cannot be assembled.
    Error,
    /// The program assembles, but something looks unintended.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One message about the source, with its location.
///
/// `line == 0` means the diagnostic is about the program as a whole (for example "no
/// instructions"); `col`, `len` and `source_line` are then meaningless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// The file the location is in, as it was named to the assembler.
    pub file: String,
    /// 1-based line number (0: no particular line).
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// Length of the marked text in characters (at least 1 when `line > 0`).
    pub len: usize,
    /// The text of the line, for display.
    pub source_line: String,
    /// How to fix it, if we can tell ("did you mean `mov`?").
    pub hint: Option<String>,
    /// Further context: where a label was first defined, which macro expansion this is in.
    pub notes: Vec<String>,
}

/// How many columns a tab advances in rendered source lines.
const TAB_WIDTH: usize = 4;

/// How the last diagnostic of a run that hit the display limit starts: "and 99900 more
/// errors not shown".
const NOT_SHOWN_PREFIX: &str = "and ";
const NOT_SHOWN_SUFFIX: &str = " not shown";

impl Diagnostic {
    /// An error about a whole file (`file:` with no line): it cannot be read, the image it
    /// gives is too large.
    pub fn whole_file(file: &str, message: String, hint: Option<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message,
            file: file.to_string(),
            line: 0,
            col: 0,
            len: 0,
            source_line: String::new(),
            hint,
            notes: Vec::new(),
        }
    }

    /// The diagnostic that stands for `count` errors (or warnings) that are not shown.
    pub(crate) fn not_shown(
        severity: Severity,
        count: usize,
        file: &str,
        shown: usize,
    ) -> Diagnostic {
        let plural = if count == 1 { "" } else { "s" };
        Diagnostic {
            severity,
            ..Diagnostic::whole_file(
                file,
                format!("{NOT_SHOWN_PREFIX}{count} more {severity}{plural}{NOT_SHOWN_SUFFIX}"),
                Some(format!(
                    "the assembler shows the first {shown} {severity}s of a run; fix those and assemble again"
                )),
            )
        }
    }

    /// How many diagnostics this one stands for: the count of a "not shown" one, else 1.
    fn weight(&self) -> usize {
        if self.line != 0 {
            return 1;
        }
        self.message
            .strip_prefix(NOT_SHOWN_PREFIX)
            .and_then(|m| m.strip_suffix(NOT_SHOWN_SUFFIX))
            .and_then(|m| m.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as rustc would print it:
    ///
    /// ```text
    /// error: unknown mnemonic `mvo`
    ///   --> examples/fib.s:12:5
    ///    |
    /// 12 |     mvo r1, 2
    ///    |     ^^^
    ///    = help: did you mean `mov`?
    /// ```
    pub fn render(&self) -> String {
        let mut out = format!("{}: {}\n", self.severity, self.message);
        let gutter = if self.line > 0 {
            self.line.to_string().len()
        } else {
            1
        };
        let pad = " ".repeat(gutter);
        if self.line > 0 {
            out.push_str(&format!(
                "{pad}--> {}:{}:{}\n",
                self.file, self.line, self.col
            ));
            let (shown, caret_at, caret_len) = self.display_line();
            out.push_str(&format!("{pad} |\n"));
            out.push_str(&format!("{} | {}\n", self.line, shown));
            out.push_str(&format!(
                "{pad} | {}{}\n",
                " ".repeat(caret_at),
                "^".repeat(caret_len)
            ));
        } else if !self.file.is_empty() {
            out.push_str(&format!("{pad}--> {}\n", self.file));
        }
        for note in &self.notes {
            out.push_str(&format!("{pad} = note: {note}\n"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{pad} = help: {hint}\n"));
        }
        out
    }

    /// The source line with tabs expanded (so the caret lines up in any terminal), and the
    /// caret's display column and width.
    fn display_line(&self) -> (String, usize, usize) {
        let mut shown = String::new();
        let mut caret_at = None;
        let mut caret_end = None;
        let start = self.col.saturating_sub(1);
        let end = start + self.len.max(1);
        // Counted as the line is built: counting `shown` again at every character made a
        // long line with tabs take quadratic time.
        let mut shown_len = 0;
        for (i, ch) in self.source_line.chars().enumerate() {
            if i == start {
                caret_at = Some(shown_len);
            }
            if i == end {
                caret_end = Some(shown_len);
            }
            if ch == '\t' {
                let width = TAB_WIDTH - shown_len % TAB_WIDTH;
                shown.extend(std::iter::repeat_n(' ', width));
                shown_len += width;
            } else {
                shown.push(ch);
                shown_len += 1;
            }
        }
        let caret_at = caret_at.unwrap_or(shown_len);
        let caret_end = caret_end.unwrap_or(shown_len).max(caret_at + 1);
        // Very long lines: show a window around the caret, marked with ellipses.
        const WIDTH: usize = 120;
        if shown_len <= WIDTH {
            return (shown, caret_at, caret_end - caret_at);
        }
        let from = caret_at.saturating_sub(WIDTH / 2).min(shown_len - WIDTH);
        let window: String = shown.chars().skip(from).take(WIDTH).collect();
        let prefix = if from > 0 { "..." } else { "" };
        let suffix = if from + WIDTH < shown_len { "..." } else { "" };
        let caret_len = (caret_end - caret_at).min(WIDTH - (caret_at - from));
        (
            format!("{prefix}{window}{suffix}"),
            caret_at - from + prefix.len(),
            caret_len.max(1),
        )
    }
}

#[cfg(test)]
mod long_line_tests {
    use super::*;

    #[test]
    fn long_lines_show_a_window_around_the_caret() {
        let d = Diagnostic {
            severity: Severity::Error,
            message: "m".into(),
            file: "f.s".into(),
            line: 1,
            col: 5001,
            len: 3,
            source_line: format!("{}bad{}", "x".repeat(5000), "y".repeat(5000)),
            hint: None,
            notes: vec![],
        };
        let text = d.render();
        assert!(text.len() < 600, "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let caret = lines[4].find('^').unwrap();
        assert_eq!(&lines[3][caret..caret + 3], "bad");
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Everything one assembler run found wrong: all errors, plus the warnings seen so far.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    /// Every diagnostic rendered, separated by blank lines, then a one-line summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}", d.render())?;
        }
        let errors: usize = self.errors().map(Diagnostic::weight).sum();
        let warnings: usize = self.warnings().map(Diagnostic::weight).sum();
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("1 {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        if warnings > 0 {
            write!(
                f,
                "error: could not assemble due to {}; {} emitted",
                plural(errors, "error"),
                plural(warnings, "warning")
            )
        } else {
            write!(
                f,
                "error: could not assemble due to {}",
                plural(errors, "error")
            )
        }
    }
}

impl std::error::Error for Diagnostics {}

/// Most characters of source text quoted in a message or note: expansions can make words
/// and lines of megabytes.
pub(crate) const MAX_QUOTED: usize = 100;

/// `text` cut to at most `max` characters, with `...` where it was cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Longest word for which "did you mean" looks for a typo. Names are far shorter (the
/// longest mnemonic has 9 characters); anything longer is not a typo of one of them, and
/// comparing it would cost time in proportion to its length for every candidate.
const MAX_SUGGEST_LEN: usize = 64;

/// Total work that "did you mean" may do in one assembler run, counted as one unit per
/// candidate looked at plus one per cell of each edit-distance table. About a second of
/// work; after that, errors come without suggestions.
const MAX_SUGGEST_WORK: u64 = 20_000_000;

/// "Did you mean" for one assembler run: caches the answer for each word, so that an error
/// repeated by `.rept` a million times costs one search, and stops suggesting once
/// [`MAX_SUGGEST_WORK`] is spent.
pub(crate) struct Suggester {
    cache: RefCell<HashMap<(&'static str, String), Option<String>>>,
    work: Cell<u64>,
    max_work: u64,
}

impl Default for Suggester {
    fn default() -> Suggester {
        Suggester {
            cache: RefCell::default(),
            work: Cell::new(0),
            max_work: MAX_SUGGEST_WORK,
        }
    }
}

impl Suggester {
    /// The candidate closest to `word`, if it is close enough to be a plausible typo.
    /// `kind` names the candidate list for the cache ("mnemonic", "directive", ...);
    /// `candidates` is only called when the answer is not cached.
    ///
    /// Damerau-Levenshtein counts a swap of neighbours as one edit, so `mvo` is one step
    /// from `mov`. The allowed distance grows with the word so that short words do not
    /// match everything.
    pub fn suggest<C, S>(&self, kind: &'static str, word: &str, candidates: C) -> Option<String>
    where
        C: FnOnce() -> Vec<S>,
        S: AsRef<str>,
    {
        if word.len() > 4 * MAX_SUGGEST_LEN {
            return None;
        }
        let key = (kind, word.to_string());
        if let Some(hit) = self.cache.borrow().get(&key) {
            return hit.clone();
        }
        let found = self.search(word, candidates)?;
        self.cache.borrow_mut().insert(key, found.clone());
        found
    }

    /// [`Suggester::suggest`] without the cache, for callers whose candidates depend on
    /// more than the word. `Some(None)` if nothing is close, `None` if the work limit was
    /// reached (an answer not to be cached).
    pub fn search<C, S>(&self, word: &str, candidates: C) -> Option<Option<String>>
    where
        C: FnOnce() -> Vec<S>,
        S: AsRef<str>,
    {
        let len = word.chars().count();
        if len > MAX_SUGGEST_LEN {
            return Some(None);
        }
        if self.work.get() >= self.max_work {
            return None;
        }
        let limit = match len {
            0..=2 => 1,
            3..=5 => 2,
            _ => 3,
        };
        let lower = word.to_ascii_lowercase();
        let mut work = self.work.get();
        let mut best: Option<(usize, &str)> = None;
        let candidates = candidates();
        for cand in &candidates {
            let cand = cand.as_ref();
            work += 1;
            if work >= self.max_work {
                // Out of time: no answer rather than a worse one.
                self.work.set(work);
                return None;
            }
            let cand_len = cand.chars().count();
            // The distance is at least the difference in length.
            if cand == word || cand_len.abs_diff(len) > limit {
                continue;
            }
            work += 2 * (len * cand_len) as u64;
            // Case differences count as half an edit at most: `MOV` is surely `mov`.
            let d = strsim::damerau_levenshtein(&lower, &cand.to_ascii_lowercase())
                .min(strsim::damerau_levenshtein(word, cand));
            if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, cand));
            }
        }
        self.work.set(work);
        Some(best.map(|(_, c)| c.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: "unknown mnemonic `mvo`".into(),
            file: "examples/fib.s".into(),
            line: 12,
            col: 5,
            len: 3,
            source_line: "    mvo r1, 2".into(),
            hint: Some("did you mean `mov`?".into()),
            notes: vec![],
        }
    }

    #[test]
    fn renders_like_rustc() {
        let expected = "\
error: unknown mnemonic `mvo`
  --> examples/fib.s:12:5
   |
12 |     mvo r1, 2
   |     ^^^
   = help: did you mean `mov`?
";
        assert_eq!(sample().render(), expected);
    }

    #[test]
    fn tabs_are_expanded_and_caret_follows() {
        let mut d = sample();
        d.source_line = "\tmvo r1, 2".into();
        d.col = 2;
        let r = d.render();
        assert!(r.contains("12 |     mvo r1, 2\n"), "{r}");
        assert!(r.contains("   |     ^^^\n"), "{r}");
    }

    #[test]
    fn caret_past_end_of_line_is_still_visible() {
        let mut d = sample();
        d.col = 14;
        d.len = 0;
        assert!(d.render().contains("   |              ^\n"));
    }

    #[test]
    fn whole_program_diagnostic_has_no_snippet() {
        let mut d = sample();
        d.line = 0;
        d.hint = None;
        d.notes = vec!["n".into()];
        assert_eq!(
            d.render(),
            "error: unknown mnemonic `mvo`\n --> examples/fib.s\n  = note: n\n"
        );
    }

    #[test]
    fn summary_counts_errors_and_warnings() {
        let mut w = sample();
        w.severity = Severity::Warning;
        let all = Diagnostics(vec![sample(), sample(), w]);
        let text = all.to_string();
        assert!(text.ends_with("could not assemble due to 2 errors; 1 warning emitted"));
    }

    #[test]
    fn suggestions() {
        let s = Suggester::default();
        let cands = || vec!["mov", "movzx", "add", "jmp"];
        assert_eq!(s.suggest("t", "mvo", cands), Some("mov".into()));
        assert_eq!(s.suggest("t", "MOV", cands), Some("mov".into()));
        assert_eq!(s.suggest("t", "xyzzy", cands), None);
        assert_eq!(s.suggest("t", "jmp", cands), None);
    }

    #[test]
    fn suggestions_are_cached_and_bounded() {
        let s = Suggester {
            max_work: 1000,
            ..Suggester::default()
        };
        assert_eq!(s.suggest("t", "mvo", || vec!["mov"]), Some("mov".into()));
        // Cached: the candidates are not asked for again.
        assert_eq!(
            s.suggest("t", "mvo", || -> Vec<&str> { unreachable!() }),
            Some("mov".into())
        );
        let long = "m".repeat(MAX_SUGGEST_LEN + 1);
        assert_eq!(
            s.suggest("t", &long, || -> Vec<&str> { unreachable!() }),
            None
        );
        // Once the work is spent, nothing more is searched.
        let many: Vec<String> = (0..1000).map(|i| format!("x{i}")).collect();
        assert_eq!(s.suggest("t", "x1", || many.clone()), None);
        assert_eq!(
            s.suggest("t", "movv", || -> Vec<&str> { unreachable!() }),
            None
        );
    }
}
