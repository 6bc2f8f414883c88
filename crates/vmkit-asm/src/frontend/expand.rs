//! Expanding things into lines: macro definitions and invocations, `.rept` and `.irp`
//! repetitions, and `.include`d files. Each expansion becomes a new frame of lines, tagged
//! with how it came to be so that diagnostics can say so.

use super::{
    line_count, Frame, FrameKind, Frontend, MAX_EXPANDED_BYTES, MAX_EXPANDED_LINES,
    MAX_EXPANDED_LINE_BYTES, MAX_INCLUDE_DEPTH, MAX_MACRO_DEPTH, MAX_SOURCE_BYTES,
    MAX_SOURCE_LINES,
};
use crate::expr::{parse_expr, Cursor};
use crate::file::{read_limited, show_size, MAX_SOURCE_FILE_BYTES};
use crate::lexer::{comment_start, Punct, Tok, Token};
use crate::macros::{
    bind_args, head_word, parse_macro_header, split_args, substitute_body, MacroDef, RawLine,
    Substitution, TooLong,
};
use crate::mnemonic;
use crate::parser::qualify;
use crate::source::{Expansion, ExpansionKind, Origin, Report, Span};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

/// What a repetition iterates over.
enum Items {
    /// `.rept n`: 0, 1, ..., n-1.
    Count(usize),
    /// `.irp`: the items' text.
    List(Vec<String>),
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Count(n) => *n,
            Items::List(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> String {
        match self {
            Items::Count(_) => i.to_string(),
            Items::List(v) => v.get(i).cloned().unwrap_or_default(),
        }
    }
}

impl Frontend {
    /// Takes the lines of a block up to its terminator from the current frame, honouring
    /// nesting. `None` if the frame ends first.
    fn collect_block(&mut self, opens: &[&str], close: &str) -> Option<Vec<RawLine>> {
        let frame = self.frames.last_mut()?;
        let mut depth = 0usize;
        let mut body = Vec::new();
        while frame.pos < frame.lines.len() {
            let line = frame.lines[frame.pos].clone();
            frame.pos += 1;
            let head = head_word(&line.text);
            if opens.contains(&head.as_str()) {
                depth += 1;
            } else if head == close {
                if depth == 0 {
                    return Some(body);
                }
                depth -= 1;
            }
            body.push(line);
        }
        None
    }

    pub(super) fn define_macro(&mut self, line: u32, text: &str, head_span: Span) {
        let after = text
            .get(head_span.end as usize..comment_start(text))
            .unwrap_or("");
        let header = parse_macro_header(after);
        let Some(body) = self.collect_block(&[".macro"], ".endm") else {
            self.error(Report::error(
                head_span,
                "this `.macro` has no matching `.endm`",
            ));
            return;
        };
        let (name, params) = match header {
            Ok(h) => h,
            Err(msg) => {
                let span = Span {
                    line,
                    start: head_span.end,
                    end: text[..comment_start(text)].trim_end().len() as u32,
                };
                self.error(Report::error(span.to(head_span), msg));
                return;
            }
        };
        let name_start = after
            .find(&name)
            .map_or(head_span.end, |i| head_span.end + i as u32);
        let name_span = Span {
            line,
            start: name_start,
            end: name_start + name.len() as u32,
        };
        let lower = name.to_ascii_lowercase();
        if mnemonic::resolve(&lower).is_ok() {
            self.error(Report::error(
                name_span,
                format!("`{name}` is an instruction and cannot be a macro name"),
            ));
            return;
        }
        if let Some(old) = self.macros.get(&name) {
            let note = format!("the first definition is at {}", old.defined_at);
            self.error(
                Report::error(name_span, format!("macro `{name}` is already defined")).note(note),
            );
            return;
        }
        let def = MacroDef {
            name: name.clone(),
            params,
            body,
            defined_at: self.sources.describe(name_span),
        };
        self.macros.insert(name, Rc::new(def));
    }

