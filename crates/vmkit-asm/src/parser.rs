//! The statement grammar: labels, instructions with their operands, and the directives that
//! produce bytes or set up sections and the image header.
//!
//! The parser turns one line's tokens into a [`Parsed`] value. It checks everything that can
//! be checked without knowing addresses: that the mnemonic exists, that there are as many
//! operands as the instruction has slots, and that each operand has a kind the slot accepts.
//! Block directives (`.macro`, `.rept`, `.if`, `.include`) and macro invocations never reach
//! it; the front end handles those.

use crate::ast::{DataItem, F64Item, InstrStmt, MemAst, OperandAst, StmtKind};
use crate::diag::{shorten, Suggester, MAX_QUOTED};
use crate::expr::{describe_token, parse_expr, BinOp, Cursor, Expr, ExprKind, UnOp};
use crate::lexer::{Punct, Tok, Token};
use crate::mnemonic::{self, MnemonicError};
use crate::source::{Report, Span};
use vmkit_image::{Perms, SegmentKind};
use vmkit_isa::{syscall, ImmWidth, Mem, Op, Reg, Slot};

/// Directives the front end handles itself (blocks, conditionals, includes).
pub(crate) const BLOCK_DIRECTIVES: &[&str] = &[
    ".macro", ".endm", ".rept", ".irp", ".endr", ".if", ".ifdef", ".ifndef", ".ifb", ".ifnb",
    ".elif", ".else", ".endif", ".include",
];

/// Directives handled here.
pub(crate) const DIRECTIVES: &[&str] = &[
    ".text", ".data", ".const", ".rodata", ".bss", ".section", ".byte", ".word", ".dword",
    ".qword", ".ascii", ".asciz", ".string", ".f64", ".fill", ".space", ".align", ".equ", ".entry",
    ".stack", ".memory", ".wx", ".import", ".perms",
];

/// Names that cannot be labels or constants because operands would read them differently.
pub(crate) fn reserved_word(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if Reg::parse(name).is_some() {
        Some("a register")
    } else if lower == "cp" {
        Some("the constant-pool base in `[cp + offset]`")
    } else if matches!(lower.as_str(), "byte" | "dword" | "qword") {
        Some("an immediate width")
    } else {
        None
    }
}

/// The full name of a written symbol: local labels (`.loop`) belong to the last global label.
pub(crate) fn qualify(scope: &str, name: &str) -> String {
    if name.starts_with('.') && !scope.is_empty() {
        format!("{scope}{name}")
    } else {
        name.to_string()
    }
}

/// What one statement does.
#[derive(Debug)]
pub(crate) enum Parsed {
    Stmt(StmtKind),
    Equ {
        name: String,
        name_span: Span,
        expr: Expr,
    },
    Section {
        kind: SegmentKind,
        addr: Option<Expr>,
    },
    Perms(Perms),
    Entry(Expr),
    Stack(Expr),
    Memory(Expr),
    Wx,
    Import(String, Span),
}

/// What the parser needs to know about its surroundings.
pub(crate) struct ParseCtx<'a> {
    pub line: u32,
    pub text: &'a str,
    /// The current global label, for local labels.
    pub scope: &'a str,
    /// Names of defined macros, for "did you mean".
    pub macro_names: &'a dyn Fn() -> Vec<String>,
    /// "Did you mean", with its cache and its limit on work.
    pub suggest: &'a Suggester,
}

impl ParseCtx<'_> {
    fn qualify(&self) -> impl Fn(&str) -> String + '_ {
        move |name: &str| qualify(self.scope, name)
    }

    /// Byte offset where the line's code ends (before the comment and trailing blanks).
    fn code_end(&self) -> usize {
        let end = crate::lexer::comment_start(self.text).min(self.text.len());
        self.text[..end].trim_end().len()
    }

    fn cursor<'t>(&self, toks: &'t [Token]) -> Cursor<'t> {
        Cursor::new(toks, self.line, self.code_end() as u32)
    }
}

/// Splits leading `name:` labels off a line's tokens.
pub(crate) fn split_labels(toks: &[Token]) -> (Vec<&Token>, &[Token]) {
    let mut labels = Vec::new();
    let mut i = 0;
    while i + 1 < toks.len() && toks[i].ident().is_some() && toks[i + 1].is(Punct::Colon) {
        labels.push(&toks[i]);
        i += 2;
    }
    (labels, &toks[i..])
}

/// Parses one statement (labels already removed; `toks` is not empty).
pub(crate) fn parse_statement(ctx: &ParseCtx<'_>, toks: &[Token]) -> Result<Parsed, Report> {
    let mut cur = ctx.cursor(toks);
    let Some(head) = cur.next() else {
        return Err(cur.unexpected("a statement"));
    };
    let head_span = cur.span_of(head);
    let Tok::Ident(word) = &head.tok else {
        return Err(Report::error(
            head_span,
            format!(
                "expected an instruction, directive or label, found {}",
                describe_token(&head.tok)
            ),
        ));
    };
    if cur.eat(Punct::Assign) {
        let expr = parse_expr(&mut cur, &ctx.qualify())?;
        end_of_line(&cur)?;
        return Ok(Parsed::Equ {
            name: qualify(ctx.scope, word),
            name_span: head_span,
            expr,
        });
    }
    if word.starts_with('.') {
        return parse_directive(ctx, &mut cur, word, head_span);
    }
    let instr = parse_instruction(ctx, &mut cur, word, head_span)?;
    Ok(Parsed::Stmt(StmtKind::Instr(Box::new(instr))))
}

