//! Splitting one logical line into tokens.
//!
//! The assembler is line-oriented, so the lexer sees one line at a time, after macro
//! substitution. It owns the spelling of literals (numbers, characters, strings and their
//! escapes) and of identifiers; it does not know what any identifier means.

/// Punctuation and operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Punct {
    Comma,
    Colon,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Shl,
    Shr,
    Amp,
    Caret,
    Pipe,
    Tilde,
    Bang,
    Assign,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
}

impl Punct {
    pub fn text(self) -> &'static str {
        match self {
            Punct::Comma => ",",
            Punct::Colon => ":",
            Punct::LBracket => "[",
            Punct::RBracket => "]",
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::Plus => "+",
            Punct::Minus => "-",
            Punct::Star => "*",
            Punct::Slash => "/",
            Punct::Percent => "%",
            Punct::Shl => "<<",
            Punct::Shr => ">>",
            Punct::Amp => "&",
            Punct::Caret => "^",
            Punct::Pipe => "|",
            Punct::Tilde => "~",
            Punct::Bang => "!",
            Punct::Assign => "=",
            Punct::EqEq => "==",
            Punct::Ne => "!=",
            Punct::Lt => "<",
            Punct::Le => "<=",
            Punct::Gt => ">",
            Punct::Ge => ">=",
            Punct::AndAnd => "&&",
            Punct::OrOr => "||",
        }
    }
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A name: label, mnemonic, register, directive (`.text`), local label (`.loop`) or
    /// expanded macro-local label (`%%loop@3`).
    Ident(String),
    /// An integer literal or character literal, as its 64-bit pattern.
    Num(u64),
    /// A floating-point literal (only meaningful in `.f64`).
    Float(f64),
    /// A string literal, escapes resolved.
    Str(Vec<u8>),
    /// `.` or `$` alone: the address of the current statement.
    Dot,
    Punct(Punct),
}

/// A token and its byte range in the line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: u32,
    pub end: u32,
}

impl Token {
    pub fn is(&self, p: Punct) -> bool {
        self.tok == Tok::Punct(p)
    }

    pub fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(s) => Some(s),
            _ => None,
        }
    }
}

/// A lexical error: message, byte range, optional hint.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LexError {
    pub message: String,
    pub start: u32,
    pub end: u32,
    pub hint: Option<String>,
}

fn err(message: impl Into<String>, start: usize, end: usize) -> LexError {
    LexError {
        message: message.into(),
        start: start as u32,
        end: end as u32,
        hint: None,
    }
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

/// Whether `s` is spelled like a label (`[A-Za-z_.][A-Za-z0-9_.$]*`, not just `.`).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some('.') => chars.next().is_some_and(is_ident_start) && s[2..].chars().all(is_ident_char),
        Some(c) if is_ident_start(c) => chars.all(is_ident_char),
        _ => false,
    }
}

