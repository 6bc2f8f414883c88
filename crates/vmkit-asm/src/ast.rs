//! The program as the front end hands it to name resolution and layout.
//!
//! Statements are kept in source order, each tagged with the segment it belongs to; a label
//! is a statement too, so its address is simply the address of its position. Nothing here
//! has an address yet: that is [`crate::layout`]'s job.

use crate::expr::Expr;
use crate::source::Span;
use std::collections::HashMap;
use vmkit_image::{Perms, SegmentKind};
use vmkit_isa::{Cond, ImmWidth, Op, Reg, Size};

pub(crate) type StmtId = usize;
pub(crate) type SegId = usize;
pub(crate) type SymId = usize;

/// One statement in a segment.
#[derive(Debug)]
pub(crate) struct Stmt {
    pub kind: StmtKind,
    pub seg: SegId,
}

#[derive(Debug)]
pub(crate) enum StmtKind {
    /// Defines a label at this position (the symbol points here).
    Label,
    /// Marks where an `.equ` was written, which is what `.` means inside it.
    Equ,
    Instr(Box<InstrStmt>),
    /// `.byte` / `.word` / `.dword` / `.qword`.
    Data {
        width: u8,
        items: Vec<DataItem>,
    },
    /// `.ascii` / `.asciz`.
    Bytes(Vec<u8>),
    F64(Vec<F64Item>),
    Fill {
        count: Expr,
        value: Expr,
        width: u8,
    },
    Space(Expr),
    Align(Expr),
}

#[derive(Debug)]
pub(crate) enum DataItem {
    Value(Expr),
    /// A string in a `.byte` list.
    Bytes(Vec<u8>),
}

#[derive(Debug)]
pub(crate) enum F64Item {
    Literal(f64),
    /// An integer expression, converted to a double.
    Int(Expr),
}

/// An instruction whose operation is chosen and whose operand kinds have been checked
/// against the ISA table's slots; only values are still unknown.
#[derive(Debug)]
pub(crate) struct InstrStmt {
    pub op: Op,
    pub size: Size,
    pub cond: Option<Cond>,
    /// The written operands, in slot order after the condition slot.
    pub operands: Vec<OperandAst>,
}

#[derive(Debug)]
pub(crate) enum OperandAst {
    Reg(Reg, Span),
    /// An immediate, branch target or number (`sys`, `hcall`); `width` is a written
    /// `byte`/`dword`/`qword`.
    Imm {
        expr: Expr,
        width: Option<ImmWidth>,
        span: Span,
    },
    Mem {
        depth: u8,
        addr: MemAst,
        span: Span,
    },
}

impl OperandAst {
    pub fn span(&self) -> Span {
        match self {
            OperandAst::Reg(_, s) => *s,
            OperandAst::Imm { span, .. } | OperandAst::Mem { span, .. } => *span,
        }
    }

    /// The expressions inside the operand.
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            OperandAst::Reg(..) => vec![],
            OperandAst::Imm { expr, .. } => vec![expr],
            OperandAst::Mem { addr, .. } => match addr {
                MemAst::Abs(e) => vec![e],
                MemAst::Const(e)
                | MemAst::Based { disp: e, .. }
                | MemAst::Indexed { disp: e, .. } => e.iter().collect(),
            },
        }
    }
}

/// A memory operand's address, as written.
#[derive(Debug)]
pub(crate) enum MemAst {
    /// `[expr]`.
    Abs(Expr),
    /// `[cp + expr]`.
    Const(Option<Expr>),
    /// `[r]`, `[r + expr]`; `force` for `[r + dword expr]`, which never shrinks to `[r]`.
    Based {
        base: Reg,
        disp: Option<Expr>,
        force: bool,
    },
    /// `[base + index*scale + expr]`.
    Indexed {
        base: Option<Reg>,
        index: Reg,
        scale_log2: u8,
        disp: Option<Expr>,
    },
}

/// A segment as declared by section directives.
#[derive(Debug)]
pub(crate) struct SegDecl {
    pub kind: SegmentKind,
    /// `None`: placed automatically.
    pub addr: Option<Expr>,
    pub perms: Option<(Perms, Span)>,
    /// The directive that opened it (or the first statement, for the implicit `.text`).
    pub span: Span,
}

#[derive(Debug)]
pub(crate) enum SymKind {
    Label { stmt: StmtId },
    Equ { expr: Expr, stmt: StmtId },
}

#[derive(Debug)]
pub(crate) struct SymDef {
    pub name: String,
    pub kind: SymKind,
    /// Where the name is defined.
    pub span: Span,
    /// Mentioned by some expression.
    pub used: bool,
}

impl SymDef {
    /// Macro-local labels (`%%name`) are private to one expansion: no scope, no symbol table
    /// entry, no unused warning.
    pub fn is_macro_local(&self) -> bool {
        self.name.starts_with("%%")
    }
}