fn end_of_line(cur: &Cursor<'_>) -> Result<(), Report> {
    if cur.at_end() {
        Ok(())
    } else {
        Err(cur.unexpected("end of line"))
    }
}

fn comma_list<T>(
    cur: &mut Cursor<'_>,
    mut item: impl FnMut(&mut Cursor<'_>) -> Result<T, Report>,
) -> Result<Vec<T>, Report> {
    let mut out = vec![item(cur)?];
    while cur.eat(Punct::Comma) {
        out.push(item(cur)?);
    }
    if !cur.at_end() {
        return Err(cur.unexpected("`,` or end of line"));
    }
    Ok(out)
}

fn single_expr(ctx: &ParseCtx<'_>, cur: &mut Cursor<'_>) -> Result<Expr, Report> {
    let e = parse_expr(cur, &ctx.qualify())?;
    end_of_line(cur)?;
    Ok(e)
}

fn section_kind(name: &str) -> Option<SegmentKind> {
    Some(
        match name.trim_start_matches('.').to_ascii_lowercase().as_str() {
            "text" | "code" => SegmentKind::Code,
            "data" => SegmentKind::Data,
            "const" | "rodata" => SegmentKind::Const,
            "bss" => SegmentKind::Bss,
            _ => return None,
        },
    )
}

fn string_arg(cur: &mut Cursor<'_>) -> Result<Vec<u8>, Report> {
    match cur.peek() {
        Some(Token {
            tok: Tok::Str(s), ..
        }) => {
            cur.next();
            Ok(s.clone())
        }
        _ => Err(cur.unexpected("a string in double quotes")),
    }
}

fn parse_directive(
    ctx: &ParseCtx<'_>,
    cur: &mut Cursor<'_>,
    word: &str,
    head_span: Span,
) -> Result<Parsed, Report> {
    let name = word.to_ascii_lowercase();
    let q = ctx.qualify();
    let no_args = |cur: &Cursor<'_>| end_of_line(cur);
    Ok(match name.as_str() {
        ".text" | ".data" | ".const" | ".rodata" | ".bss" | ".section" => {
            let kind = if name == ".section" {
                let Some(Tok::Ident(sec)) = cur.peek().map(|t| &t.tok) else {
                    return Err(cur.unexpected("a section name (text, data, const or bss)"));
                };
                let kind = section_kind(sec).ok_or_else(|| {
                    Report::error(cur.here(), format!("unknown section `{sec}`"))
                        .hint("sections are text, data, const (alias rodata) and bss")
                })?;
                cur.next();
                cur.eat(Punct::Comma);
                kind
            } else {
                section_kind(&name).unwrap_or(SegmentKind::Code)
            };
            let addr = if cur.at_end() {
                None
            } else {
                Some(single_expr(ctx, cur)?)
            };
            Parsed::Section { kind, addr }
        }
        ".byte" | ".word" | ".dword" | ".qword" => {
            let width = match name.as_str() {
                ".byte" => 1,
                ".word" => 2,
                ".dword" => 4,
                _ => 8,
            };
            let items = comma_list(cur, |cur| match cur.peek() {
                Some(Token {
                    tok: Tok::Str(s), ..
                }) if width == 1 => {
                    cur.next();
                    Ok(DataItem::Bytes(s.clone()))
                }
                _ => Ok(DataItem::Value(parse_expr(cur, &q)?)),
            })?;
            Parsed::Stmt(StmtKind::Data { width, items })
        }
        ".ascii" | ".asciz" | ".string" => {
            let parts = comma_list(cur, string_arg)?;
            let mut bytes = Vec::new();
            for p in parts {
                bytes.extend_from_slice(&p);
                if name != ".ascii" {
                    bytes.push(0);
                }
            }
            Parsed::Stmt(StmtKind::Bytes(bytes))
        }
        ".f64" => Parsed::Stmt(StmtKind::F64(comma_list(cur, |cur| f64_item(cur, &q))?)),
        ".fill" => {
            let count = parse_expr(cur, &q)?;
            cur.expect(Punct::Comma, "between the count and the value")?;
            let value = parse_expr(cur, &q)?;
            let width = if cur.eat(Punct::Comma) {
                let at = cur.here();
                match cur.next().map(|t| &t.tok) {
                    Some(Tok::Num(w @ (1 | 2 | 4 | 8))) => *w as u8,
                    _ => {
                        return Err(Report::error(
                            at,
                            "the width of `.fill` must be 1, 2, 4 or 8 (bytes)",
                        ))
                    }
                }
            } else {
                1
            };
            end_of_line(cur)?;
            Parsed::Stmt(StmtKind::Fill {
                count,
                value,
                width,
            })
        }
        ".space" => Parsed::Stmt(StmtKind::Space(single_expr(ctx, cur)?)),
        ".align" => Parsed::Stmt(StmtKind::Align(single_expr(ctx, cur)?)),
        ".equ" => {
            let Some(Token {
                tok: Tok::Ident(n), ..
            }) = cur.peek()
            else {
                return Err(cur.unexpected("a name"));
            };
            let name_span = cur.here();
            cur.next();
            cur.expect(Punct::Comma, "between the name and the value")?;
            Parsed::Equ {
                name: qualify(ctx.scope, n),
                name_span,
                expr: single_expr(ctx, cur)?,
            }
        }
        ".entry" => Parsed::Entry(single_expr(ctx, cur)?),
        ".stack" => Parsed::Stack(single_expr(ctx, cur)?),
        ".memory" => Parsed::Memory(single_expr(ctx, cur)?),
        ".wx" => {
            no_args(cur)?;
            Parsed::Wx
        }
        ".import" => {
            let span = cur.here();
            let name = match cur.next().map(|t| &t.tok) {
                Some(Tok::Ident(n)) if !n.starts_with('.') => n.clone(),
                Some(Tok::Str(s)) if !s.is_empty() => String::from_utf8_lossy(s).into_owned(),
                _ => return Err(Report::error(span, "expected the name of a host function")),
            };
            end_of_line(cur)?;
            Parsed::Import(name, span)
        }
        ".perms" => {
            // Read the raw text: `r-x` is three tokens to the lexer.
            let start = cur.here();
            let end = ctx.code_end();
            let text = ctx.text.get(start.start as usize..end).unwrap_or("").trim();
            let perms = parse_perms(text).ok_or_else(|| {
                let span = Span {
                    end: (end as u32).max(start.start),
                    ..start
                };
                Report::error(span, format!("invalid permissions `{text}`"))
                    .hint("write some of r, w, x, as in `.perms rwx` or `.perms r-x`, or `none`")
            })?;
            Parsed::Perms(perms)
        }
        _ => {
            let hint = ctx.suggest.suggest("directive", &name, || {
                let mut known: Vec<&str> = DIRECTIVES.to_vec();
                known.extend_from_slice(BLOCK_DIRECTIVES);
                known
            });
            return Err(Report::error(
                head_span,
                format!("unknown directive `{}`", shorten(word, MAX_QUOTED)),
            )
            .maybe_hint(hint.map(|s| format!("did you mean `{s}`?"))));
        }
    })
}

/// `rwx`, `r-x`, `rw`, `none`, in any case.
pub(crate) fn parse_perms(text: &str) -> Option<Perms> {
    let lower = text.to_ascii_lowercase();
    if lower == "none" {
        return Some(Perms(0));
    }
    let mut bits = 0u8;
    for c in lower.chars() {
        let bit = match c {
            'r' => Perms::READ,
            'w' => Perms::WRITE,
            'x' => Perms::EXEC,
            '-' => continue,
            _ => return None,
        };
        if bits & bit != 0 {
            return None;
        }
        bits |= bit;
    }
    (bits != 0).then_some(Perms(bits))
}

fn f64_item(cur: &mut Cursor<'_>, q: &dyn Fn(&str) -> String) -> Result<F64Item, Report> {
    // A literal is an optionally signed number or inf/nan standing alone before `,` or the end.
    let (neg, skip) = match cur.peek().map(|t| &t.tok) {
        Some(Tok::Punct(Punct::Minus)) => (true, 1),
        Some(Tok::Punct(Punct::Plus)) => (false, 1),
        _ => (false, 0),
    };
    let ends_after = |n: usize| cur.peek_at(n).is_none_or(|t| t.is(Punct::Comma));
    let literal = match cur.peek_at(skip).map(|t| &t.tok) {
        Some(Tok::Float(f)) if ends_after(skip + 1) => Some(*f),
        Some(Tok::Num(n)) if ends_after(skip + 1) => Some(*n as f64),
        Some(Tok::Ident(w)) if ends_after(skip + 1) => match w.to_ascii_lowercase().as_str() {
            "inf" | "infinity" => Some(f64::INFINITY),
            "nan" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    };
    match literal {
        Some(v) => {
            for _ in 0..=skip {
                cur.next();
            }
            Ok(F64Item::Literal(if neg { -v } else { v }))
        }
        None => Ok(F64Item::Int(parse_expr(cur, q)?)),
    }
}

fn parse_instruction(
    ctx: &ParseCtx<'_>,
    cur: &mut Cursor<'_>,
    word: &str,
    span: Span,
) -> Result<InstrStmt, Report> {
    let m = mnemonic::resolve(word).map_err(|e| mnemonic_error(ctx, word, span, e))?;
    let written = word.to_ascii_lowercase();
    let mut operands = if cur.at_end() {
        Vec::new()
    } else {
        comma_list(cur, |cur| parse_operand(ctx, cur))?
    };
    let op = choose_op(&m.ops, &operands);
    let slots: Vec<Slot> = op
        .info()
        .slots
        .iter()
        .copied()
        .filter(|s| *s != Slot::Cond)
        .collect();
    if operands.len() != slots.len() {
        let names: Vec<&str> = slots.iter().map(|s| s.name()).collect();
        let wanted = match slots.len() {
            0 => "no operands".to_string(),
            1 => format!("1 operand ({})", names.join(", ")),
            n => format!("{n} operands ({})", names.join(", ")),
        };
        let at = match (operands.first(), operands.last()) {
            (Some(a), Some(b)) => a.span().to(b.span()),
            _ => span,
        };
        let mut report = Report::error(
            at,
            format!("`{written}` takes {wanted}, found {}", operands.len()),
        );
        if !slots.is_empty() {
            let each: Vec<String> = slots
                .iter()
                .zip(&names)
                .map(|(s, n)| format!("{n} is {}", s.describe()))
                .collect();
            report = report.hint(each.join("; "));
        }
        return Err(report);
    }
    for (i, (slot, operand)) in slots.iter().zip(&operands).enumerate() {
        check_slot(&written, i, *slot, operand)?;
    }
    if op == Op::Sys {
        // `sys write`: system call names are fixed by the ISA, so they win over symbols.
        if let Some(OperandAst::Imm { expr, .. }) = operands.first_mut() {
            if let Some(n) = expr.as_symbol().and_then(syscall::by_name) {
                *expr = Expr::num(n as i64, expr.span);
            }
        }
    }
    Ok(InstrStmt {
        op,
        size: m.size,
        cond: m.cond,
        operands,
    })
}

fn mnemonic_error(ctx: &ParseCtx<'_>, word: &str, span: Span, e: MnemonicError) -> Report {
    match e {
        MnemonicError::Unknown => {
            let hint = ctx.suggest.suggest("mnemonic", word, || {
                let mut names = mnemonic::all().to_vec();
                names.extend((ctx.macro_names)());
                names
            });
            Report::error(
                span,
                format!("unknown mnemonic `{}`", shorten(word, MAX_QUOTED)),
            )
            .maybe_hint(hint.map(|s| format!("did you mean `{s}`?")))
        }
        MnemonicError::SuffixOnPlain { base, suffix } => Report::error(
            span,
            format!("`{base}` has no size variants, so it takes no `.{suffix}` suffix"),
        )
        .hint(format!("write `{base}`")),
        MnemonicError::BadSuffix { base, suffix } => {
            Report::error(span, format!("unknown size suffix `.{suffix}` on `{base}`"))
                .hint("sizes are .b (8 bits), .w (16), .d (32) and .q (64, the default)")
        }
    }
}

/// `jmp`/`call` have a direct form (a branch target) and an indirect one (a register,
/// memory operand or an immediate with a written width).
fn choose_op(ops: &[Op], operands: &[OperandAst]) -> Op {
    let direct = matches!(operands.first(), Some(OperandAst::Imm { width: None, .. }));
    ops.iter()
        .copied()
        .find(|op| {
            let rel = op.info().slots.first() == Some(&Slot::Rel);
            rel == direct
        })
        .or(ops.first().copied())
        .unwrap_or(Op::Nop)
}

fn describe_operand(op: &OperandAst) -> &'static str {
    match op {
        OperandAst::Reg(..) => "a register",
        OperandAst::Imm { width: Some(_), .. } => "an immediate with a width",
        OperandAst::Imm { .. } => "an immediate",
        OperandAst::Mem { .. } => "a memory operand",
    }
}

fn check_slot(
    mnemonic: &str,
    index: usize,
    slot: Slot,
    operand: &OperandAst,
) -> Result<(), Report> {
    let ok = matches!(
        (slot, operand),
        (Slot::Dst, OperandAst::Reg(..) | OperandAst::Mem { .. })
            | (Slot::Src, _)
            | (Slot::Mem, OperandAst::Mem { .. })
            | (
                Slot::Rel | Slot::U8 | Slot::U16,
                OperandAst::Imm { width: None, .. }
            )
    );
    if ok {
        return Ok(());
    }
    let mut report = Report::error(
        operand.span(),
        format!(
            "operand {} of `{mnemonic}` must be {}, found {}",
            index + 1,
            slot.describe(),
            describe_operand(operand)
        ),
    );
    report = match (slot, operand) {
        (Slot::Dst, OperandAst::Imm { .. }) => {
            report.hint("an immediate cannot be written to; use a register or memory operand")
        }
        (Slot::Rel, OperandAst::Imm { .. }) => {
            report.hint("a branch target is a label or address, without `byte`/`dword`/`qword`")
        }
        (Slot::Rel, _) => {
            report.hint("to jump to an address held in a register or memory, use `jmp` or `call`")
        }
        (Slot::Mem, _) => report.hint("write the address in brackets, as in `[r1 + 8]`"),
        (Slot::U8 | Slot::U16, OperandAst::Imm { .. }) => {
            report.hint("this number has a fixed size; remove the width")
        }
        _ => report,
    };
    Err(report)
}

fn parse_operand(ctx: &ParseCtx<'_>, cur: &mut Cursor<'_>) -> Result<OperandAst, Report> {
    let start = cur.here();
    let Some(tok) = cur.peek() else {
        return Err(cur.unexpected("an operand"));
    };
    match &tok.tok {
        Tok::Ident(name) => {
            let followed = cur.peek_at(1).is_some_and(|t| !t.is(Punct::Comma));
            if let Some(reg) = Reg::parse(name) {
                cur.next();
                return Ok(OperandAst::Reg(reg, start));
            }
            if let Some(width) = width_keyword(name).filter(|_| followed) {
                cur.next();
                let expr = parse_expr(cur, &ctx.qualify())?;
                return Ok(OperandAst::Imm {
                    expr,
                    width: Some(width),
                    span: cur.since(start),
                });
            }
            // `word 5` is a likely slip for a width; `word + 1` may be a label named `word`.
            let value_follows = cur.peek_at(1).is_some_and(|t| {
                matches!(
                    t.tok,
                    Tok::Num(_) | Tok::Ident(_) | Tok::Dot | Tok::Punct(Punct::LParen)
                )
            });
            if name.eq_ignore_ascii_case("word") && value_follows {
                return Err(
                    Report::error(start, "`word` is not an immediate width").hint(
                        "immediates are stored as `byte` (8 bits), `dword` (32) or `qword` (64); \
                       the operand size comes from the suffix, e.g. `mov.w`",
                    ),
                );
            }
        }
        Tok::Punct(Punct::LBracket) => return parse_memory(ctx, cur),
        _ => {}
    }
    let expr = parse_expr(cur, &ctx.qualify())?;
    Ok(OperandAst::Imm {
        expr,
        width: None,
        span: cur.since(start),
    })
}

fn width_keyword(name: &str) -> Option<ImmWidth> {
    match name.to_ascii_lowercase().as_str() {
        "byte" => Some(ImmWidth::I8),
        "dword" => Some(ImmWidth::I32),
        "qword" => Some(ImmWidth::I64),
        _ => None,
    }
}

/// One `+`/`-`-separated part of a memory operand.
enum Term {
    Reg(Reg),
    Scaled(Reg, u8),
    Cp,
    Disp { expr: Expr, force: bool },
}

fn parse_memory(ctx: &ParseCtx<'_>, cur: &mut Cursor<'_>) -> Result<OperandAst, Report> {
    let start = cur.here();
    let mut opens = 0usize;
    while cur.eat(Punct::LBracket) {
        opens += 1;
    }
    // The address is everything up to the first `]`; nested brackets only wrap the whole.
    let inner = cur.rest();
    let close = inner
        .iter()
        .position(|t| t.is(Punct::RBracket) || t.is(Punct::LBracket));
    let Some(close) = close.filter(|&i| inner[i].is(Punct::RBracket)) else {
        let at = close.map_or(cur.here(), |i| cur.span_of(&inner[i]));
        return Err(match close {
            Some(_) => Report::error(at, "unexpected `[` inside a memory operand")
                .hint("extra brackets go around the whole address: `[[r1 + 8]]`"),
            None => Report::error(start, "unclosed `[`").hint("add the missing `]`"),
        });
    };
    let content = &inner[..close];
    for _ in 0..close {
        cur.next();
    }
    for _ in 0..opens {
        if !cur.eat(Punct::RBracket) {
            return Err(cur.unexpected("`]` (brackets must balance)"));
        }
    }
    let span = cur.since(start);
    let depth = opens - 1;
    if depth > Mem::MAX_DEPTH as usize {
        return Err(Report::error(
            span,
            format!(
                "{opens} levels of brackets: at most {} extra levels of indirection are allowed",
                Mem::MAX_DEPTH
            ),
        ));
    }
    if content.is_empty() {
        return Err(Report::error(span, "empty memory operand `[]`")
            .hint("write an address, as in `[r1]`, `[label]` or `[r1 + 8]`"));
    }

    let mut regs: Vec<(Reg, Option<u8>, Span)> = Vec::new();
    let mut cp = None;
    let mut disp: Option<Expr> = None;
    let mut force = false;
    for (op, toks) in split_terms(content) {
        let negative = op.is_some_and(|t| t.is(Punct::Minus));
        let Some(first) = toks.first() else {
            let at = op.map_or(span, |t| cur.span_of(t));
            return Err(Report::error(
                at,
                "expected a register or an expression after this operator",
            ));
        };
        let term_span = Span {
            line: cur.line(),
            start: first.start,
            end: toks[toks.len() - 1].end,
        };
        let term = parse_term(ctx, toks, cur.line())?;
        match term {
            Term::Reg(_) | Term::Scaled(..) | Term::Cp if negative => {
                return Err(Report::error(
                    term_span,
                    "a register cannot be subtracted in an address",
                ))
            }
            Term::Reg(r) => regs.push((r, None, term_span)),
            Term::Scaled(r, s) => regs.push((r, Some(s), term_span)),
            Term::Cp => cp = Some(term_span),
            Term::Disp { expr, force: f } => {
                force |= f;
                let expr_span = expr.span;
                disp = Some(match disp {
                    None if negative => Expr {
                        kind: ExprKind::Unary(UnOp::Neg, Box::new(expr)),
                        span: expr_span,
                    },
                    None => expr,
                    Some(acc) => {
                        let span = acc.span.to(expr_span);
                        let op = if negative { BinOp::Sub } else { BinOp::Add };
                        Expr {
                            kind: ExprKind::Binary(op, Box::new(acc), Box::new(expr)),
                            span,
                        }
                    }
                });
            }
        }
    }

    let addr = if let Some(cp_span) = cp {
        if let Some((_, _, s)) = regs.first() {
            return Err(Report::error(
                *s,
                "`cp` addresses the constant pool by offset and cannot be combined with a register",
            ));
        }
        let _ = cp_span;
        MemAst::Const(disp)
    } else {
        match regs.as_slice() {
            [] => MemAst::Abs(
                disp.ok_or_else(|| Report::error(span, "memory operand has no address"))?,
            ),
            [(base, None, _)] => MemAst::Based {
                base: *base,
                disp,
                force,
            },
            [(index, Some(scale), _)] => MemAst::Indexed {
                base: None,
                index: *index,
                scale_log2: *scale,
                disp,
            },
            [(base, None, _), (index, scale, _)]
            | [(index, scale @ Some(_), _), (base, None, _)] => MemAst::Indexed {
                base: Some(*base),
                index: *index,
                scale_log2: scale.unwrap_or(0),
                disp,
            },
            [_, (_, _, s)] => {
                return Err(Report::error(
                    *s,
                    "only one register in an address can be scaled",
                ))
            }
            [_, _, (_, _, s), ..] => {
                return Err(Report::error(*s, "an address has at most two registers")
                    .hint("the form is [base + index*scale + displacement]"))
            }
        }
    };
    Ok(OperandAst::Mem {
        depth: depth as u8,
        addr,
        span,
    })
}

/// Splits the tokens between brackets at `+` and `-` that are binary operators outside
/// parentheses. Each part carries the operator before it (`None` for the first).
fn split_terms(toks: &[Token]) -> Vec<(Option<&Token>, &[Token])> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut op = None;
    let mut prev_is_value = false;
    for (i, t) in toks.iter().enumerate() {
        match &t.tok {
            Tok::Punct(Punct::LParen) => depth += 1,
            Tok::Punct(Punct::RParen) => depth -= 1,
            Tok::Punct(Punct::Plus | Punct::Minus) if depth == 0 && prev_is_value => {
                out.push((op, &toks[start..i]));
                op = Some(t);
                start = i + 1;
            }
            _ => {}
        }
        prev_is_value = matches!(
            t.tok,
            Tok::Ident(_)
                | Tok::Num(_)
                | Tok::Float(_)
                | Tok::Str(_)
                | Tok::Dot
                | Tok::Punct(Punct::RParen)
        );
    }
    out.push((op, &toks[start..]));
    out
}

