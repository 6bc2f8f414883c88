//! The workspace's layout rules, checked on the source (docs/architecture.md):
//! - no cycle between the files of a crate (a file uses another, which uses it back,
//!   directly or around a loop), except between a folder's `mod.rs` and its own files;
//! - no cycle between the top-level modules of a crate, and the x86 guest's layers only
//!   look down: `cpu` <- `engine`, `cpu` <- `linux`, and the facade (`machine`) over all;
//! - one table per fact: one system-call table and one signal table in the workspace.
//!
//! The module graph is read from paths in the source (`crate::a::b`, `super::x`,
//! `self::x`, and `use` trees with braces), each resolved to the deepest file module it
//! names. That is cheaper than a compiler plugin and catches what these rules are about:
//! a file reaching sideways into a sibling that reaches back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module is its path from the crate root: `[]` is `lib.rs`, `["linux", "fs"]` is
/// `linux/fs.rs` or `linux/fs/mod.rs`.
type Module = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(workspace().join("crates"))
        .expect("crates/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("src").is_dir())
        .collect();
    out.sort();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a file under `src` defines; `None` for a binary's own root (`src/bin/*.rs`).
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.trim_end_matches(".rs");
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// Source text without comments, string and char literals (so doc examples and messages
/// cannot make edges).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'r' if b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"') => {
                // A raw string r"..." or r#"..."#, or an identifier starting with r.
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
                if !prev_ident && b.get(i + 1 + hashes) == Some(&b'"') {
                    let close: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    i += 2 + hashes;
                    while i < b.len() && !b[i..].starts_with(&close) {
                        i += 1;
                    }
                    i += close.len();
                    out.push_str("\"\"");
                } else {
                    out.push('r');
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                let end = b[i + 1..].iter().take(12).position(|&c| c == b'\'');
                match end {
                    Some(n) if n == 1 || b[i + 1] == b'\\' => i += n + 2,
                    _ => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            c => {
                // Multi-byte characters are copied whole.
                let len = std::str::from_utf8(&b[i..])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                if c.is_ascii() {
                    out.push(c as char);
                } else {
                    out.push_str(&text[i..i + len]);
                }
                i += len;
            }
        }
    }
    out
}

/// Every path a piece of code names from `crate`, `super` or `self`, as segments, with
/// `use` trees expanded (`use crate::{a::X, b::{Y, Z}}` names `crate::a::X`, ...).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` trees first; then every inline path.
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let tail = &rest[at + 3..];
        let end = tail.find(';').unwrap_or(tail.len());
        expand_use(tail[..end].trim(), &mut Vec::new(), &mut out);
        rest = &tail[end..];
    }
    let b = code.as_bytes();
    for root in ["crate", "super", "self"] {
        let mut from = 0;
        while let Some(at) = find_word(&code[from..], root) {
            let start = from + at;
            let mut segs = vec![root.to_string()];
            let mut i = start + root.len();
            while code[i..].starts_with("::") {
                let j = i + 2;
                let k = j + b[j..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                if k == j {
                    break;
                }
                segs.push(code[j..k].to_string());
                i = k;
            }
            if segs.len() > 1 {
                out.push(segs);
            }
            from = i.max(start + root.len());
        }
    }
    out
}

/// The byte offset of `word` as a whole word in `s`.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(at) = s[from..].find(word) {
        let i = from + at;
        let before = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let j = i + word.len();
        let after = j >= b.len() || !(b[j].is_ascii_alphanumeric() || b[j] == b'_');
        if before && after {
            return Some(i);
        }
        from = j;
    }
    None
}

fn expand_use(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim().trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let n = prefix.len();
        prefix.extend(head);
        for part in split_top(inner) {
            expand_use(part, prefix, out);
        }
        prefix.truncate(n);
    } else {
        let name = tree.split(" as ").next().unwrap_or("").trim();
        let mut full = prefix.clone();
        full.extend(
            name.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "*")
                .map(String::from),
        );
        if full.len() > 1 && matches!(full[0].as_str(), "crate" | "super" | "self") {
            out.push(full);
        }
    }
}

