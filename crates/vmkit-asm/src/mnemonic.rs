//! Instruction names: every spelling the assembler accepts, derived from the ISA table.
//!
//! Nothing here lists an instruction by hand. A mnemonic is the table's `mnemonic`, with the
//! condition folded in for `Cond`-first instructions (`jz`, `setnz`, `cmovl`, and every alias
//! `Cond::parse` knows, such as `je`), and a size suffix `.b .w .d .q` on sized ones.

use std::sync::OnceLock;
use vmkit_isa::{Cond, Form, Op, Size, OPS};

/// What a written mnemonic means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mnemonic {
    /// Instructions with this name; `jmp` and `call` have a direct and an indirect form.
    pub ops: Vec<Op>,
    pub cond: Option<Cond>,
    pub size: Size,
    /// The suffix as written (`.b`), if any.
    pub suffix: Option<String>,
}

/// Why a word is not a mnemonic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MnemonicError {
    Unknown,
    /// A size suffix on an instruction without size variants (`nop.b`).
    SuffixOnPlain {
        base: String,
        suffix: String,
    },
    /// `mov.x`.
    BadSuffix {
        base: String,
        suffix: String,
    },
}

/// Every condition spelling `Cond::parse` accepts, canonical names first.
///
/// The aliases live inside vmkit-isa's `conditions!` table; rather than copy them, ask
/// `Cond::parse` about every short lower-case word once.
fn condition_spellings() -> &'static [(String, Cond)] {
    static SPELLINGS: OnceLock<Vec<(String, Cond)>> = OnceLock::new();
    SPELLINGS.get_or_init(|| {
        let mut out: Vec<(String, Cond)> = Cond::ALL
            .iter()
            .map(|c| (c.name().to_string(), *c))
            .collect();
        let letters = || (b'a'..=b'z').map(|b| b as char);
        let mut words: Vec<String> = letters().map(String::from).collect();
        for a in letters() {
            for b in letters() {
                words.push(format!("{a}{b}"));
                for c in letters() {
                    words.push(format!("{a}{b}{c}"));
                }
            }
        }
        for w in words {
            if let Some(c) = Cond::parse(&w) {
                if !out.iter().any(|(s, _)| *s == w) {
                    out.push((w, c));
                }
            }
        }
        out
    })
}

/// Resolves a written mnemonic (any case).
pub(crate) fn resolve(word: &str) -> Result<Mnemonic, MnemonicError> {
    let lower = word.to_ascii_lowercase();
    let (base, suffix) = match lower.rsplit_once('.') {
        Some((b, s)) => (b, Some(s)),
        None => (lower.as_str(), None),
    };
    let mut ops = Vec::new();
    let mut cond = None;
    for info in OPS {
        if info.has_cond() {
            if let Some(rest) = base.strip_prefix(info.mnemonic) {
                if let Some(c) = Cond::parse(rest) {
                    ops.push(info.op);
                    cond = Some(c);
                }
            }
        } else if info.mnemonic == base {
            ops.push(info.op);
        }
    }
    if ops.is_empty() {
        return Err(MnemonicError::Unknown);
    }
    let sized = ops.iter().all(|op| op.info().form == Form::Sized);
    let size = match suffix {
        None => Size::Q,
        Some(s) if !sized => {
            return Err(MnemonicError::SuffixOnPlain {
                base: base.to_string(),
                suffix: s.to_string(),
            })
        }
        Some(s) => Size::from_suffix(s).ok_or_else(|| MnemonicError::BadSuffix {
            base: base.to_string(),
            suffix: s.to_string(),
        })?,
    };
    Ok(Mnemonic {
        ops,
        cond,
        size,
        suffix: suffix.map(|s| format!(".{s}")),
    })
}

/// Every accepted spelling in lower case: plain names, each condition spelling folded in,
/// and each size suffix on sized instructions. In table order, without duplicates.
pub(crate) fn all() -> &'static [String] {
    static ALL: OnceLock<Vec<String>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: String| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        for info in OPS {
            let bases: Vec<String> = if info.has_cond() {
                condition_spellings()
                    .iter()
                    .map(|(c, _)| format!("{}{c}", info.mnemonic))
                    .collect()
            } else {
                vec![info.mnemonic.to_string()]
            };
            for base in bases {
                if info.form == Form::Sized {
                    push(base.clone());
                    for size in Size::ALL {
                        push(format!("{base}.{}", size.suffix()));
                    }
                } else {
                    push(base);
                }
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_sized_and_conditional() {
        let m = resolve("ADD.b").unwrap();
        assert_eq!((m.ops, m.size, m.cond), (vec![Op::Add], Size::B, None));
        let m = resolve("jne").unwrap();
        assert_eq!((m.ops, m.cond), (vec![Op::Jcc], Some(Cond::Nz)));
        let m = resolve("setc.d").unwrap();
        assert_eq!(
            (m.ops, m.size, m.cond),
            (vec![Op::Setcc], Size::D, Some(Cond::B))
        );
        let m = resolve("cmovnle").unwrap();
        assert_eq!(
            (m.ops, m.size, m.cond),
            (vec![Op::Cmovcc], Size::Q, Some(Cond::G))
        );
        assert_eq!(resolve("jmp").unwrap().ops, vec![Op::Jmp, Op::JmpInd]);
        assert_eq!(resolve("call").unwrap().ops, vec![Op::Call, Op::CallInd]);
    }

    #[test]
    fn errors() {
        assert_eq!(resolve("mvo"), Err(MnemonicError::Unknown));
        assert_eq!(resolve("jxx"), Err(MnemonicError::Unknown));
        assert_eq!(
            resolve("nop.b"),
            Err(MnemonicError::SuffixOnPlain {
                base: "nop".into(),
                suffix: "b".into()
            })
        );
        assert_eq!(
            resolve("jz.b"),
            Err(MnemonicError::SuffixOnPlain {
                base: "jz".into(),
                suffix: "b".into()
            })
        );
        assert_eq!(
            resolve("mov.x"),
            Err(MnemonicError::BadSuffix {
                base: "mov".into(),
                suffix: "x".into()
            })
        );
    }

    #[test]
    fn list_covers_every_spelling_and_each_resolves() {
        let all = all();
        for s in [
            "nop", "mov", "mov.b", "mov.q", "jz", "je", "jnae", "setnz.w", "cmovge.d", "hcall",
        ] {
            assert!(all.iter().any(|m| m == s), "{s} missing");
        }
        assert!(!all.iter().any(|m| m == "nop.b"));
        for m in all {
            assert!(resolve(m).is_ok(), "{m} listed but does not resolve");
        }
        let jumps = all
            .iter()
            .filter(|m| m.starts_with('j') && *m != "jmp")
            .count();
        assert_eq!(jumps, condition_spellings().len());
    }
}
