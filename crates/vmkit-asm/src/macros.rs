//! Macros and repetitions as text: definitions, argument binding and substitution.
//!
//! Expansion is textual, as in GAS: a body line with `\param` replaced is an ordinary line,
//! so `r\n` can become `r3` and `insn_\name:` a label. Substitution skips string and
//! character literals (so `"\n"` stays a newline) and comments. Every substituted line keeps
//! a column map back to the body line it came from, so diagnostics point at what the user
//! wrote.
//!
//! This module does not decide *when* to expand; the front end does.

use crate::lexer::comment_start;
use crate::source::{ColMap, Origin};
use std::collections::HashMap;

/// A line not yet parsed: its text and where it came from.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawLine {
    pub text: String,
    pub origin: Origin,
}

/// A macro parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: String,
    pub default: Option<String>,
    /// Takes all remaining arguments, commas included.
    pub vararg: bool,
}

/// A `.macro` definition.
#[derive(Debug)]
pub(crate) struct MacroDef {
    pub name: String,
    pub params: Vec<Param>,
    pub body: Vec<RawLine>,
    /// `file:line:col` of the definition, for "already defined" notes.
    pub defined_at: String,
}

fn is_param_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_param_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_param_char)
}

/// The first word of a line after any `label:` prefixes, in lower case. Works on raw body
/// text that may still contain `\param`, which the lexer would reject.
pub(crate) fn head_word(text: &str) -> String {
    let code = &text[..comment_start(text)];
    let mut rest = code.trim_start();
    loop {
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ':' || c == ',')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        let after = rest[end..].trim_start();
        if let Some(next) = after.strip_prefix(':').filter(|_| !word.is_empty()) {
            rest = next.trim_start();
            continue;
        }
        return word.to_ascii_lowercase();
    }
}

