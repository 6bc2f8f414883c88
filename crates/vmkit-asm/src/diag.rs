//! Diagnostics: what went wrong, where, and how to fix it, rendered like rustc's.
//!
//! This module owns the public [`Diagnostic`] type and its text rendering, plus the
//! "did you mean" helper. It knows nothing about where a diagnostic came from: turning a
//! position in (possibly macro-expanded) source into a file, line and column is the job of
//! [`crate::source`].

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

impl Diagnostic {
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
        for (i, ch) in self.source_line.chars().enumerate() {
            if i == start {
                caret_at = Some(shown.chars().count());
            }
            if i == end {
                caret_end = Some(shown.chars().count());
            }
            if ch == '\t' {
                let width = TAB_WIDTH - shown.chars().count() % TAB_WIDTH;
                shown.push_str(&" ".repeat(width));
            } else {
                shown.push(ch);
            }
        }
        let shown_len = shown.chars().count();
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
        let errors = self.errors().count();
        let warnings = self.warnings().count();
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

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
///
/// Damerau-Levenshtein counts a swap of neighbours as one edit, so `mvo` is one step from
/// `mov`. The allowed distance grows with the word so that short words do not match
/// everything.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = match word.chars().count() {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        if cand == word {
            continue;
        }
        // Case differences count as half an edit at most: `MOV` is surely `mov`.
        let d = strsim::damerau_levenshtein(&lower, &cand.to_ascii_lowercase())
            .min(strsim::damerau_levenshtein(word, cand));
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
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
        let cands = ["mov", "movzx", "add", "jmp"];
        assert_eq!(did_you_mean("mvo", cands), Some("mov".into()));
        assert_eq!(did_you_mean("MOV", cands), Some("mov".into()));
        assert_eq!(did_you_mean("xyzzy", cands), None);
        assert_eq!(did_you_mean("jmp", cands), None);
    }
}
