//! Constant expressions: parsing with C precedence, and evaluation in 64 bits.
//!
//! An [`Expr`] is parsed once and evaluated many times: the layout pass evaluates every
//! expression again as label addresses settle. What a symbol is worth is not this module's
//! business; it asks an [`Env`]. Arithmetic wraps like the machine's; division by zero and
//! shifts by 64 or more are errors rather than silently machine-dependent results.

use crate::lexer::{Punct, Tok, Token};
use crate::source::{Report, Span};

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ExprKind {
    Num(i64),
    /// A symbol by its full name (local labels already qualified with their scope).
    Sym(String),
    /// `.`: the address of the current statement.
    Dot,
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnOp {
    Neg,
    BitNot,
    LogicalNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Shl,
    Shr,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Xor,
    Or,
    LogicalAnd,
    LogicalOr,
}

impl BinOp {
    /// C precedence, higher binds tighter.
    fn precedence(self) -> u8 {
        match self {
            BinOp::Mul | BinOp::Div | BinOp::Rem => 10,
            BinOp::Add | BinOp::Sub => 9,
            BinOp::Shl | BinOp::Shr => 8,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 7,
            BinOp::Eq | BinOp::Ne => 6,
            BinOp::And => 5,
            BinOp::Xor => 4,
            BinOp::Or => 3,
            BinOp::LogicalAnd => 2,
            BinOp::LogicalOr => 1,
        }
    }

    fn from_punct(p: Punct) -> Option<BinOp> {
        Some(match p {
            Punct::Star => BinOp::Mul,
            Punct::Slash => BinOp::Div,
            Punct::Percent => BinOp::Rem,
            Punct::Plus => BinOp::Add,
            Punct::Minus => BinOp::Sub,
            Punct::Shl => BinOp::Shl,
            Punct::Shr => BinOp::Shr,
            Punct::Lt => BinOp::Lt,
            Punct::Le => BinOp::Le,
            Punct::Gt => BinOp::Gt,
            Punct::Ge => BinOp::Ge,
            Punct::EqEq => BinOp::Eq,
            Punct::Ne => BinOp::Ne,
            Punct::Amp => BinOp::And,
            Punct::Caret => BinOp::Xor,
            Punct::Pipe => BinOp::Or,
            Punct::AndAnd => BinOp::LogicalAnd,
            Punct::OrOr => BinOp::LogicalOr,
            _ => return None,
        })
    }
}

/// Deepest expression tree accepted. Evaluation recurses, and a line such as `1+1+...+1`
/// with a hundred thousand terms must not overflow the stack.
const MAX_HEIGHT: u32 = 500;

/// A position in a line's tokens, shared by the expression and statement parsers.
pub(crate) struct Cursor<'t> {
    toks: &'t [Token],
    pos: usize,
    line: u32,
    /// Byte offset of the end of the line's code (for "expected ... at end of line").
    end: u32,
}

impl<'t> Cursor<'t> {
    pub fn new(toks: &'t [Token], line: u32, end: u32) -> Cursor<'t> {
        Cursor {
            toks,
            pos: 0,
            line,
            end,
        }
    }

    pub fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    pub fn peek_at(&self, n: usize) -> Option<&'t Token> {
        self.toks.get(self.pos + n)
    }