fn parse_term(ctx: &ParseCtx<'_>, toks: &[Token], line: u32) -> Result<Term, Report> {
    let end = toks.last().map_or(0, |t| t.end);
    let mut cur = Cursor::new(toks, line, end);
    let reg_at = |i: usize| toks.get(i).and_then(Token::ident).and_then(Reg::parse);
    let scale_at = |i: usize| -> Option<Result<u8, Report>> {
        let t = toks.get(i)?;
        let span = Span {
            line,
            start: t.start,
            end: t.end,
        };
        Some(match t.tok {
            Tok::Num(s @ (1 | 2 | 4 | 8)) => Ok(s.trailing_zeros() as u8),
            _ => Err(Report::error(
                span,
                "the scale of an index register must be 1, 2, 4 or 8",
            )),
        })
    };
    if let (1, Some(r)) = (toks.len(), reg_at(0)) {
        return Ok(Term::Reg(r));
    }
    let word_at = |i: usize, w: &str| {
        toks.get(i)
            .and_then(Token::ident)
            .is_some_and(|s| s.eq_ignore_ascii_case(w))
    };
    match toks.len() {
        1 if word_at(0, "cp") => return Ok(Term::Cp),
        3 if toks[1].is(Punct::Star) => {
            if let Some(r) = reg_at(0) {
                return scale_at(2).unwrap_or(Ok(0)).map(|s| Term::Scaled(r, s));
            }
            if let Some(r) = reg_at(2) {
                return scale_at(0).unwrap_or(Ok(0)).map(|s| Term::Scaled(r, s));
            }
        }
        _ => {}
    }
    if let Some(r) = toks
        .iter()
        .find(|t| t.ident().and_then(Reg::parse).is_some())
    {
        let span = Span {
            line,
            start: r.start,
            end: r.end,
        };
        return Err(Report::error(
            span,
            "a register in an address must stand alone or be scaled",
        )
        .hint("the form is [base + index*scale + displacement], e.g. [r1 + r2*8 + 16]"));
    }
    let force = word_at(0, "dword") && toks.len() > 1;
    if force {
        cur.next();
    }
    let expr = parse_expr(&mut cur, &ctx.qualify())?;
    if !cur.at_end() {
        return Err(cur.unexpected("`+`, `-` or `]`"));
    }
    Ok(Term::Disp { expr, force })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn parse_line(text: &str) -> Result<Parsed, Report> {
        let toks = lex(text).unwrap();
        let none = || Vec::new();
        let ctx = ParseCtx {
            line: 0,
            text,
            scope: "main",
            macro_names: &none,
            suggest: &Suggester::default(),
        };
        parse_statement(&ctx, &toks)
    }

    fn instr(text: &str) -> InstrStmt {
        match parse_line(text) {
            Ok(Parsed::Stmt(StmtKind::Instr(i))) => *i,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn error(text: &str) -> (String, u32, u32) {
        let r = parse_line(text).expect_err(text);
        let s = r.span.unwrap();
        (r.message, s.start, s.end)
    }

    fn mem(text: &str) -> (u8, MemAst) {
        match instr(&format!("lea r1, {text}")).operands.pop() {
            Some(OperandAst::Mem { depth, addr, .. }) => (depth, addr),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn operands_of_each_kind() {
        let i = instr("add.b r1, 5");
        assert_eq!((i.op, i.size), (Op::Add, vmkit_isa::Size::B));
        assert!(matches!(i.operands[0], OperandAst::Reg(r, _) if r == Reg::r(1)));
        assert!(matches!(i.operands[1], OperandAst::Imm { width: None, .. }));
        let i = instr("mov r1, dword 5");
        assert!(matches!(
            i.operands[1],
            OperandAst::Imm {
                width: Some(ImmWidth::I32),
                ..
            }
        ));
        let i = instr("push qword -1");
        assert!(matches!(
            i.operands[0],
            OperandAst::Imm {
                width: Some(ImmWidth::I64),
                ..
            }
        ));
    }

    #[test]
    fn jmp_and_call_forms() {
        assert_eq!(instr("jmp done").op, Op::Jmp);
        assert_eq!(instr("jmp r3").op, Op::JmpInd);
        assert_eq!(instr("jmp [r3 + 8]").op, Op::JmpInd);
        assert_eq!(instr("jmp dword 0x2000").op, Op::JmpInd);
        assert_eq!(instr("call f").op, Op::Call);
        assert_eq!(instr("call [table + r1*8]").op, Op::CallInd);
    }

    #[test]
    fn memory_forms() {
        assert!(matches!(
            mem("[r1]"),
            (
                0,
                MemAst::Based {
                    disp: None,
                    force: false,
                    ..
                }
            )
        ));
        assert!(matches!(
            mem("[r1 + 8]"),
            (
                0,
                MemAst::Based {
                    disp: Some(_),
                    force: false,
                    ..
                }
            )
        ));
        assert!(matches!(
            mem("[r1 + dword 0]"),
            (0, MemAst::Based { force: true, .. })
        ));
        assert!(matches!(
            mem("[r1 - 8]"),
            (
                0,
                MemAst::Based {
                    disp: Some(Expr {
                        kind: ExprKind::Unary(UnOp::Neg, _),
                        ..
                    }),
                    ..
                }
            )
        ));
        assert!(matches!(
            mem("[r1 + r2]"),
            (
                0,
                MemAst::Indexed {
                    base: Some(_),
                    scale_log2: 0,
                    ..
                }
            )
        ));
        assert!(
            matches!(mem("[r2*4 + r1 + 8]"), (0, MemAst::Indexed { base: Some(b), index: i, scale_log2: 2, disp: Some(_) }) if b == Reg::r(1) && i == Reg::r(2))
        );
        assert!(matches!(
            mem("[8*r2]"),
            (
                0,
                MemAst::Indexed {
                    base: None,
                    scale_log2: 3,
                    disp: None,
                    ..
                }
            )
        ));
        assert!(matches!(
            mem("[r2*1]"),
            (
                0,
                MemAst::Indexed {
                    base: None,
                    scale_log2: 0,
                    ..
                }
            )
        ));
        assert!(matches!(mem("[0x2000]"), (0, MemAst::Abs(_))));
        assert!(matches!(mem("[msg + 4*2 - 1]"), (0, MemAst::Abs(_))));
        assert!(matches!(mem("[cp + msg]"), (0, MemAst::Const(Some(_)))));
        assert!(matches!(mem("[CP]"), (0, MemAst::Const(None))));
        assert!(matches!(mem("[[r1 + 8]]"), (1, MemAst::Based { .. })));
        assert!(matches!(mem("[[[[x]]]]"), (3, MemAst::Abs(_))));
        assert!(matches!(mem("[r1 + -8]"), (0, MemAst::Based { .. })));
        assert!(matches!(
            mem("[sp + (a - b)]"),
            (0, MemAst::Based { base: Reg::SP, .. })
        ));
    }

    #[test]
    fn memory_errors() {
        assert_eq!(
            error("lea r1, [r1 - r2]").0,
            "a register cannot be subtracted in an address"
        );
        assert_eq!(
            error("lea r1, [r1 + r2 + r3]"),
            ("an address has at most two registers".into(), 19, 21)
        );
        assert_eq!(
            error("lea r1, [r1*2 + r2*2]").0,
            "only one register in an address can be scaled"
        );
        assert_eq!(
            error("lea r1, [r2*3]"),
            (
                "the scale of an index register must be 1, 2, 4 or 8".into(),
                12,
                13
            )
        );
        assert_eq!(
            error("lea r1, [cp + r1]").0,
            "`cp` addresses the constant pool by offset and cannot be combined with a register"
        );
        assert_eq!(
            error("lea r1, [[[[[x]]]]]").0,
            "5 levels of brackets: at most 3 extra levels of indirection are allowed"
        );
        assert_eq!(error("lea r1, [r1 + 8").0, "unclosed `[`");
        assert_eq!(
            error("lea r1, [[r1] + 8]").0,
            "expected `]` (brackets must balance), found `+`"
        );
        assert_eq!(
            error("lea r1, [r1 + [r2]]").0,
            "unexpected `[` inside a memory operand"
        );
        assert_eq!(error("lea r1, []").0, "empty memory operand `[]`");
        assert_eq!(
            error("lea r1, [r1 + 2*r2*2]").0,
            "a register in an address must stand alone or be scaled"
        );
        assert_eq!(
            error("lea r1, [r1 +]"),
            (
                "expected a register or an expression after this operator".into(),
                12,
                13
            )
        );
    }

    #[test]
    fn operand_count_and_kind_errors() {
        assert_eq!(
            error("add r1"),
            ("`add` takes 2 operands (dst, src), found 1".into(), 4, 6)
        );
        assert_eq!(error("nop r1").0, "`nop` takes no operands, found 1");
        assert_eq!(
            error("mov 5, r1"),
            (
                "operand 1 of `mov` must be a register or memory operand, found an immediate"
                    .into(),
                4,
                5
            )
        );
        assert_eq!(
            error("lea r1, r2").0,
            "operand 2 of `lea` must be a memory operand, found a register"
        );
        assert_eq!(
            error("jz r1").0,
            "operand 1 of `jz` must be a branch target, found a register"
        );
        assert_eq!(
            error("jz dword x").0,
            "operand 1 of `jz` must be a branch target, found an immediate with a width"
        );
        assert_eq!(
            error("mov r1, word 5").0,
            "`word` is not an immediate width"
        );
    }

    #[test]
    fn mnemonic_errors() {
        let r = parse_line("mvo r1, 2").unwrap_err();
        assert_eq!(r.message, "unknown mnemonic `mvo`");
        assert_eq!(r.hint.as_deref(), Some("did you mean `mov`?"));
        assert_eq!(
            error("nop.b").0,
            "`nop` has no size variants, so it takes no `.b` suffix"
        );
        assert_eq!(error("add.x r1, 1").0, "unknown size suffix `.x` on `add`");
    }

    #[test]
    fn sys_names_become_numbers() {
        let i = instr("sys write");
        match &i.operands[0] {
            OperandAst::Imm { expr, .. } => assert_eq!(expr.kind, ExprKind::Num(2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn directives() {
        assert!(matches!(
            parse_line(".text 0x4000"),
            Ok(Parsed::Section {
                kind: SegmentKind::Code,
                addr: Some(_)
            })
        ));
        assert!(matches!(
            parse_line(".rodata"),
            Ok(Parsed::Section {
                kind: SegmentKind::Const,
                addr: None
            })
        ));
        assert!(matches!(
            parse_line(".section bss, 0x9000"),
            Ok(Parsed::Section {
                kind: SegmentKind::Bss,
                addr: Some(_)
            })
        ));
        assert!(
            matches!(parse_line(".byte 1, \"ab\", 'c'"), Ok(Parsed::Stmt(StmtKind::Data { width: 1, items })) if items.len() == 3)
        );
        match parse_line(".asciz \"hi\", \"x\"") {
            Ok(Parsed::Stmt(StmtKind::Bytes(b))) => assert_eq!(b, b"hi\0x\0"),
            other => panic!("{other:?}"),
        }
        match parse_line(".f64 1.5, -2e3, 3, -inf, N + 1") {
            Ok(Parsed::Stmt(StmtKind::F64(items))) => {
                assert!(
                    matches!(items[..], [F64Item::Literal(a), F64Item::Literal(b), F64Item::Literal(c), F64Item::Literal(d), F64Item::Int(_)]
                    if a == 1.5 && b == -2000.0 && c == 3.0 && d == f64::NEG_INFINITY)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line(".fill 3, 0xAA, 2"),
            Ok(Parsed::Stmt(StmtKind::Fill { width: 2, .. }))
        ));
        assert_eq!(
            error(".fill 3, 1, 3").0,
            "the width of `.fill` must be 1, 2, 4 or 8 (bytes)"
        );
        match parse_line(".equ .n, 4") {
            Ok(Parsed::Equ { name, .. }) => assert_eq!(name, "main.n"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_line("N = 4 * 2"), Ok(Parsed::Equ { .. })));
        assert!(matches!(
            parse_line(".perms r-x"),
            Ok(Parsed::Perms(Perms::RX))
        ));
        assert!(matches!(
            parse_line(".perms RWX"),
            Ok(Parsed::Perms(Perms::RWX))
        ));
        assert_eq!(error(".perms rwz").0, "invalid permissions `rwz`");
        assert!(matches!(parse_line(".import print"), Ok(Parsed::Import(n, _)) if n == "print"));
        assert!(
            matches!(parse_line(".import \"odd name\""), Ok(Parsed::Import(n, _)) if n == "odd name")
        );
        assert!(matches!(parse_line(".wx"), Ok(Parsed::Wx)));
        assert_eq!(error(".wx 1").0, "expected end of line, found number `1`");
        let r = parse_line(".bytes 1").unwrap_err();
        assert_eq!(r.message, "unknown directive `.bytes`");
        assert_eq!(r.hint.as_deref(), Some("did you mean `.byte`?"));
    }

    #[test]
    fn labels_split_off() {
        let toks = lex("a: .b: c: nop").unwrap();
        let (labels, rest) = split_labels(&toks);
        assert_eq!(labels.len(), 3);
        assert_eq!(rest.len(), 1);
    }

    #[test]
    fn perms_spellings() {
        assert_eq!(parse_perms("rw"), Some(Perms::RW));
        assert_eq!(parse_perms("---"), None);
        assert_eq!(parse_perms("none"), Some(Perms(0)));
        assert_eq!(parse_perms("rr"), None);
    }
}