/// `a, b::{c, d}, e` split at the commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The deepest known module that `path`, named from `from`, reaches.
fn resolve(path: &[String], from: &Module, known: &BTreeSet<Module>) -> Option<Module> {
    let mut base: Module = match path[0].as_str() {
        "crate" => Vec::new(),
        "self" => from.clone(),
        "super" => {
            let mut m = from.clone();
            m.pop()?;
            m
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    let mut best = base.clone();
    for seg in rest {
        base.push(seg.clone());
        if known.contains(&base) {
            best = base.clone();
        } else {
            break;
        }
    }
    Some(best)
}

/// One crate's module graph: an edge from each file module to each module it names.
struct Graph {
    name: String,
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

fn graph(krate: &Path) -> Graph {
    let src = krate.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mods: Vec<(Module, PathBuf)> = files
        .iter()
        .filter_map(|f| Some((module_of(&src, f)?, f.clone())))
        .collect();
    let known: BTreeSet<Module> = mods.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, file) in &mods {
        let text = std::fs::read_to_string(file).expect("source is readable");
        let set = edges.entry(m.clone()).or_default();
        for p in paths(&code_only(&text)) {
            if let Some(to) = resolve(&p, m, &known) {
                set.insert(to);
            }
        }
    }
    Graph {
        name: krate
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        edges,
    }
}

/// Whether one of the two modules contains the other (a folder and its own files).
fn nested(a: &Module, b: &Module) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The strongly connected components with more than one member (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            let Some((w, _)) = edges.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "crate root".into()
    } else {
        m.join("::")
    }
}

/// Fails with `what` and every cycle of the graph `view` makes of each crate's modules.
fn assert_no_cycles(what: &str, view: impl Fn(&Graph) -> BTreeMap<Module, BTreeSet<Module>>) {
    let mut found = Vec::new();
    for krate in crates() {
        let g = graph(&krate);
        for c in cycles(&view(&g)) {
            found.push(format!(
                "{}: {}",
                g.name,
                c.iter().map(show).collect::<Vec<_>>().join(" <-> ")
            ));
        }
    }
    assert!(found.is_empty(), "{what}:\n  {}", found.join("\n  "));
}

#[test]
fn no_cycle_between_files() {
    assert_no_cycles(
        "module cycles (each file uses the next, around the loop)",
        |g| {
            g.edges
                .iter()
                .map(|(m, to)| {
                    let to = to.iter().filter(|t| !nested(m, t)).cloned().collect();
                    (m.clone(), to)
                })
                .collect()
        },
    );
}

#[test]
fn no_cycle_between_top_level_modules() {
    assert_no_cycles("cycles between top-level modules", |g| {
        let mut top: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (m, to) in &g.edges {
            let Some(head) = m.first() else { continue };
            let set = top.entry(vec![head.clone()]).or_default();
            for t in to {
                if let Some(h) = t.first().filter(|h| *h != head) {
                    set.insert(vec![h.clone()]);
                }
            }
        }
        top
    });
}

/// The x86 guest's layers, lowest first, and the layers each may use.
const X86_LAYERS: &[(&str, &[&str])] = &[
    ("cpu", &[]),
    ("engine", &["cpu"]),
    ("linux", &["cpu"]),
    ("machine", &["cpu", "engine", "linux"]),
];

#[test]
fn x86_layers_only_look_down() {
    let g = graph(&workspace().join("crates/vmkit-x86"));
    let mut found = Vec::new();
    let tops: BTreeSet<&str> = g
        .edges
        .keys()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    for t in &tops {
        assert!(
            X86_LAYERS.iter().any(|(l, _)| l == t),
            "vmkit-x86 has a top-level module `{t}` outside its layers {:?}: put it in one \
             (docs/architecture.md) and in X86_LAYERS",
            X86_LAYERS.iter().map(|l| l.0).collect::<Vec<_>>()
        );
    }
    for (m, to) in &g.edges {
        let Some(head) = m.first() else { continue };
        let allowed = X86_LAYERS
            .iter()
            .find(|(l, _)| l == head)
            .map_or(&[][..], |l| l.1);
        for t in to {
            if let Some(h) = t.first().filter(|h| *h != head) {
                if !allowed.contains(&h.as_str()) {
                    found.push(format!("{} uses {}", show(m), show(t)));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "vmkit-x86 layers may only use the layers below them ({X86_LAYERS:?}):\n  {}",
        found.join("\n  ")
    );
}

/// The files of every crate's `src` whose code names all of `words` as whole words.
fn files_naming(words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for krate in crates() {
        let mut files = Vec::new();
        rust_files(&krate.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source is readable");
            if words
                .iter()
                .all(|w| find_word(&text, w).is_some() || text.contains(&format!("\"{w}\"")))
            {
                out.push(
                    f.strip_prefix(workspace())
                        .unwrap_or(&f)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn one_system_call_table() {
    // Names only a table of i386 system calls holds all of.
    let files = files_naming(&[
        "exit_group",
        "rt_sigaction",
        "set_thread_area",
        "getdents64",
    ]);
    assert_eq!(
        files.len(),
        1,
        "the i386 system calls must be listed in exactly one table (number, name, strace \
         signature, handler); these files each list them: {files:?}"
    );
}

#[test]
fn one_signal_table() {
    // Signals no message names, which only a table of them holds.
    let files = files_naming(&["SIGSTKFLT", "SIGXFSZ", "SIGVTALRM"]);
    assert_eq!(
        files.len(),
        1,
        "the signals must be listed in exactly one table; these files each list them: {files:?}"
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    // A checker that finds nothing proves nothing: a made-up pair must be a cycle.
    let known: BTreeSet<Module> = [vec!["a".to_string()], vec!["b".to_string()]].into();
    let a = vec!["a".to_string()];
    let b = vec!["b".to_string()];
    let mut edges = BTreeMap::new();
    for (from, code) in [
        (&a, "use crate::{b::Thing, c}; // crate::x"),
        (&b, "fn f() { super::a::g(\"crate::b\") }"),
    ] {
        let to: BTreeSet<Module> = paths(&code_only(code))
            .iter()
            .filter_map(|p| resolve(p, from, &known))
            .filter(|t| !nested(from, t))
            .collect();
        edges.insert(from.clone(), to);
    }
    assert_eq!(cycles(&edges), vec![vec![a, b]]);
}
