//! Conditional assembly (`.if`, `.elif`, `.else`, `.endif`, `.ifdef`, `.ifndef`, `.ifb`,
//! `.ifnb`) and the expressions it needs while reading.
//!
//! Conditions are decided before layout, so they only see constants defined above them;
//! [`EarlyEnv`] says so when they reach for a label or a later constant.

use super::{CondLevel, Frontend};
use crate::ast::{Program, SymKind};
use crate::diag::{shorten, Suggester, MAX_QUOTED};
use crate::expr::{parse_expr, Cursor, Env, Expr};
use crate::lexer::Token;
use crate::parser::qualify;
use crate::source::{Report, Span};
use std::cell::RefCell;
use std::collections::HashMap;

impl Frontend {
    /// Handles `.if`-family directive `head`; `cur` is at its operands.
    pub(super) fn conditional(&mut self, head: &str, span: Span, mut cur: Cursor<'_>) {
        let parent_active = self.active();
        match head {
            ".if" | ".ifdef" | ".ifndef" | ".ifb" | ".ifnb" => {
                let active = parent_active && self.condition(head, span, &mut cur);
                if let Some(f) = self.frames.last_mut() {
                    f.conds.push(CondLevel {
                        active,
                        parent_active,
                        taken: active || !parent_active,
                        seen_else: false,
                        span,
                    });
                }
            }
            ".elif" | ".else" | ".endif" => {
                let Some(level) = self.frames.last().and_then(|f| f.conds.last()) else {
                    self.error(Report::error(span, format!("`{head}` without `.if`")));
                    return;
                };
                let (parent_active, taken, seen_else) =
                    (level.parent_active, level.taken, level.seen_else);
                if head == ".endif" {
                    if let Some(f) = self.frames.last_mut() {
                        f.conds.pop();
                    }
                    return;
                }
                if seen_else {
                    self.error(Report::error(span, format!("`{head}` after `.else`")));
                    return;
                }
                let active = if head == ".else" {
                    if !cur.at_end() {
                        self.error(cur.unexpected("end of line after `.else`"));
                    }
                    parent_active && !taken
                } else {
                    parent_active && !taken && self.condition(".if", span, &mut cur)
                };
                if let Some(level) = self.frames.last_mut().and_then(|f| f.conds.last_mut()) {
                    level.active = active;
                    level.taken |= active;
                    level.seen_else = head == ".else";
                }
            }
            _ => {}
        }
    }

    /// Keeps `.if` nesting balanced when a conditional line does not even lex: its branch is
    /// skipped, and so are the others (the error is reported once).
    pub(super) fn broken_conditional(&mut self, head: &str, line: u32) {
        let parent_active = self.active();
        let span = Span {
            line,
            start: 0,
            end: 0,
        };
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        match head {
            ".endif" => {
                frame.conds.pop();
            }
            ".elif" | ".else" => {
                if let Some(level) = frame.conds.last_mut() {
                    level.active = false;
                    level.taken = true;
                }
            }
            _ => frame.conds.push(CondLevel {
                active: false,
                parent_active,
                taken: true,
                seen_else: false,
                span,
            }),
        }
    }

    /// Evaluates the condition of `.if`/`.ifdef`/`.ifndef`/`.ifb`/`.ifnb`; errors count as
    /// false.
    fn condition(&mut self, head: &str, span: Span, cur: &mut Cursor<'_>) -> bool {
        match head {
            // Blank tests look at the text, typically a substituted macro argument.
            ".ifb" => return cur.at_end(),
            ".ifnb" => return !cur.at_end(),
            _ => {}
        }
        if head == ".if" {
            return match self.const_expr(cur) {
                Ok(v) => v != 0,
                Err(r) => {
                    self.error(r);
                    false
                }
            };
        }
        let name = match cur.next().and_then(Token::ident) {
            Some(n) if cur.at_end() => n.to_string(),
            _ => {
                self.error(Report::error(span, format!("`{head}` takes one name")));
                return false;
            }
        };
        let full = qualify(&self.scope, &name);
        let defined = self.program.sym_index.contains_key(&full) || self.macros.contains_key(&name);
        defined == (head == ".ifdef")
    }

