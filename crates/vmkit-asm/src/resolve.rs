//! Names, once the whole source is read: host-function imports, undefined symbols (with
//! suggestions), circular constants, and labels nobody uses.
//!
//! After this pass every symbol an expression mentions exists, so layout can evaluate
//! without reporting the same missing name on every pass.

use crate::ast::{display_name, OperandAst, Program, StmtId, StmtKind, SymKind};
use crate::diag::{shorten, Suggester, MAX_QUOTED};
use crate::expr::Expr;
use crate::source::{Report, Reports, SourceMap, Span};
use std::collections::{HashMap, HashSet};
use vmkit_isa::{syscall, Op};

/// Resolves names; returns the import table in index order.
pub(crate) fn resolve(
    program: &mut Program,
    sources: &SourceMap,
    suggester: &Suggester,
    reports: &mut Reports,
) -> Vec<String> {
    let imports = resolve_imports(program, reports);
    check_references(program, sources, suggester, reports);
    check_cycles(program, reports);
    mark_default_entry(program);
    // After an error, a label may look unused only because the line that used it failed.
    if !reports.has_errors() {
        warn_unused(program, reports);
    }
    imports
}

/// Import indices follow the order in which names first appear, in `.import` or as `hcall
/// NAME`. A `hcall` operand that names a constant or label is a number instead, unless the
/// name is also declared with `.import`.
fn resolve_imports(program: &mut Program, reports: &mut Reports) -> Vec<String> {
    let declared: HashSet<String> = program
        .imports
        .iter()
        .filter(|u| u.stmt.is_none())
        .map(|u| u.name.clone())
        .collect();
    let mut table: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let uses = std::mem::take(&mut program.imports);
    for u in &uses {
        let is_import =
            u.stmt.is_none() || declared.contains(&u.name) || program.symbol(&u.name).is_none();
        if !is_import {
            continue;
        }
        let i = *index.entry(u.name.clone()).or_insert_with(|| {
            table.push(u.name.clone());
            table.len() - 1
        });
        if i > u16::MAX as usize {
            reports.push(Report::error(
                u.span,
                "more than 65536 host functions are imported",
            ));
            continue;
        }
        if let Some(stmt) = u.stmt {
            if let Some(StmtKind::Instr(instr)) = program.stmts.get_mut(stmt).map(|s| &mut s.kind) {
                if let Some(OperandAst::Imm { expr, .. }) = instr.operands.first_mut() {
                    *expr = Expr::num(i as i64, expr.span);
                }
            }
        }
    }
    program.imports = uses;
    table
}

/// Every expression in the program, with the statement it belongs to (if any).
fn for_each_expr(program: &Program, f: &mut dyn FnMut(&Expr, Option<StmtId>, bool)) {
    for (i, stmt) in program.stmts.iter().enumerate() {
        match &stmt.kind {
            StmtKind::Label | StmtKind::Equ | StmtKind::Bytes(_) => {}
            StmtKind::Instr(instr) => {
                let is_sys = instr.op == Op::Sys;
                for o in &instr.operands {
                    for e in o.exprs() {
                        f(e, Some(i), is_sys);
                    }
                }
            }
            StmtKind::Data { items, .. } => {
                for item in items {
                    if let crate::ast::DataItem::Value(e) = item {
                        f(e, Some(i), false);
                    }
                }
            }
            StmtKind::F64(items) => {
                for item in items {
                    if let crate::ast::F64Item::Int(e) = item {
                        f(e, Some(i), false);
                    }
                }
            }
            StmtKind::Fill { count, value, .. } => {
                f(count, Some(i), false);
                f(value, Some(i), false);
            }
            StmtKind::Space(e) | StmtKind::Align(e) => f(e, Some(i), false),
        }
    }
    for sym in &program.syms {
        if let SymKind::Equ { expr, .. } = &sym.kind {
            f(expr, None, false);
        }
    }
    for seg in &program.segs {
        if let Some(e) = &seg.addr {
            f(e, None, false);
        }
    }
    for setting in [&program.entry, &program.stack, &program.memory]
        .into_iter()
        .flatten()
    {
        f(&setting.expr, None, false);
    }
}

