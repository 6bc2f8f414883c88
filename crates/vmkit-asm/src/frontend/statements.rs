//! Applying parsed statements to the program: labels and their scopes, constants, sections
//! and the segment each statement goes to, header settings and imports.

use super::Frontend;
use crate::ast::{
    display_name, ImportUse, OperandAst, Program, SegDecl, SegId, Setting, StmtKind, SymDef,
    SymKind,
};
use crate::expr::Expr;
use crate::lexer::{comment_start, Token};
use crate::parser::{self, qualify, reserved_word, ParseCtx, Parsed};
use crate::source::{Report, Span};
use vmkit_image::SegmentKind;
use vmkit_isa::Op;

impl Frontend {
    fn current_seg(&mut self, span: Span) -> SegId {
        if let Some(s) = self.current_seg {
            return s;
        }
        self.open_section(SegmentKind::Code, None, span)
    }

    fn open_section(&mut self, kind: SegmentKind, addr: Option<Expr>, span: Span) -> SegId {
        let key = kind as u8;
        let id = match (addr, self.last_seg_of_kind.get(&key)) {
            (None, Some(&id)) => id,
            (addr, _) => {
                self.program.segs.push(SegDecl {
                    kind,
                    addr,
                    perms: None,
                    span,
                });
                self.program.segs.len() - 1
            }
        };
        self.last_seg_of_kind.insert(key, id);
        self.current_seg = Some(id);
        id
    }

    /// Whether a name, as `written` and in `full`, may be defined here; reports why not.
    fn check_new_name(&mut self, written: &str, full: &str, span: Span) -> bool {
        if written.starts_with('.') && self.scope.is_empty() {
            self.error(
                Report::error(span, format!("local label `{written}` has no global label before it"))
                    .hint("local labels (with a leading dot) belong to the last label without one; define one first"),
            );
            return false;
        }
        if let Some(what) = reserved_word(written) {
            self.error(Report::error(
                span,
                format!("`{written}` is {what} and cannot be a symbol name"),
            ));
            return false;
        }
        if let Some(old) = self.program.symbol(full) {
            let shown = display_name(full);
            let note = format!(
                "`{shown}` was first defined at {}",
                self.sources.describe(old.span)
            );
            self.error(Report::error(span, format!("`{shown}` is already defined")).note(note));
            return false;
        }
        true
    }

    pub(super) fn define_label(&mut self, tok: &Token, line: u32) {
        let span = Span {
            line,
            start: tok.start,
            end: tok.end,
        };
        let written = tok.ident().unwrap_or_default().to_string();
        let full = qualify(&self.scope, &written);
        let is_global = !written.starts_with('.') && !written.starts_with("%%");
        if is_global {
            // Even a duplicate opens its scope, so that its local labels are not reported
            // as duplicates of the first one's too.
            self.scope = written.clone();
        }
        if !self.check_new_name(&written, &full, span) {
            return;
        }
        let seg = self.current_seg(span);
        let stmt = self.program.push_stmt(StmtKind::Label, seg);
        self.add_symbol(full, SymKind::Label { stmt }, span);
    }

    fn add_symbol(&mut self, name: String, kind: SymKind, span: Span) {
        let id = self.program.syms.len();
        self.program.sym_index.insert(name.clone(), id);
        self.program.syms.push(SymDef {
            name,
            kind,
            span,
            used: false,
        });
    }

    pub(super) fn parse_and_apply(&mut self, line: u32, text: &str, toks: &[Token]) {
        let macros = &self.macros;
        let names = || macros.keys().cloned().collect::<Vec<String>>();
        let ctx = ParseCtx {
            line,
            text,
            scope: &self.scope,
            macro_names: &names,
            suggest: &self.suggester,
        };
        let Some(first) = toks.first() else {
            return;
        };
        let parsed = parser::parse_statement(&ctx, toks);
        let code_end = text[..comment_start(text)].trim_end().len() as u32;
        let span = Span {
            line,
            start: first.start,
            end: code_end.max(first.end),
        };
        match parsed {
            Ok(p) => self.apply(p, span),
            Err(r) => self.error(r),
        }
    }

    fn set_once(
        &mut self,
        which: &str,
        slot: fn(&mut Program) -> &mut Option<Setting>,
        expr: Expr,
        span: Span,
    ) {
        if let Some(old) = slot(&mut self.program) {
            let note = format!("it was first set at {}", self.sources.describe(old.span));
            self.error(Report::error(span, format!("`{which}` is given twice")).note(note));
            return;
        }
        *slot(&mut self.program) = Some(Setting { expr, span });
    }

    fn apply(&mut self, parsed: Parsed, span: Span) {
        match parsed {
            Parsed::Stmt(kind) => {
                let seg = self.current_seg(span);
                let in_bss = self
                    .program
                    .segs
                    .get(seg)
                    .is_some_and(|s| s.kind == SegmentKind::Bss);
                if in_bss && !matches!(kind, StmtKind::Space(_) | StmtKind::Align(_)) {
                    let what = if matches!(kind, StmtKind::Instr(_)) {
                        "an instruction"
                    } else {
                        "initialised data"
                    };
                    self.error(
                        Report::error(span, format!("{what} cannot go in a `.bss` section"))
                            .hint("`.bss` only reserves zeroed memory: use `.space n`, or switch to `.data`"),
                    );
                    return;
                }
                let hcall_name = match &kind {
                    StmtKind::Instr(i) if i.op == Op::Hcall => {
                        i.operands.first().and_then(|o| match o {
                            OperandAst::Imm { expr, .. } => expr
                                .as_symbol()
                                .filter(|n| !n.contains('.') && !n.starts_with("%%"))
                                .map(|n| (n.to_string(), expr.span)),
                            _ => None,
                        })
                    }
                    _ => None,
                };
                let stmt = self.program.push_stmt(kind, seg);
                if let Some((name, span)) = hcall_name {
                    self.program.imports.push(ImportUse {
                        name,
                        span,
                        stmt: Some(stmt),
                    });
                }
            }
            Parsed::Equ {
                name,
                name_span,
                expr,
            } => {
                let written = self.sources.snippet(name_span).to_string();
                if !self.check_new_name(&written, &name, name_span) {
                    return;
                }
                let seg = self.current_seg(span);
                let stmt = self.program.push_stmt(StmtKind::Equ, seg);
                self.add_symbol(name, SymKind::Equ { expr, stmt }, name_span);
            }
            Parsed::Section { kind, addr } => {
                self.open_section(kind, addr, span);
            }
            Parsed::Perms(perms) => {
                let seg = self.current_seg(span);
                if let Some(decl) = self.program.segs.get(seg) {
                    if let Some((old, old_span)) = decl.perms {
                        if old != perms {
                            let note = format!(
                                "they were set to `{old}` at {}",
                                self.sources.describe(old_span)
                            );
                            self.error(
                                Report::error(span, "conflicting `.perms` for the same section")
                                    .note(note),
                            );
                            return;
                        }
                    }
                }
                if let Some(decl) = self.program.segs.get_mut(seg) {
                    decl.perms = Some((perms, span));
                }
            }
            Parsed::Entry(e) => self.set_once(".entry", |p| &mut p.entry, e, span),
            Parsed::Stack(e) => self.set_once(".stack", |p| &mut p.stack, e, span),
            Parsed::Memory(e) => self.set_once(".memory", |p| &mut p.memory, e, span),
            Parsed::Wx => self.program.wx = true,
            Parsed::Import(name, span) => self.program.imports.push(ImportUse {
                name,
                span,
                stmt: None,
            }),
        }
    }
}