    /// Takes `n` lines from the budget of expanded lines; `what` names the expansion in the
    /// error ("expanding macro `m`", "this `.rept`").
    fn reserve_lines(&mut self, n: usize, span: Span, what: &str) -> bool {
        if self.over_budget {
            return false;
        }
        match self.expanded_lines.checked_add(n) {
            Some(total) if total <= MAX_EXPANDED_LINES => {
                self.expanded_lines = total;
                true
            }
            _ => {
                self.over_limit(
                    span,
                    format!("{what} would produce more than {MAX_EXPANDED_LINES} lines"),
                    Some("the limit counts the lines that all macros and repetitions produce in one run"),
                    "use `.fill` or `.space` for large blocks of data",
                );
                false
            }
        }
    }

    /// What is left of the budget of expanded text.
    fn bytes_left(&self) -> usize {
        MAX_EXPANDED_BYTES.saturating_sub(self.expanded_bytes)
    }

    /// Reports that the expansion `what` at `span` would exceed a limit on expanded text.
    fn over_bytes(&mut self, span: Span, what: &str, which: TooLong) {
        let (message, note) = match which {
            TooLong::Total => (
                format!("{what} would produce more than {MAX_EXPANDED_BYTES} bytes of text"),
                "the limit counts the text that all macros and repetitions produce in one run",
            ),
            TooLong::Line => (
                format!("{what} would produce a line longer than {MAX_EXPANDED_LINE_BYTES} bytes"),
                "the limit is on each line that a macro or repetition produces",
            ),
        };
        let hint = if what.starts_with("expanding macro") {
            "a macro that passes its arguments on to itself more than once doubles them at every level"
        } else {
            "use `.fill` or `.space` for large blocks of data"
        };
        self.over_limit(span, message, Some(note), hint);
    }

    /// Reports a limit on expansion once; nothing more is expanded afterwards, since a
    /// runaway expansion would hit the limit again at every level it fans out to.
    fn over_limit(&mut self, span: Span, message: String, note: Option<&str>, hint: &str) {
        self.over_budget = true;
        let mut report = Report::error(span, message);
        if let Some(note) = note {
            report = report.note(note);
        }
        self.error(report.hint(hint));
    }

    fn unique(&mut self) -> u64 {
        self.next_unique += 1;
        self.next_unique
    }

    fn expansion(&self, kind: ExpansionKind, at: &Origin) -> Rc<Expansion> {
        Rc::new(Expansion {
            kind,
            file: at.file,
            line: at.line,
            parent: at.expansion.clone(),
        })
    }