fn check_references(
    program: &mut Program,
    sources: &SourceMap,
    suggester: &Suggester,
    reports: &mut Reports,
) {
    let mut used: Vec<usize> = Vec::new();
    let mut missing: Vec<(String, Span, Option<StmtId>, bool)> = Vec::new();
    for_each_expr(program, &mut |e, stmt, is_sys| {
        e.visit_symbols(&mut |name, span| match program.sym_index.get(name) {
            Some(&id) => used.push(id),
            None => missing.push((name.to_string(), span, stmt, is_sys)),
        });
    });
    for id in used {
        if let Some(s) = program.syms.get_mut(id) {
            s.used = true;
        }
    }
    let mut suggestions: HashMap<(String, String, bool), Option<String>> = HashMap::new();
    for (name, span, stmt, is_sys) in missing {
        if let Some(i) = stmt {
            if let Some(p) = program.poisoned.get_mut(i) {
                *p = true;
            }
        }
        let written = display_name(sources.snippet(span)).to_string();
        // A `.rept` can repeat one missing name many times; suggest once per spelling.
        let key = (name.clone(), written.clone(), is_sys);
        let suggestion = match suggestions.get(&key) {
            Some(s) => s.clone(),
            None => {
                let found = suggest(program, suggester, &name, &written, is_sys);
                // `None`: out of time for suggestions; not an answer to remember.
                if let Some(s) = &found {
                    suggestions.insert(key, s.clone());
                }
                found.flatten()
            }
        };
        let mut report = Report::error(
            span,
            format!("undefined symbol `{}`", shorten(&written, MAX_QUOTED)),
        )
        .maybe_hint(suggestion.map(|s| format!("did you mean `{s}`?")));
        if written.starts_with('.') && written != name {
            report = report.note(format!(
                "`{written}` is a local label; here it means `{name}`"
            ));
        }
        let lower = written.to_ascii_lowercase();
        if lower.len() > 1
            && lower.starts_with('r')
            && lower[1..].bytes().all(|b| b.is_ascii_digit())
        {
            report = report.note("registers are r0..r15 and sp");
        }
        if is_sys {
            let names: Vec<&str> = syscall::ALL.iter().map(|(_, n, _)| *n).collect();
            report = report.note(format!("system calls are {}", names.join(", ")));
        }
        reports.push(report);
    }
}

/// A defined name close to the missing one, spelled the way the user would write it here;
/// as [`Suggester::search`] answers.
fn suggest(
    program: &Program,
    suggester: &Suggester,
    full: &str,
    written: &str,
    is_sys: bool,
) -> Option<Option<String>> {
    let scope = full
        .strip_suffix(written)
        .filter(|_| written.starts_with('.'));
    suggester.search(written, || candidates(program, scope, is_sys))
}

/// Every name "did you mean" may offer for a missing one; local labels of `scope` as
/// they would be written there.
fn candidates(program: &Program, scope: Option<&str>, is_sys: bool) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    for sym in &program.syms {
        if sym.is_macro_local() {
            continue;
        }
        match scope {
            Some(scope) => match sym.name.strip_prefix(scope) {
                Some(local) if local.starts_with('.') => candidates.push(local.to_string()),
                _ => candidates.push(sym.name.clone()),
            },
            None => candidates.push(sym.name.clone()),
        }
    }
    if is_sys {
        candidates.extend(syscall::ALL.iter().map(|(_, n, _)| n.to_string()));
    }
    candidates
}

/// Reports `.equ` definitions that depend on themselves, once per cycle.
fn check_cycles(program: &Program, reports: &mut Reports) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let deps: Vec<Vec<usize>> = program
        .syms
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            if let SymKind::Equ { expr, .. } = &s.kind {
                expr.visit_symbols(&mut |name, _| {
                    if let Some(&id) = program.sym_index.get(name) {
                        if matches!(program.syms[id].kind, SymKind::Equ { .. }) {
                            out.push(id);
                        }
                    }
                });
            }
            out
        })
        .collect();
    let mut mark = vec![Mark::New; program.syms.len()];
    // Iterative depth-first search: a chain of a hundred thousand constants must not
    // overflow the stack.
    for root in 0..program.syms.len() {
        if mark[root] != Mark::New || deps[root].is_empty() {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Active;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&dep) = deps[node].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::Active;
                        path.push((dep, 0));
                    }
                    Mark::Active => {
                        let start = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut names: Vec<&str> = path[start..]
                            .iter()
                            .map(|(n, _)| program.syms[*n].name.as_str())
                            .collect();
                        names.push(&program.syms[dep].name);
                        let sym = &program.syms[dep];
                        reports.push(
                            Report::error(
                                sym.span,
                                format!("`{}` is defined in terms of itself", sym.name),
                            )
                            .note(format!("the cycle is {}", names.join(" -> "))),
                        );
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
}

/// The default entry point counts as a use of its label.
fn mark_default_entry(program: &mut Program) {
    if program.entry.is_some() {
        return;
    }
    for name in ["main", "start"] {
        if let Some(&id) = program.sym_index.get(name) {
            if matches!(program.syms[id].kind, SymKind::Label { .. }) {
                program.syms[id].used = true;
                return;
            }
        }
    }
}

fn warn_unused(program: &Program, reports: &mut Reports) {
    for sym in &program.syms {
        let is_label = matches!(sym.kind, SymKind::Label { .. });
        if !is_label
            || sym.used
            || sym.is_macro_local()
            || sym.name.contains('.')
            || sym.name.starts_with('_')
        {
            continue;
        }
        reports.push(
            Report::warning(sym.span, format!("label `{}` is never used", sym.name)).hint(format!(
                "if this is intentional, prefix it with an underscore: `_{}`",
                sym.name
            )),
        );
    }
}