/// Byte ranges of the comma-separated parts of `text`, trimmed. Commas inside parentheses,
/// brackets and literals do not split. Empty text has no parts.
pub(crate) fn split_args(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b',' if depth <= 0 => {
                parts.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push((start, bytes.len()));
    if parts.len() == 1 && text.trim().is_empty() {
        return Vec::new();
    }
    parts
        .into_iter()
        .map(|(s, e)| {
            let s = s.min(text.len());
            let e = e.min(text.len()).max(s);
            let part = &text[s..e];
            let lead = part.len() - part.trim_start().len();
            (s + lead, s + lead + part.trim().len())
        })
        .collect()
}

/// Parses the text after `.macro`: `name p1, p2=default, rest:vararg`.
pub(crate) fn parse_macro_header(text: &str) -> Result<(String, Vec<Param>), String> {
    let text = text.trim();
    let name_end = text
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() {
        return Err("`.macro` needs a name".into());
    }
    if !crate::lexer::is_identifier(name) || name.starts_with('.') {
        return Err(format!("`{name}` is not a valid macro name"));
    }
    let rest = text[name_end..].trim_start();
    let rest = rest.strip_prefix(',').unwrap_or(rest);
    let mut params: Vec<Param> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (s, e) in split_args(rest) {
        let part = &rest[s..e];
        let (decl, default) = match part.split_once('=') {
            Some((d, v)) => (d.trim(), Some(v.trim().to_string())),
            None => (part, None),
        };
        let (pname, vararg) = match decl.split_once(':') {
            Some((n, q)) if q.trim().eq_ignore_ascii_case("vararg") => (n.trim(), true),
            Some((n, q)) if q.trim().eq_ignore_ascii_case("req") => (n.trim(), false),
            Some((_, q)) => return Err(format!("unknown parameter qualifier `:{}`", q.trim())),
            None => (decl, false),
        };
        if !is_param_name(pname) {
            return Err(format!("`{pname}` is not a valid parameter name"));
        }
        // A set, not a search of `params`: a header can have a hundred thousand of them.
        if !seen.insert(pname.to_string()) {
            return Err(format!("parameter `{pname}` is declared twice"));
        }
        if params.last().is_some_and(|p| p.vararg) {
            return Err("a `:vararg` parameter must be the last one".into());
        }
        params.push(Param {
            name: pname.to_string(),
            default,
            vararg,
        });
    }
    Ok((name.to_string(), params))
}

/// Binds an invocation's argument text to the macro's parameters: positional, or
/// `name=value`; a blank argument takes the default.
pub(crate) fn bind_args(def: &MacroDef, text: &str) -> Result<Vec<(String, String)>, String> {
    let parts = split_args(text);
    let mut bound: Vec<Option<String>> = vec![None; def.params.len()];
    let by_name: HashMap<&str, usize> = def
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut next_positional = 0;
    for &(s, e) in &parts {
        let part = &text[s..e];
        if let Some((name, value)) = part.split_once('=') {
            let name = name.trim();
            // `a == b` is an expression, not a named argument.
            if !value.starts_with('=') {
                if let Some(&i) = by_name.get(name) {
                    if bound[i].is_some() {
                        return Err(format!("argument `{name}` is given twice"));
                    }
                    bound[i] = Some(value.trim().to_string());
                    continue;
                }
            }
        }
        while next_positional < def.params.len() && bound[next_positional].is_some() {
            next_positional += 1;
        }
        let Some(param) = def.params.get(next_positional) else {
            return Err(format!(
                "macro `{}` takes {} argument{}, but {} were given",
                def.name,
                def.params.len(),
                if def.params.len() == 1 { "" } else { "s" },
                parts.len()
            ));
        };
        if param.vararg {
            // Everything from here to the end, commas included.
            bound[next_positional] = Some(text[s..].trim().to_string());
            break;
        }
        bound[next_positional] = Some(part.to_string());
    }
    def.params
        .iter()
        .zip(bound)
        .map(|(p, value)| {
            let value = match (value, &p.default) {
                (Some(v), Some(d)) if v.is_empty() => d.clone(),
                (Some(v), _) => v,
                (None, Some(d)) => d.clone(),
                (None, None) if p.vararg => String::new(),
                (None, None) => {
                    return Err(format!(
                        "missing argument `{}` of macro `{}`",
                        p.name, def.name
                    ))
                }
            };
            Ok((p.name.clone(), value))
        })
        .collect()
}

/// What to replace in a body.
pub(crate) struct Substitution<'a> {
    /// `\name` -> text.
    pub vars: &'a HashMap<String, String>,
    /// Replaces `\@` and renames `%%label` to `%%label@N`; `None` leaves them alone.
    pub unique: Option<u64>,
}

/// Substitutes every line of a body. A nested `.rept`/`.irp` whose variable has the same
/// name as one of ours gets to bind it itself inside its body.
///
/// `max_bytes` bounds the text produced, and `max_line` each line: a body that refers to a
/// long argument many times (or a macro that passes its arguments to itself twice,
/// doubling them at every level) would otherwise build lines of any size. `Err` when a
/// limit would be passed; nothing larger than about twice a limit is ever built.
pub(crate) fn substitute_body(
    body: &[RawLine],
    subst: &Substitution<'_>,
    max_bytes: usize,
    max_line: usize,
) -> Result<Vec<RawLine>, TooLong> {
    let mut shadows: Vec<Option<String>> = Vec::new();
    // How many open blocks bind each hidden name: kept up to date as blocks open and close,
    // since rebuilding it at every line made deeply nested blocks cost the cube of their
    // depth.
    let mut hidden: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(body.len());
    let mut room = max_bytes;
    for line in body {
        let is_hidden = |name: &str| hidden.contains_key(name);
        let (text, map) = substitute_line(
            &line.text,
            line.origin.col_map.as_deref(),
            subst,
            &is_hidden,
            room.min(max_line),
        )
        .ok_or(if room < max_line {
            TooLong::Total
        } else {
            TooLong::Line
        })?;
        room -= text.len();
        let mut origin = line.origin.clone();
        if let Some(map) = map {
            origin.col_map = Some(map);
        }
        match head_word(&line.text).as_str() {
            ".rept" | ".irp" => {
                let var = block_variable(&line.text);
                let var = var.filter(|v| subst.vars.contains_key(v));
                if let Some(v) = &var {
                    *hidden.entry(v.clone()).or_insert(0) += 1;
                }
                shadows.push(var);
            }
            ".endr" => {
                if let Some(Some(v)) = shadows.pop() {
                    if let Some(n) = hidden.get_mut(&v) {
                        *n -= 1;
                        if *n == 0 {
                            hidden.remove(&v);
                        }
                    }
                }
            }
            _ => {}
        }
        out.push(RawLine { text, origin });
    }
    Ok(out)
}