/// The byte offset where the line's comment starts (or its length): the first `;` outside
/// string and character literals.
pub(crate) fn comment_start(line: &str) -> usize {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b';' => return i,
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    /// One (possibly escaped) character of a string or character literal.
    fn literal_char(&mut self, quote: char) -> Result<LitChar, LexError> {
        let at = self.pos;
        let Some(c) = self.bump() else {
            return Err(err(
                format!(
                    "unterminated {} literal",
                    if quote == '"' { "string" } else { "character" }
                ),
                at,
                at,
            ));
        };
        if c != '\\' {
            return Ok(LitChar::Char(c));
        }
        let Some(e) = self.bump() else {
            return Err(err("unterminated escape sequence", at, self.pos));
        };
        Ok(match e {
            'n' => LitChar::Byte(b'\n'),
            't' => LitChar::Byte(b'\t'),
            'r' => LitChar::Byte(b'\r'),
            '0' => LitChar::Byte(0),
            '\\' => LitChar::Byte(b'\\'),
            '"' => LitChar::Byte(b'"'),
            '\'' => LitChar::Byte(b'\''),
            'x' => {
                // Exactly two digits: "\x41BC" is "ABC", as in most assemblers.
                let digits: String = self.text[self.pos..]
                    .chars()
                    .take(2)
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                self.pos += digits.len();
                match u8::from_str_radix(&digits, 16) {
                    Ok(b) if digits.len() == 2 => LitChar::Byte(b),
                    _ => {
                        return Err(LexError {
                            hint: Some(
                                "write a byte as `\\x` and two hex digits, e.g. `\\x1b`".into(),
                            ),
                            ..err("invalid `\\x` escape", at, self.pos)
                        })
                    }
                }
            }
            other => {
                return Err(LexError {
                    hint: Some("known escapes: \\n \\t \\r \\0 \\\\ \\\" \\' \\xNN".into()),
                    ..err(format!("unknown escape `\\{other}`"), at, self.pos)
                })
            }
        })
    }

    fn string(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        self.bump();
        let mut bytes = Vec::new();
        loop {
            if self.peek() == Some('"') {
                self.bump();
                return Ok(Tok::Str(bytes));
            }
            if self.peek().is_none() {
                return Err(err("unterminated string literal", start, self.pos));
            }
            match self.literal_char('"')? {
                LitChar::Byte(b) => bytes.push(b),
                LitChar::Char(c) => {
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    fn character(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        self.bump();
        if self.peek() == Some('\'') {
            return Err(err("empty character literal", start, self.pos + 1));
        }
        let value = match self.literal_char('\'')? {
            LitChar::Byte(b) => b as u64,
            LitChar::Char(c) => c as u64,
        };
        if self.peek() != Some('\'') {
            let end = self.text[self.pos..]
                .find('\'')
                .map_or(self.text.len(), |i| self.pos + i + 1);
            return Err(LexError {
                hint: Some("use double quotes for strings: \"...\"".into()),
                ..err(
                    "character literal holds more than one character",
                    start,
                    end,
                )
            });
        }
        self.bump();
        Ok(Tok::Num(value))
    }

    fn number(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        let prefix = self.text.as_bytes().get(start..start + 2).unwrap_or(&[]);
        let radix = match prefix {
            [b'0', b'x' | b'X'] => 16,
            [b'0', b'b' | b'B'] => 2,
            [b'0', b'o' | b'O'] => 8,
            _ => 10,
        };
        if radix != 10 {
            self.pos += 2;
            let body = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            let digits: String = body.chars().filter(|&c| c != '_').collect();
            if digits.is_empty() {
                return Err(err(
                    "number has no digits after its prefix",
                    start,
                    self.pos,
                ));
            }
            return match u64::from_str_radix(&digits, radix) {
                Ok(v) => Ok(Tok::Num(v)),
                Err(e) => Err(number_error(
                    &e,
                    &digits,
                    radix,
                    &self.text[start..self.pos],
                    start,
                    self.pos,
                )),
            };
        }
        let int_part = self.take_while(|c| c.is_ascii_digit() || c == '_');
        let mut is_float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            self.take_while(|c| c.is_ascii_digit() || c == '_');
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = matches!(self.peek_at(1), Some('+' | '-'));
            let digit_at = if sign { 2 } else { 1 };
            if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                for _ in 0..digit_at {
                    self.bump();
                }
                self.take_while(|c| c.is_ascii_digit());
            }
        }
        let suffix = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let text = &self.text[start..self.pos];
        if is_float {
            if !suffix.is_empty() {
                return Err(err(format!("invalid number `{text}`"), start, self.pos));
            }
            let clean: String = text.chars().filter(|&c| c != '_').collect();
            return clean
                .parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| err(format!("invalid number `{text}`"), start, self.pos));
        }
        let scale: u64 = match suffix {
            "" => 1,
            "k" | "K" => 1 << 10,
            "m" | "M" => 1 << 20,
            "g" | "G" => 1 << 30,
            _ => {
                return Err(LexError {
                    hint: Some(
                        "numbers are decimal, 0x hex, 0b binary or 0o octal; \
                         decimal ones may end in K, M or G"
                            .into(),
                    ),
                    ..err(format!("invalid number `{text}`"), start, self.pos)
                })
            }
        };
        let digits: String = int_part.chars().filter(|&c| c != '_').collect();
        digits
            .parse::<u64>()
            .ok()
            .and_then(|v| v.checked_mul(scale))
            .map(Tok::Num)
            .ok_or_else(|| {
                err(
                    format!("number `{text}` does not fit in 64 bits"),
                    start,
                    self.pos,
                )
            })
    }
}

enum LitChar {
    Byte(u8),
    Char(char),
}

fn number_error(
    e: &std::num::ParseIntError,
    digits: &str,
    radix: u32,
    text: &str,
    start: usize,
    end: usize,
) -> LexError {
    if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) {
        return err(
            format!("number `{text}` does not fit in 64 bits"),
            start,
            end,
        );
    }
    let bad = digits.chars().find(|c| !c.is_digit(radix)).unwrap_or('?');
    let base = match radix {
        16 => "hexadecimal",
        2 => "binary",
        _ => "octal",
    };
    err(
        format!("invalid digit `{bad}` in {base} number `{text}`"),
        start,
        end,
    )
}