/// A symbol name as the user wrote it: expanded macro-local labels (`%%loop@3`) lose the
/// expansion number that makes them unique.
pub(crate) fn display_name(name: &str) -> &str {
    match name.rsplit_once('@') {
        Some((base, n)) if name.starts_with("%%") && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// A host-function name, from `.import` or a `hcall NAME` operand, in source order.
#[derive(Debug)]
pub(crate) struct ImportUse {
    pub name: String,
    pub span: Span,
    /// `hcall` statement whose operand this is (`None` for `.import`).
    pub stmt: Option<StmtId>,
}

/// A header setting (`.entry`, `.stack`, `.memory`) and where it was written.
#[derive(Debug)]
pub(crate) struct Setting {
    pub expr: Expr,
    pub span: Span,
}

/// Everything the front end collected.
#[derive(Debug, Default)]
pub(crate) struct Program {
    pub stmts: Vec<Stmt>,
    pub segs: Vec<SegDecl>,
    pub syms: Vec<SymDef>,
    pub sym_index: HashMap<String, SymId>,
    pub entry: Option<Setting>,
    pub stack: Option<Setting>,
    pub memory: Option<Setting>,
    pub wx: bool,
    pub imports: Vec<ImportUse>,
    /// Statements that already produced an error; layout skips their range checks so that one
    /// mistake is reported once.
    pub poisoned: Vec<bool>,
}

impl Program {
    pub fn symbol(&self, name: &str) -> Option<&SymDef> {
        self.sym_index.get(name).and_then(|&i| self.syms.get(i))
    }

    pub fn push_stmt(&mut self, kind: StmtKind, seg: SegId) -> StmtId {
        self.stmts.push(Stmt { kind, seg });
        self.poisoned.push(false);
        self.stmts.len() - 1
    }

    /// The `.equ` constants that `root` needs, `root` last, each after the constants its
    /// expression mentions. Constants for which `known` holds are left out, and so is the
    /// edge that closes a cycle. Iterative, so that a chain of a hundred thousand constants
    /// is as fine as a short one.
    pub fn equ_order(&self, root: SymId, known: &dyn Fn(SymId) -> bool) -> Vec<SymId> {
        let mut order = Vec::new();
        let mut on_path = std::collections::HashSet::new();
        let mut placed = std::collections::HashSet::new();
        let mut stack = vec![(root, false)];
        while let Some((id, children_done)) = stack.pop() {
            if placed.contains(&id) || known(id) {
                continue;
            }
            if children_done {
                on_path.remove(&id);
                placed.insert(id);
                order.push(id);
                continue;
            }
            let Some(SymKind::Equ { expr, .. }) = self.syms.get(id).map(|s| &s.kind) else {
                continue;
            };
            if !on_path.insert(id) {
                continue;
            }
            stack.push((id, true));
            expr.visit_symbols(&mut |name, _| {
                if let Some(&dep) = self.sym_index.get(name) {
                    let is_equ = matches!(self.syms[dep].kind, SymKind::Equ { .. });
                    if is_equ && !on_path.contains(&dep) && !placed.contains(&dep) && !known(dep) {
                        stack.push((dep, false));
                    }
                }
            });
        }
        order
    }

    /// The segment a label's statement lies in.
    pub fn label_seg(&self, sym: &SymDef) -> Option<&SegDecl> {
        match sym.kind {
            SymKind::Label { stmt } => self.stmts.get(stmt).and_then(|s| self.segs.get(s.seg)),
            SymKind::Equ { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Expr, ExprKind};

    fn span() -> Span {
        Span {
            line: 0,
            start: 0,
            end: 0,
        }
    }

    fn sym_expr(name: &str) -> Expr {
        Expr {
            kind: ExprKind::Sym(name.into()),
            span: span(),
        }
    }

    fn add_equ(p: &mut Program, name: &str, expr: Expr) {
        p.sym_index.insert(name.into(), p.syms.len());
        p.syms.push(SymDef {
            name: name.into(),
            kind: SymKind::Equ { expr, stmt: 0 },
            span: span(),
            used: false,
        });
    }

    #[test]
    fn constants_are_ordered_dependencies_first() {
        let mut p = Program::default();
        add_equ(&mut p, "a", sym_expr("b"));
        add_equ(&mut p, "b", sym_expr("c"));
        add_equ(&mut p, "c", Expr::num(1, span()));
        assert_eq!(p.equ_order(0, &|_| false), vec![2, 1, 0]);
        assert_eq!(
            p.equ_order(0, &|k| k == 1),
            vec![0],
            "known constants are skipped"
        );
    }

    #[test]
    fn cycles_are_cut() {
        let mut p = Program::default();
        add_equ(&mut p, "a", sym_expr("b"));
        add_equ(&mut p, "b", sym_expr("a"));
        assert_eq!(p.equ_order(0, &|_| false), vec![1, 0]);
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let mut p = Program::default();
        for k in 0..100_000 {
            add_equ(&mut p, &format!("c{k}"), sym_expr(&format!("c{}", k + 1)));
        }
        assert_eq!(p.equ_order(0, &|_| false).len(), 100_000);
    }

    #[test]
    fn macro_local_names_are_shown_as_written() {
        assert_eq!(display_name("%%loop@12"), "%%loop");
        assert_eq!(display_name("%%a@b"), "%%a@b");
        assert_eq!(display_name("main.loop"), "main.loop");
    }
}