    /// An expression that must be known now: constants defined earlier, no labels.
    fn const_expr(&self, cur: &mut Cursor<'_>) -> Result<i64, Report> {
        let scope = self.scope.clone();
        let expr = parse_expr(cur, &|n: &str| qualify(&scope, n))?;
        if !cur.at_end() {
            return Err(cur.unexpected("end of line"));
        }
        self.eval_early(&expr)
    }

    /// Evaluates `expr` with the constants defined so far.
    pub(super) fn eval_early(&self, expr: &Expr) -> Result<i64, Report> {
        // Start from every constant already worked out: a `.if` inside a `.rept` must not
        // walk a long chain of constants again at every repetition.
        let cache = RefCell::new(HashMap::new());
        let env = EarlyEnv {
            program: &self.program,
            cache: &cache,
            known: &self.early_values,
            shallow: false,
            suggest: &self.suggester,
        };
        let value = expr.eval(&env, false);
        // A value, once found, is final: names are defined once, and the ones it depends
        // on were all defined. An error may not be (its name may be defined later).
        let mut known = self.early_values.borrow_mut();
        for (k, v) in cache.into_inner() {
            if let Ok(v) = v {
                known.insert(k, v);
            }
        }
        value
    }
}

/// Evaluates expressions before layout: only `.equ` constants defined so far.
#[derive(Clone, Copy)]
struct EarlyEnv<'a> {
    program: &'a Program,
    cache: &'a RefCell<HashMap<usize, Result<i64, Report>>>,
    /// Only read constants from the cache (while filling it in dependency order).
    shallow: bool,
    /// Values found by earlier evaluations.
    known: &'a RefCell<HashMap<usize, i64>>,
    suggest: &'a Suggester,
}

impl Env for EarlyEnv<'_> {
    fn symbol(&self, name: &str, span: Span, in_cp: bool) -> Result<i64, Report> {
        let Some(&id) = self.program.sym_index.get(name) else {
            // The names grow as the source is read, so the answer is not cached.
            let hint = self
                .suggest
                .search(name, || {
                    self.program.syms.iter().map(|s| s.name.as_str()).collect()
                })
                .flatten();
            return Err(Report::error(span, format!("`{}` is not defined before this line", shorten(name, MAX_QUOTED)))
                .maybe_hint(hint.map(|s| format!("did you mean `{s}`?")))
                .note("`.rept` and `.if` are decided while reading, so they only see constants defined above them"));
        };
        if matches!(self.program.syms[id].kind, SymKind::Label { .. }) {
            return Err(Report::error(
                span,
                format!("`{name}` is a label, whose address is not known while reading"),
            )
            .note("`.rept` and `.if` are decided while reading, before layout; use a constant"));
        }
        if let Some(&v) = self.known.borrow().get(&id) {
            return Ok(v);
        }
        if !self.shallow && !self.cache.borrow().contains_key(&id) {
            let done = |k: usize| {
                self.cache.borrow().contains_key(&k) || self.known.borrow().contains_key(&k)
            };
            for k in self.program.equ_order(id, &done) {
                if let SymKind::Equ { expr, .. } = &self.program.syms[k].kind {
                    let inner = EarlyEnv {
                        shallow: true,
                        ..*self
                    };
                    let v = expr.eval(&inner, in_cp);
                    self.cache.borrow_mut().insert(k, v);
                }
            }
        }
        match self.cache.borrow().get(&id) {
            Some(v) => v.clone(),
            None => Err(Report::error(
                span,
                format!("`{name}` is defined in terms of itself"),
            )),
        }
    }

    fn dot(&self, span: Span) -> Result<i64, Report> {
        Err(
            Report::error(span, "`.` (the current address) is not known while reading")
                .note("`.rept` and `.if` are decided before layout"),
        )
    }
}