/// Tokenizes one line; the comment (from `;`) is ignored.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, LexError> {
    let end = comment_start(text);
    let mut lx = Lexer {
        text: &text[..end],
        pos: 0,
    };
    let mut out = Vec::new();
    while let Some(c) = lx.peek() {
        let start = lx.pos;
        if c.is_whitespace() {
            lx.bump();
            continue;
        }
        let tok = if c.is_ascii_digit() {
            lx.number()?
        } else if is_ident_start(c) || (c == '.' && lx.peek_at(1).is_some_and(is_ident_start)) {
            lx.bump();
            lx.take_while(is_ident_char);
            Tok::Ident(lx.text[start..lx.pos].to_string())
        } else if c == '%'
            && lx.peek_at(1) == Some('%')
            && lx.peek_at(2).is_some_and(is_ident_start)
        {
            lx.pos += 2;
            let name = lx.take_while(is_ident_char);
            let mut full = format!("%%{name}");
            // The expander appends `@N` to make the name unique per expansion.
            if lx.peek() == Some('@') && lx.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                lx.bump();
                full.push('@');
                full.push_str(lx.take_while(|c| c.is_ascii_digit()));
            }
            Tok::Ident(full)
        } else if c == '"' {
            lx.string()?
        } else if c == '\'' {
            lx.character()?
        } else if c == '.' || (c == '$' && !lx.peek_at(1).is_some_and(is_ident_char)) {
            lx.bump();
            Tok::Dot
        } else if c == '\\' {
            lx.bump();
            let name = lx.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            return Err(LexError {
                hint: Some(
                    "`\\name` is replaced only inside the body of a `.macro` with a parameter \
                     `name`, or of a `.rept`/`.irp` with that variable"
                        .into(),
                ),
                ..err(
                    format!("`\\{name}` is not a parameter of any enclosing macro or repetition"),
                    start,
                    lx.pos,
                )
            });
        } else {
            lx.bump();
            let two = |lx: &mut Lexer<'_>, next: char, p2: Punct, p1: Punct| {
                if lx.peek() == Some(next) {
                    lx.bump();
                    p2
                } else {
                    p1
                }
            };
            let p = match c {
                ',' => Punct::Comma,
                ':' => Punct::Colon,
                '[' => Punct::LBracket,
                ']' => Punct::RBracket,
                '(' => Punct::LParen,
                ')' => Punct::RParen,
                '+' => Punct::Plus,
                '-' => Punct::Minus,
                '*' => Punct::Star,
                '/' => Punct::Slash,
                '%' => Punct::Percent,
                '^' => Punct::Caret,
                '~' => Punct::Tilde,
                '&' => two(&mut lx, '&', Punct::AndAnd, Punct::Amp),
                '|' => two(&mut lx, '|', Punct::OrOr, Punct::Pipe),
                '!' => two(&mut lx, '=', Punct::Ne, Punct::Bang),
                '=' => two(&mut lx, '=', Punct::EqEq, Punct::Assign),
                '<' => match lx.peek() {
                    Some('<') => {
                        lx.bump();
                        Punct::Shl
                    }
                    Some('=') => {
                        lx.bump();
                        Punct::Le
                    }
                    _ => Punct::Lt,
                },
                '>' => match lx.peek() {
                    Some('>') => {
                        lx.bump();
                        Punct::Shr
                    }
                    Some('=') => {
                        lx.bump();
                        Punct::Ge
                    }
                    _ => Punct::Gt,
                },
                other => {
                    return Err(err(
                        format!("unexpected character `{}`", other.escape_debug()),
                        start,
                        lx.pos,
                    ))
                }
            };
            Tok::Punct(p)
        };
        out.push(Token {
            tok,
            start: start as u32,
            end: lx.pos as u32,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn ident(s: &str) -> Tok {
        Tok::Ident(s.into())
    }

    #[test]
    fn instruction_line() {
        assert_eq!(
            toks("loop: add.b r1, [r2 + 8] ; comment, with [brackets]"),
            vec![
                ident("loop"),
                Tok::Punct(Punct::Colon),
                ident("add.b"),
                ident("r1"),
                Tok::Punct(Punct::Comma),
                Tok::Punct(Punct::LBracket),
                ident("r2"),
                Tok::Punct(Punct::Plus),
                Tok::Num(8),
                Tok::Punct(Punct::RBracket),
            ]
        );
    }

    #[test]
    fn numbers_in_every_base() {
        assert_eq!(
            toks("10 0x1F 0b1010 0o17 1_000 0xFFFF_FFFF_FFFF_FFFF 4K 2m"),
            vec![
                Tok::Num(10),
                Tok::Num(31),
                Tok::Num(10),
                Tok::Num(15),
                Tok::Num(1000),
                Tok::Num(u64::MAX),
                Tok::Num(4096),
                Tok::Num(2 << 20),
            ]
        );
        assert_eq!(
            toks("1.5 2e3 1.5e-3"),
            vec![Tok::Float(1.5), Tok::Float(2000.0), Tok::Float(0.0015)]
        );
    }

    #[test]
    fn bad_numbers() {
        assert_eq!(
            lex("0x").unwrap_err().message,
            "number has no digits after its prefix"
        );
        assert_eq!(
            lex("0b102").unwrap_err().message,
            "invalid digit `2` in binary number `0b102`"
        );
        assert_eq!(
            lex("0x1_0000_0000_0000_0000").unwrap_err().message,
            "number `0x1_0000_0000_0000_0000` does not fit in 64 bits"
        );
        let e = lex("mov r1, 12abc").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.start, e.end),
            ("invalid number `12abc`", 8, 13)
        );
        assert!(lex("99999999999999999999").is_err());
        assert!(lex("20000000000000000G").is_err());
    }

    #[test]
    fn characters_and_strings() {
        assert_eq!(
            toks(r#"'A' '\n' '\x41' '\'' "a;b\t\"\x00" 'é'"#),
            vec![
                Tok::Num(65),
                Tok::Num(10),
                Tok::Num(0x41),
                Tok::Num(39),
                Tok::Str(b"a;b\t\"\x00".to_vec()),
                Tok::Num('é' as u64),
            ]
        );
        assert_eq!(toks(r#""é""#), vec![Tok::Str("é".as_bytes().to_vec())]);
        assert_eq!(
            lex(r#""abc"#).unwrap_err().message,
            "unterminated string literal"
        );
        assert_eq!(
            lex(r#"'ab'"#).unwrap_err().message,
            "character literal holds more than one character"
        );
        assert_eq!(lex(r#"''"#).unwrap_err().message, "empty character literal");
        assert_eq!(lex(r#""\q""#).unwrap_err().message, "unknown escape `\\q`");
        assert_eq!(lex(r#""\x4""#).unwrap_err().message, "invalid `\\x` escape");
        assert_eq!(toks(r#""\x41BC""#), vec![Tok::Str(b"ABC".to_vec())]);
    }

    #[test]
    fn identifiers_dots_and_locals() {
        assert_eq!(
            toks(".text .loop main.loop $ . a$b %%skip@12 %%x"),
            vec![
                ident(".text"),
                ident(".loop"),
                ident("main.loop"),
                Tok::Dot,
                Tok::Dot,
                ident("a$b"),
                ident("%%skip@12"),
                ident("%%x"),
            ]
        );
    }

    #[test]
    fn operators() {
        let ps: Vec<Tok> = "<< >> <= >= == != && || < > = ! % & |"
            .split(' ')
            .flat_map(toks)
            .collect();
        assert_eq!(
            ps,
            [
                Punct::Shl,
                Punct::Shr,
                Punct::Le,
                Punct::Ge,
                Punct::EqEq,
                Punct::Ne,
                Punct::AndAnd,
                Punct::OrOr,
                Punct::Lt,
                Punct::Gt,
                Punct::Assign,
                Punct::Bang,
                Punct::Percent,
                Punct::Amp,
                Punct::Pipe
            ]
            .map(Tok::Punct)
        );
    }

    #[test]
    fn leftover_parameter_and_stray_characters() {
        let e = lex("mov r\\x, 1").unwrap_err();
        assert_eq!(
            e.message,
            "`\\x` is not a parameter of any enclosing macro or repetition"
        );
        assert_eq!((e.start, e.end), (5, 7));
        assert_eq!(
            lex("mov r1, #5").unwrap_err().message,
            "unexpected character `#`"
        );
    }

    #[test]
    fn comment_start_skips_literals() {
        assert_eq!(comment_start(r#".ascii "a;b" ; c"#), 13);
        assert_eq!(comment_start(r#"mov r1, ';' ; c"#), 12);
        assert_eq!(comment_start("nop"), 3);
        assert_eq!(comment_start(r#""\"; still" ;"#), 12);
    }

    #[test]
    fn identifier_spelling() {
        assert!(is_identifier("main"));
        assert!(is_identifier(".loop"));
        assert!(is_identifier("a.b$c_1"));
        assert!(!is_identifier("."));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }
}