/// Which limit of [`substitute_body`] was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TooLong {
    /// All lines together.
    Total,
    /// One line.
    Line,
}

/// The variable a `.rept count, var` or `.irp var, items` line binds.
pub(crate) fn block_variable(text: &str) -> Option<String> {
    let code = &text[..comment_start(text)];
    let head = head_word(code);
    let at = code.to_ascii_lowercase().find(&head)? + head.len();
    let rest = &code[at..];
    let parts = split_args(rest);
    let (s, e) = match head.as_str() {
        ".rept" => *parts.get(1)?,
        _ => *parts.first()?,
    };
    let name = &rest[s..e];
    is_param_name(name).then(|| name.to_string())
}

/// Substitutes one line. Returns the new text and, if anything changed, its column map
/// composed with `prev_map` (the map of the line being substituted, if it was itself the
/// product of a substitution). `None` if the new text would be longer than `max_bytes`.
pub(crate) fn substitute_line(
    text: &str,
    prev_map: Option<&[(u32, u32)]>,
    subst: &Substitution<'_>,
    hidden: &dyn Fn(&str) -> bool,
    max_bytes: usize,
) -> Option<(String, Option<ColMap>)> {
    if text.len() > max_bytes {
        return None;
    }
    let orig = |i: usize| -> (u32, u32) {
        match prev_map {
            Some(m) => m
                .get(i)
                .copied()
                .unwrap_or((text.len() as u32, text.len() as u32)),
            None => (i as u32, i as u32 + 1),
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut map: Vec<(u32, u32)> = Vec::with_capacity(text.len());
    let mut changed = false;
    let copy = |out: &mut String, map: &mut Vec<(u32, u32)>, from: usize, to: usize| {
        out.push_str(&text[from..to]);
        for i in from..to {
            map.push(orig(i));
        }
    };
    let insert =
        |out: &mut String, map: &mut Vec<(u32, u32)>, value: &str, from: usize, to: usize| {
            let range = (orig(from).0, orig(to.saturating_sub(1).max(from)).1);
            out.push_str(value);
            map.extend(std::iter::repeat_n(range, value.len()));
        };
    let code_end = comment_start(text);
    let bytes = text.as_bytes();
    let mut i = 0;
    // Set right after copying a `\name` that is not ours: a `\()` that follows belongs to
    // whoever substitutes that name later, so it must survive this pass.
    let mut after_foreign_param = false;
    while i < code_end {
        // Checked after every step: a step adds at most one value, which is itself within
        // the limit, so the text never grows far past it.
        if out.len() > max_bytes {
            return None;
        }
        let c = bytes[i];
        let foreign = std::mem::take(&mut after_foreign_param);
        match c {
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                while i < code_end && bytes[i] != c {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(code_end);
                copy(&mut out, &mut map, start, i);
            }
            b'\\' => {
                let start = i;
                let rest = &text[i + 1..code_end];
                if rest.starts_with("()") {
                    if foreign {
                        copy(&mut out, &mut map, i, i + 3);
                    } else {
                        changed = true;
                    }
                    i += 3;
                    continue;
                }
                if rest.starts_with('@') {
                    if let Some(n) = subst.unique {
                        i += 2;
                        insert(&mut out, &mut map, &n.to_string(), start, i);
                        changed = true;
                        continue;
                    }
                }
                let name_len = rest.find(|c: char| !is_param_char(c)).unwrap_or(rest.len());
                let name = &rest[..name_len];
                match subst.vars.get(name) {
                    Some(value) if !name.is_empty() && !hidden(name) => {
                        i += 1 + name_len;
                        insert(&mut out, &mut map, value, start, i);
                        changed = true;
                    }
                    _ => {
                        copy(&mut out, &mut map, i, i + 1 + name_len);
                        i += 1 + name_len;
                        after_foreign_param = name_len > 0;
                    }
                }
            }
            b'%' if subst.unique.is_some()
                && bytes.get(i + 1) == Some(&b'%')
                && bytes
                    .get(i + 2)
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') =>
            {
                let start = i;
                i += 2;
                while i < code_end && crate::lexer::is_ident_char(bytes[i] as char) {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'@') {
                    // Already renamed by an enclosing macro: unique per that expansion.
                    i += 1;
                    while i < code_end && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    copy(&mut out, &mut map, start, i);
                    continue;
                }
                copy(&mut out, &mut map, start, i);
                let tag = format!("@{}", subst.unique.unwrap_or(0));
                insert(&mut out, &mut map, &tag, i - 1, i);
                changed = true;
            }
            _ => {
                // Copy a whole UTF-8 character.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                copy(&mut out, &mut map, i, i + len);
                i += len;
            }
        }
    }
    copy(&mut out, &mut map, code_end, text.len());
    if out.len() > max_bytes {
        None
    } else if changed {
        Some((out, Some(map.into())))
    } else {
        Some((text.to_string(), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn sub(text: &str, pairs: &[(&str, &str)], unique: Option<u64>) -> String {
        let v = vars(pairs).into_iter().collect();
        substitute_line(
            text,
            None,
            &Substitution { vars: &v, unique },
            &|_| false,
            usize::MAX,
        )
        .unwrap()
        .0
    }

    #[test]
    fn parameters_labels_and_unique_numbers() {
        assert_eq!(sub("  mov r\\n, \\n", &[("n", "3")], None), "  mov r3, 3");
        assert_eq!(
            sub("insn_\\name\\()_x:", &[("name", "add")], None),
            "insn_add_x:"
        );
        assert_eq!(sub("l\\@: jmp %%done", &[], Some(7)), "l7: jmp %%done@7");
        assert_eq!(sub("mov r\\nn, 1", &[("n", "3")], None), "mov r\\nn, 1");
        assert_eq!(
            sub("mov r\\a, \\ab", &[("a", "1"), ("ab", "2")], None),
            "mov r1, 2"
        );
        // A `\()` after someone else's parameter is left for them.
        assert_eq!(
            sub("\\m movwq\\t\\()q\\s", &[("m", "icode")], None),
            "icode movwq\\t\\()q\\s"
        );
        assert_eq!(sub("movwq\\t\\()q\\s", &[("t", "0")], None), "movwq0q\\s");
    }

    #[test]
    fn literals_and_comments_are_left_alone() {
        assert_eq!(
            sub(".asciz \"x\\n\" ; \\n here", &[("n", "0")], None),
            ".asciz \"x\\n\" ; \\n here"
        );
        assert_eq!(
            sub("mov r1, '\\n' + \\n", &[("n", "2")], None),
            "mov r1, '\\n' + 2"
        );
    }

    #[test]
    fn column_map_points_at_the_parameter() {
        let v = vars(&[("reg", "r12")]).into_iter().collect();
        let (text, map) = substitute_line(
            "mov \\reg, 1",
            None,
            &Substitution {
                vars: &v,
                unique: None,
            },
            &|_| false,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(text, "mov r12, 1");
        let map = map.unwrap();
        assert_eq!(map[4], (4, 8));
        assert_eq!(map[6], (4, 8));
        assert_eq!(map[7], (8, 9));
        // Substituting again composes with the first map.
        let v2 = vars(&[("x", "2")]).into_iter().collect();
        let (text2, map2) = substitute_line(
            "mov r12, \\x",
            Some(&map),
            &Substitution {
                vars: &v2,
                unique: None,
            },
            &|_| false,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(text2, "mov r12, 2");
        assert_eq!(map2.unwrap()[9], (10, 11));
    }

    #[test]
    fn substitution_stops_at_the_byte_limit() {
        let v = vars(&[("a", "xxxxxxxxxx")]).into_iter().collect();
        let subst = Substitution {
            vars: &v,
            unique: None,
        };
        let line = "\\a \\a \\a";
        let fits = substitute_line(line, None, &subst, &|_| false, 32);
        assert_eq!(fits.unwrap().0.len(), 32);
        assert!(substitute_line(line, None, &subst, &|_| false, 31).is_none());
        let body = vec![
            RawLine {
                text: line.to_string(),
                origin: Origin::default(),
            };
            3
        ];
        assert!(substitute_body(&body, &subst, 96, 32).is_ok());
        assert_eq!(
            substitute_body(&body, &subst, 95, 32).unwrap_err(),
            TooLong::Total
        );
        assert_eq!(
            substitute_body(&body, &subst, 96, 31).unwrap_err(),
            TooLong::Line
        );
    }

    #[test]
    fn args_split_on_top_level_commas() {
        let t = r#"r1, [r2 + 8], (1, 2), "a,b", ',' , "#;
        let parts: Vec<&str> = split_args(t).into_iter().map(|(s, e)| &t[s..e]).collect();
        assert_eq!(
            parts,
            vec!["r1", "[r2 + 8]", "(1, 2)", "\"a,b\"", "','", ""]
        );
        assert!(split_args("   ").is_empty());
    }

    #[test]
    fn headers_and_binding() {
        let (name, params) = parse_macro_header(" push2 a, b=r0, rest:vararg").unwrap();
        assert_eq!(name, "push2");
        assert_eq!(params.len(), 3);
        assert_eq!(params[1].default.as_deref(), Some("r0"));
        assert!(params[2].vararg);
        let def = MacroDef {
            name,
            params,
            body: vec![],
            defined_at: String::new(),
        };
        let b = bind_args(&def, "r1").unwrap();
        assert_eq!(b, vars(&[("a", "r1"), ("b", "r0"), ("rest", "")]));
        let b = bind_args(&def, "r1, r2, x, [y, z]").unwrap();
        assert_eq!(b, vars(&[("a", "r1"), ("b", "r2"), ("rest", "x, [y, z]")]));
        let b = bind_args(&def, "b=r5, r1").unwrap();
        assert_eq!(b, vars(&[("a", "r1"), ("b", "r5"), ("rest", "")]));
        let b = bind_args(&def, "r1, ,").unwrap();
        assert_eq!(b[1].1, "r0");
        assert_eq!(
            bind_args(&def, "").unwrap_err(),
            "missing argument `a` of macro `push2`"
        );
        assert_eq!(
            parse_macro_header("m a, a").unwrap_err(),
            "parameter `a` is declared twice"
        );
        assert_eq!(
            parse_macro_header("m a:vararg, b").unwrap_err(),
            "a `:vararg` parameter must be the last one"
        );
        assert_eq!(parse_macro_header("").unwrap_err(), "`.macro` needs a name");
        assert_eq!(
            parse_macro_header("1x").unwrap_err(),
            "`1x` is not a valid macro name"
        );
        let two = MacroDef {
            name: "two".into(),
            params: parse_macro_header("two a, b").unwrap().1,
            body: vec![],
            defined_at: String::new(),
        };
        assert_eq!(
            bind_args(&two, "1, 2, 3").unwrap_err(),
            "macro `two` takes 2 arguments, but 3 were given"
        );
        assert_eq!(bind_args(&two, "1, a == 2").unwrap()[1].1, "a == 2");
    }

    #[test]
    fn head_words() {
        assert_eq!(head_word("  .REPT 4, n ; x"), ".rept");
        assert_eq!(head_word("a: b: .endr"), ".endr");
        assert_eq!(head_word("insn_\\n: mov r1, 2"), "mov");
        assert_eq!(head_word("; only a comment"), "");
        assert_eq!(block_variable(".rept 4, n"), Some("n".into()));
        assert_eq!(block_variable(".rept 4"), None);
        assert_eq!(block_variable(".irp reg, r1, r2"), Some("reg".into()));
    }
}