    pub fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.pos)?;
        self.pos += 1;
        Some(t)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn rest(&self) -> &'t [Token] {
        self.toks.get(self.pos..).unwrap_or(&[])
    }

    pub fn eat(&mut self, p: Punct) -> bool {
        if self.peek().is_some_and(|t| t.is(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    pub fn span_of(&self, t: &Token) -> Span {
        Span {
            line: self.line,
            start: t.start,
            end: t.end,
        }
    }

    /// The span of the next token, or an empty span at the end of the line.
    pub fn here(&self) -> Span {
        match self.peek() {
            Some(t) => self.span_of(t),
            None => Span {
                line: self.line,
                start: self.end,
                end: self.end,
            },
        }
    }

    /// Span from `start` to the end of the previously consumed token.
    pub fn since(&self, start: Span) -> Span {
        let end = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(start.end, |t| t.end);
        Span {
            line: self.line,
            start: start.start,
            end: end.max(start.end),
        }
    }

    pub fn expect(&mut self, p: Punct, context: &str) -> Result<(), Report> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{}` {context}", p.text())))
        }
    }

    /// "expected X, found Y" at the next token.
    pub fn unexpected(&self, expected: &str) -> Report {
        let found = match self.peek() {
            None => "end of line".to_string(),
            Some(t) => describe_token(&t.tok),
        };
        Report::error(self.here(), format!("expected {expected}, found {found}"))
    }
}

pub(crate) fn describe_token(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Num(n) => format!("number `{n}`"),
        Tok::Float(f) => format!("number `{f}`"),
        Tok::Str(_) => "a string".into(),
        Tok::Dot => "`.`".into(),
        Tok::Punct(p) => format!("`{}`", p.text()),
    }
}

/// Parses an expression starting at the cursor; `qualify` turns a written name into its
/// full name (`.loop` into `main.loop`).
pub(crate) fn parse_expr(
    cur: &mut Cursor<'_>,
    qualify: &dyn Fn(&str) -> String,
) -> Result<Expr, Report> {
    Ok(binary(cur, qualify, 0, 0)?.0)
}

/// Precedence climbing. `depth` counts enclosing parentheses and unary operators, so that
/// the parser's own recursion stays bounded; `height` is the height of the tree built.
fn binary(
    cur: &mut Cursor<'_>,
    qualify: &dyn Fn(&str) -> String,
    min_prec: u8,
    depth: u32,
) -> Result<(Expr, u32), Report> {
    let (mut lhs, mut height) = unary(cur, qualify, depth)?;
    let binop_at = |cur: &Cursor<'_>| match cur.peek().map(|t| &t.tok) {
        Some(Tok::Punct(p)) => BinOp::from_punct(*p).filter(|op| op.precedence() >= min_prec),
        _ => None,
    };
    while let Some(op) = binop_at(cur) {
        cur.next();
        let (rhs, rh) = binary(cur, qualify, op.precedence() + 1, depth)?;
        height = height.max(rh) + 1;
        let span = lhs.span.to(rhs.span);
        if height > MAX_HEIGHT {
            return Err(
                Report::error(span, "expression is too deeply nested").hint("split it with `.equ`")
            );
        }
        lhs = Expr {
            kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
        };
    }
    Ok((lhs, height))
}

fn unary(
    cur: &mut Cursor<'_>,
    qualify: &dyn Fn(&str) -> String,
    depth: u32,
) -> Result<(Expr, u32), Report> {
    let start = cur.here();
    if depth > MAX_HEIGHT {
        return Err(Report::error(start, "expression is too deeply nested"));
    }
    let Some(tok) = cur.peek() else {
        return Err(cur.unexpected("an expression"));
    };
    let op = match tok.tok {
        Tok::Punct(Punct::Minus) => Some(UnOp::Neg),
        Tok::Punct(Punct::Tilde) => Some(UnOp::BitNot),
        Tok::Punct(Punct::Bang) => Some(UnOp::LogicalNot),
        Tok::Punct(Punct::Plus) => {
            cur.next();
            return unary(cur, qualify, depth + 1);
        }
        _ => None,
    };
    if let Some(op) = op {
        cur.next();
        let (inner, h) = unary(cur, qualify, depth + 1)?;
        let span = start.to(inner.span);
        return Ok((
            Expr {
                kind: ExprKind::Unary(op, Box::new(inner)),
                span,
            },
            h + 1,
        ));
    }
    cur.next();
    let span = cur.span_of(tok);
    let kind = match &tok.tok {
        Tok::Num(n) => ExprKind::Num(*n as i64),
        Tok::Dot => ExprKind::Dot,
        Tok::Ident(name) => ExprKind::Sym(qualify(name)),
        Tok::Punct(Punct::LParen) => {
            let (inner, h) = binary(cur, qualify, 0, depth + 1)?;
            if !cur.eat(Punct::RParen) {
                return Err(cur
                    .unexpected("`)` to close the `(`")
                    .note(format!("the `(` is at column {}", start.start + 1)));
            }
            return Ok((
                Expr {
                    kind: inner.kind,
                    span: cur.since(start),
                },
                h,
            ));
        }
        Tok::Float(_) => {
            return Err(
                Report::error(span, "a floating-point number cannot be used here")
                    .hint("integer expressions take integers; `.f64` stores doubles"),
            )
        }
        Tok::Str(_) => {
            return Err(
                Report::error(span, "a string cannot be used in an expression")
                    .hint("a single character in single quotes is a number: 'A'"),
            )
        }
        Tok::Punct(_) => {
            cur.pos -= 1;
            return Err(cur.unexpected("an expression"));
        }
    };
    Ok((Expr { kind, span }, 1))
}

/// What symbols and `.` are worth while evaluating.
pub(crate) trait Env {
    /// Value of the symbol with full name `name`. `in_cp` is true inside `[cp + ...]`, where
    /// labels in the constant pool are worth their offset from the pool's start.
    fn symbol(&self, name: &str, span: Span, in_cp: bool) -> Result<i64, Report>;
    /// Address of the current statement.
    fn dot(&self, span: Span) -> Result<i64, Report>;
}

impl Expr {
    pub fn num(value: i64, span: Span) -> Expr {
        Expr {
            kind: ExprKind::Num(value),
            span,
        }
    }

    /// Evaluates with wrapping 64-bit arithmetic.
    pub fn eval(&self, env: &dyn Env, in_cp: bool) -> Result<i64, Report> {
        Ok(match &self.kind {
            ExprKind::Num(n) => *n,
            ExprKind::Sym(name) => env.symbol(name, self.span, in_cp)?,
            ExprKind::Dot => env.dot(self.span)?,
            ExprKind::Unary(op, e) => {
                let v = e.eval(env, in_cp)?;
                match op {
                    UnOp::Neg => v.wrapping_neg(),
                    UnOp::BitNot => !v,
                    UnOp::LogicalNot => (v == 0) as i64,
                }
            }
            ExprKind::Binary(op, l, r) => {
                let a = l.eval(env, in_cp)?;
                let b = r.eval(env, in_cp)?;
                match op {
                    BinOp::Mul => a.wrapping_mul(b),
                    BinOp::Div | BinOp::Rem if b == 0 => {
                        return Err(Report::error(r.span, "division by zero"))
                    }
                    BinOp::Div => a.wrapping_div(b),
                    BinOp::Rem => a.wrapping_rem(b),
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Shl | BinOp::Shr if !(0..64).contains(&b) => {
                        return Err(Report::error(
                            r.span,
                            format!("shift amount {b} is outside 0..=63"),
                        ))
                    }
                    BinOp::Shl => a << b,
                    BinOp::Shr => a >> b,
                    BinOp::Lt => (a < b) as i64,
                    BinOp::Le => (a <= b) as i64,
                    BinOp::Gt => (a > b) as i64,
                    BinOp::Ge => (a >= b) as i64,
                    BinOp::Eq => (a == b) as i64,
                    BinOp::Ne => (a != b) as i64,
                    BinOp::And => a & b,
                    BinOp::Xor => a ^ b,
                    BinOp::Or => a | b,
                    BinOp::LogicalAnd => (a != 0 && b != 0) as i64,
                    BinOp::LogicalOr => (a != 0 || b != 0) as i64,
                }
            }
        })
    }

    /// Calls `f` for every symbol the expression mentions.
    pub fn visit_symbols(&self, f: &mut dyn FnMut(&str, Span)) {
        match &self.kind {
            ExprKind::Sym(name) => f(name, self.span),
            ExprKind::Num(_) | ExprKind::Dot => {}
            ExprKind::Unary(_, e) => e.visit_symbols(f),
            ExprKind::Binary(_, l, r) => {
                l.visit_symbols(f);
                r.visit_symbols(f);
            }
        }
    }

    /// The symbol's name if the expression is just one symbol.
    pub fn as_symbol(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Sym(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lexer::lex;
    use std::collections::HashMap;

    pub(crate) struct MapEnv(pub HashMap<String, i64>, pub i64);

    impl Env for MapEnv {
        fn symbol(&self, name: &str, span: Span, in_cp: bool) -> Result<i64, Report> {
            let v = self
                .0
                .get(name)
                .copied()
                .ok_or_else(|| Report::error(span, format!("undefined `{name}`")))?;
            Ok(if in_cp { v - 0x100 } else { v })
        }
        fn dot(&self, _: Span) -> Result<i64, Report> {
            Ok(self.1)
        }
    }

    fn parse(src: &str) -> Result<Expr, Report> {
        let toks = lex(src).unwrap();
        let mut cur = Cursor::new(&toks, 0, src.len() as u32);
        let e = parse_expr(&mut cur, &|n: &str| {
            if n.starts_with('.') {
                format!("main{n}")
            } else {
                n.to_string()
            }
        })?;
        if !cur.at_end() {
            return Err(cur.unexpected("end of expression"));
        }
        Ok(e)
    }

    fn eval(src: &str) -> Result<i64, String> {
        let env = MapEnv(
            [("a".to_string(), 10), ("main.loop".to_string(), 0x1234)].into(),
            0x1000,
        );
        parse(src)
            .and_then(|e| e.eval(&env, false))
            .map_err(|r| r.message)
    }

    #[test]
    fn c_precedence() {
        assert_eq!(eval("1 + 2 * 3"), Ok(7));
        assert_eq!(eval("(1 + 2) * 3"), Ok(9));
        assert_eq!(eval("1 << 2 + 1"), Ok(8));
        assert_eq!(eval("1 | 2 ^ 3 & 4"), Ok(3), "1 | (2 ^ (3 & 4))");
        assert_eq!(eval("6 & 3 ^ 1"), Ok(3), "(6 & 3) ^ 1");
        assert_eq!(eval("10 - 2 - 3"), Ok(5));
        assert_eq!(eval("100 / 10 / 5"), Ok(2));
        assert_eq!(eval("-7 / 2"), Ok(-3));
        assert_eq!(eval("-7 % 2"), Ok(-1));
        assert_eq!(eval("~0"), Ok(-1));
        assert_eq!(eval("!0 + !5"), Ok(1));
        assert_eq!(eval("-a * 2"), Ok(-20));
        assert_eq!(eval("- -a"), Ok(10));
        assert_eq!(eval("+a"), Ok(10));
        assert_eq!(eval("1 < 2 && 3 >= 3 || 0"), Ok(1));
        assert_eq!(eval("a == 10 & 1"), Ok(1));
        assert_eq!(eval("2 != 2"), Ok(0));
        assert_eq!(eval("-16 >> 2"), Ok(-4));
    }

    #[test]
    fn symbols_dot_and_literals() {
        assert_eq!(eval(".loop - ."), Ok(0x234));
        assert_eq!(eval("'A' + 1"), Ok(66));
        assert_eq!(eval("0xFFFF_FFFF_FFFF_FFFF"), Ok(-1));
        assert_eq!(eval("$ + 4"), Ok(0x1004));
    }

    #[test]
    fn wrapping_and_errors() {
        assert_eq!(eval("0x7FFF_FFFF_FFFF_FFFF + 1"), Ok(i64::MIN));
        assert_eq!(eval("-0x8000_0000_0000_0000"), Ok(i64::MIN));
        assert_eq!(eval("-0x8000_0000_0000_0000 / -1"), Ok(i64::MIN));
        assert_eq!(eval("1 / (a - 10)"), Err("division by zero".into()));
        assert_eq!(eval("1 % 0"), Err("division by zero".into()));
        assert_eq!(
            eval("1 << 64"),
            Err("shift amount 64 is outside 0..=63".into())
        );
        assert_eq!(
            eval("1 >> -1"),
            Err("shift amount -1 is outside 0..=63".into())
        );
        assert_eq!(eval("b + 1"), Err("undefined `b`".into()));
    }

    #[test]
    fn division_by_zero_points_at_the_divisor() {
        let env = MapEnv(HashMap::new(), 0);
        let e = parse("10 / (2 - 2)")
            .unwrap()
            .eval(&env, false)
            .unwrap_err();
        assert_eq!((e.span.unwrap().start, e.span.unwrap().end), (5, 12));
    }

    #[test]
    fn syntax_errors() {
        let msg = |s: &str| parse(s).unwrap_err().message;
        assert_eq!(msg("1 +"), "expected an expression, found end of line");
        assert_eq!(
            msg("(1 + 2"),
            "expected `)` to close the `(`, found end of line"
        );
        assert_eq!(msg("1 2"), "expected end of expression, found number `2`");
        assert_eq!(msg("* 2"), "expected an expression, found `*`");
        assert_eq!(
            msg("1.5 + 1"),
            "a floating-point number cannot be used here"
        );
        assert_eq!(msg("\"ab\""), "a string cannot be used in an expression");
    }

    #[test]
    fn depth_is_limited_instead_of_overflowing_the_stack() {
        let long = vec!["1"; 5000].join("+");
        assert_eq!(
            parse(&long).unwrap_err().message,
            "expression is too deeply nested"
        );
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(
            parse(&deep).unwrap_err().message,
            "expression is too deeply nested"
        );
        let neg = format!("{}1", "-".repeat(5000));
        assert_eq!(
            parse(&neg).unwrap_err().message,
            "expression is too deeply nested"
        );
        let ok = vec!["1"; 300].join("+");
        assert_eq!(eval(&ok), Ok(300));
    }

    #[test]
    fn cp_context_reaches_symbols() {
        let env = MapEnv([("msg".to_string(), 0x104)].into(), 0);
        let e = parse("msg + 2").unwrap();
        assert_eq!(e.eval(&env, true).unwrap(), 6);
        assert_eq!(e.eval(&env, false).unwrap(), 0x106);
    }
}