    pub(super) fn invoke(
        &mut self,
        def: &Rc<MacroDef>,
        head_span: Span,
        args: &str,
        origin: &Origin,
    ) {
        let depth = self
            .frames
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::Macro))
            .count();
        if self.over_budget {
            return;
        }
        if depth >= MAX_MACRO_DEPTH {
            self.over_limit(
                head_span,
                format!(
                    "macro `{}` is nested more than {MAX_MACRO_DEPTH} levels deep",
                    def.name
                ),
                None,
                "a macro that invokes itself needs an `.if` that stops the recursion",
            );
            return;
        }
        let vars: HashMap<String, String> = match bind_args(def, args) {
            Ok(v) => v.into_iter().collect(),
            Err(msg) => {
                let params: Vec<String> = def
                    .params
                    .iter()
                    .map(|p| match (&p.default, p.vararg) {
                        (_, true) => format!("{}:vararg", p.name),
                        (Some(d), _) => format!("{}={d}", p.name),
                        (None, _) => p.name.clone(),
                    })
                    .collect();
                let note = format!(
                    "`{}` is defined at {} as `.macro {} {}`",
                    def.name,
                    def.defined_at,
                    def.name,
                    params.join(", ")
                );
                self.error(Report::error(head_span, msg).note(note));
                return;
            }
        };
        let what = format!("expanding macro `{}`", def.name);
        if !self.reserve_lines(def.body.len(), head_span, &what) {
            return;
        }
        let unique = self.unique();
        let mut lines = match substitute_body(
            &def.body,
            &Substitution {
                vars: &vars,
                unique: Some(unique),
            },
            self.bytes_left(),
            MAX_EXPANDED_LINE_BYTES,
        ) {
            Ok(lines) => lines,
            Err(which) => {
                self.over_bytes(head_span, &what, which);
                return;
            }
        };
        self.expanded_bytes += lines.iter().map(|l| l.text.len()).sum::<usize>();
        let exp = self.expansion(ExpansionKind::Macro(def.name.clone()), origin);
        for l in &mut lines {
            l.origin.expansion = Some(exp.clone());
        }
        self.frames.push(Frame {
            lines,
            pos: 0,
            kind: FrameKind::Macro,
            conds: Vec::new(),
        });
    }

    pub(super) fn repeat(
        &mut self,
        head: &str,
        head_span: Span,
        mut cur: Cursor<'_>,
        text: &str,
        origin: &Origin,
    ) {
        let opens = [".rept", ".irp"];
        // Parse the header before taking the body, but take the body even if the header is
        // wrong, so that its lines are not assembled once by mistake.
        let header = if head == ".rept" {
            self.rept_header(&mut cur)
        } else {
            self.irp_header(&mut cur, text)
        };
        let Some(body) = self.collect_block(&opens, ".endr") else {
            self.error(Report::error(
                head_span,
                format!("this `{head}` has no matching `.endr`"),
            ));
            return;
        };
        let (var, items) = match header {
            Ok(h) => h,
            Err(r) => {
                self.error(r);
                return;
            }
        };
        let count = items.len();
        if body.is_empty() || count == 0 {
            return;
        }
        let what = format!("this `{head}`");
        if !self.reserve_lines(body.len().saturating_mul(count), head_span, &what) {
            return;
        }
        let mut lines = Vec::with_capacity(body.len() * count);
        for i in 0..count {
            let item = items.get(i);
            let vars: HashMap<String, String> =
                var.iter().map(|v| (v.clone(), item.clone())).collect();
            let unique = self.unique();
            let kind = match (head, &var) {
                (".irp", Some(v)) => ExpansionKind::Irp {
                    var: v.clone(),
                    item: item.clone(),
                },
                _ => ExpansionKind::Rept {
                    iteration: i as u64,
                    count: count as u64,
                },
            };
            let exp = self.expansion(kind, origin);
            let copy = match substitute_body(
                &body,
                &Substitution {
                    vars: &vars,
                    unique: Some(unique),
                },
                self.bytes_left(),
                MAX_EXPANDED_LINE_BYTES,
            ) {
                Ok(copy) => copy,
                Err(which) => {
                    self.over_bytes(head_span, &what, which);
                    return;
                }
            };
            // `.rept`'s first copy is its shortest (later ones only have longer numbers in
            // them), so when it times the count is over the limit, the whole is.
            if i == 0 && matches!(items, Items::Count(_)) {
                let first: usize = copy.iter().map(|l| l.text.len()).sum();
                if first.saturating_mul(count) > self.bytes_left() {
                    self.over_bytes(head_span, &what, TooLong::Total);
                    return;
                }
            }
            for mut l in copy {
                self.expanded_bytes += l.text.len();
                l.origin.expansion = Some(exp.clone());
                lines.push(l);
            }
        }
        self.frames.push(Frame {
            lines,
            pos: 0,
            kind: FrameKind::Repeat,
            conds: Vec::new(),
        });
    }

    /// `.rept count[, var]`: the variable and the text of each iteration's value.
    fn rept_header(&self, cur: &mut Cursor<'_>) -> Result<(Option<String>, Items), Report> {
        let start = cur.here();
        let scope = self.scope.clone();
        let expr = parse_expr(cur, &|n: &str| qualify(&scope, n))?;
        let var = if cur.eat(Punct::Comma) {
            match cur.next().and_then(Token::ident) {
                Some(v) if cur.at_end() && !v.contains('.') => Some(v.to_string()),
                _ => {
                    return Err(Report::error(
                        cur.since(start),
                        "expected `.rept count` or `.rept count, name`",
                    ))
                }
            }
        } else if cur.at_end() {
            None
        } else {
            return Err(cur.unexpected("`,` or end of line"));
        };
        let count = self.eval_early(&expr)?;
        if count < 0 {
            return Err(Report::error(
                expr.span,
                format!("`.rept` count is negative ({count})"),
            ));
        }
        if count as u64 > MAX_EXPANDED_LINES as u64 {
            return Err(Report::error(
                expr.span,
                format!("`.rept` count {count} is more than the limit of {MAX_EXPANDED_LINES}"),
            ));
        }
        Ok((var, Items::Count(count as usize)))
    }

    /// `.irp var, item, item, ...`.
    fn irp_header(
        &self,
        cur: &mut Cursor<'_>,
        text: &str,
    ) -> Result<(Option<String>, Items), Report> {
        let start = cur.here();
        let var = match cur.next().and_then(Token::ident) {
            Some(v) if !v.contains('.') => v.to_string(),
            _ => {
                return Err(Report::error(
                    start,
                    "expected `.irp name, item, item, ...`",
                ))
            }
        };
        let comma = cur.here();
        if !cur.eat(Punct::Comma) {
            return Ok((Some(var), Items::List(Vec::new())));
        }
        let rest = text
            .get(comma.end as usize..comment_start(text))
            .unwrap_or("");
        let items = split_args(rest)
            .into_iter()
            .map(|(s, e)| rest[s..e].to_string())
            .collect();
        Ok((Some(var), Items::List(items)))
    }

    pub(super) fn include(&mut self, head_span: Span, mut cur: Cursor<'_>, origin: &Origin) {
        if self.over_budget {
            return;
        }
        let arg_span = cur.here();
        let path = match cur.next().map(|t| &t.tok) {
            Some(Tok::Str(s)) if cur.at_end() => String::from_utf8_lossy(s).into_owned(),
            _ => {
                self.error(Report::error(
                    arg_span.to(head_span),
                    "expected `.include \"path\"`",
                ));
                return;
            }
        };
        let files = self
            .frames
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::File { .. }))
            .count();
        if files >= MAX_INCLUDE_DEPTH {
            self.error(Report::error(
                arg_span,
                format!("includes are nested more than {MAX_INCLUDE_DEPTH} deep"),
            ));
            return;
        }
        let dir = self
            .file_dirs
            .get(origin.file as usize)
            .cloned()
            .unwrap_or_default();
        let full = dir.join(&path);
        let canonical = full.canonicalize().ok();
        if let Some(c) = &canonical {
            let open = self
                .frames
                .iter()
                .any(|f| matches!(&f.kind, FrameKind::File { path: Some(p) } if p == c));
            if open {
                let mut chain: Vec<String> = self
                    .frames
                    .iter()
                    .filter_map(|f| match &f.kind {
                        FrameKind::File { path } => path.as_ref().map(|p| p.display().to_string()),
                        _ => None,
                    })
                    .collect();
                chain.push(c.display().to_string());
                self.error(
                    Report::error(arg_span, format!("`{path}` includes itself"))
                        .note(format!("the chain is {}", chain.join(" -> "))),
                );
                return;
            }
        }
        let text = match read_limited(&full, MAX_SOURCE_FILE_BYTES) {
            Ok(bytes) if self.source_bytes.saturating_add(bytes.len()) > MAX_SOURCE_BYTES => {
                self.over_limit(
                    arg_span,
                    format!(
                        "including `{path}` would read more than {} of source in all",
                        show_size(MAX_SOURCE_BYTES as u64)
                    ),
                    Some("the limit counts the main file and every file included, each time it is included"),
                    "an `.include` inside `.rept` or a macro reads its file again each time",
                );
                return;
            }
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                self.error(
                    Report::error(arg_span, format!("cannot read `{}`: {e}", full.display())).note(
                        format!("included paths are relative to `{}`", display_dir(&dir)),
                    ),
                );
                return;
            }
        };
        let lines = line_count(&text);
        if self.source_lines.saturating_add(lines) > MAX_SOURCE_LINES {
            self.over_limit(
                arg_span,
                format!("including `{path}` would read more than {MAX_SOURCE_LINES} lines of source in all"),
                Some("the limit counts the main file and every file included, each time it is included"),
                "an `.include` inside `.rept` or a macro reads its file again each time",
            );
            return;
        }
        self.source_lines += lines;
        self.source_bytes += text.len();
        let new_dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = full.display().to_string();
        let file = self.add_file(name, text, new_dir);
        let exp = self.expansion(ExpansionKind::Include, origin);
        let lines = self.file_lines(file, Some(exp));
        self.frames.push(Frame {
            lines,
            pos: 0,
            kind: FrameKind::File { path: canonical },
            conds: Vec::new(),
        });
    }
}

fn display_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        ".".into()
    } else {
        dir.display().to_string()
    }
}
