//! The profile as a text file: what `vmkit devirt --profile-out` writes and
//! `vmkit protect --profile` reads.
//!
//! ```text
//! # vmkit protection profile
//! base 0x5000
//! function 0x1000 vm 0
//! vm 0
//! regs vip=r3 vsp=r7 key=r12
//! direction forward
//! entry add 0x12; rol 5; not
//! dispatch xor.b key; add 0x5; not; rol 3
//! table sub 0x1234
//! handler 0x00 add.q
//! handler 0x01 push.d xor.d key; bswap; inc; ror 7
//! ```
//!
//! One line per fact, `#` starts a comment; every VM lists all 256 handlers.

use crate::profile::{HandlerSpec, Profile, VmProfile, VmRegs};
use crate::transform::{parse_number, Chain3, KeyChain, Transform};
use crate::vop::VKind;
use std::fmt::Write;
use vmkit_isa::Reg;

/// A profile file that does not parse: the line (1-based) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileTextError {
    /// Line number.
    pub line: usize,
    /// What was expected.
    pub message: String,
}

impl std::fmt::Display for ProfileTextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

impl std::error::Error for ProfileTextError {}

/// What a line may start with.
const KEYS: &str =
    "`base`, `function`, `vm`, `regs`, `direction`, `entry`, `dispatch`, `table` or `handler`";

impl Profile {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::from("# vmkit protection profile\n");
        let _ = writeln!(s, "base {:#x}", self.base);
        for (addr, vm) in &self.functions {
            let _ = writeln!(s, "function {addr:#x} vm {vm}");
        }
        for (k, vm) in self.vms.iter().enumerate() {
            let r = vm.regs;
            let _ = writeln!(s, "vm {k}");
            let _ = writeln!(s, "regs vip={} vsp={} key={}", r.vip, r.vsp, r.key);
            let dir = if vm.forward { "forward" } else { "backward" };
            let _ = writeln!(s, "direction {dir}");
            let _ = writeln!(s, "entry {}", vm.entry);
            let _ = writeln!(s, "dispatch {}", vm.dispatch);
            let _ = writeln!(s, "table {}", vm.table);
            for (b, h) in vm.handlers.iter().enumerate() {
                match h.imm {
                    Some(c) => {
                        let _ = writeln!(s, "handler {b:#04x} {} {c}", h.kind);
                    }
                    None => {
                        let _ = writeln!(s, "handler {b:#04x} {}", h.kind);
                    }
                }
            }
        }
        s
    }

    /// Parses [`Profile::to_text`]'s form; each VM is checked with [`VmProfile::validate`].
    pub fn parse(text: &str) -> Result<Profile, ProfileTextError> {
        let mut base = None;
        let mut functions = Vec::new();
        let mut vms: Vec<Partial> = Vec::new();
        let mut last = 0;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            last = line;
            let err = |m: &str| ProfileTextError {
                line,
                message: m.to_string(),
            };
            let l = raw.split('#').next().unwrap_or("").trim();
            let Some((key, rest)) = l.split_once(' ').or((!l.is_empty()).then_some((l, ""))) else {
                continue;
            };
            let rest = rest.trim();
            match key {
                "base" => base = Some(parse_number(rest).ok_or_else(|| err("`base ADDRESS`"))?),
                "function" => {
                    let w: Vec<&str> = rest.split_whitespace().collect();
                    let f = match w[..] {
                        [a, "vm", k] => parse_number(a).zip(parse_number(k)),
                        _ => None,
                    }
                    .ok_or_else(|| err("`function ADDRESS vm N`"))?;
                    functions.push((f.0, f.1 as usize));
                }
                "vm" => {
                    if parse_number(rest) != Some(vms.len() as u64) {
                        return Err(err(&format!(
                            "`vm {}` (VMs are numbered in order)",
                            vms.len()
                        )));
                    }
                    vms.push(Partial::default());
                }
                "regs" => {
                    let mut r = [None; 3];
                    for w in rest.split_whitespace() {
                        let (name, reg) = w
                            .split_once('=')
                            .ok_or_else(|| err("`regs vip=rA vsp=rB key=rC`"))?;
                        let i = ["vip", "vsp", "key"].iter().position(|&x| x == name);
                        let reg = Reg::parse(reg);
                        match (i, reg) {
                            (Some(i), Some(reg)) => r[i] = Some(reg),
                            _ => return Err(err("`regs vip=rA vsp=rB key=rC`")),
                        }
                    }
                    let [Some(vip), Some(vsp), Some(key)] = r else {
                        return Err(err("`regs vip=rA vsp=rB key=rC`"));
                    };
                    cur(&mut vms, line)?.regs = Some(VmRegs { vip, vsp, key });
                }
                "direction" => {
                    cur(&mut vms, line)?.forward = Some(match rest {
                        "forward" => true,
                        "backward" => false,
                        _ => return Err(err("`direction forward` or `direction backward`")),
                    })
                }
                "entry" => {
                    cur(&mut vms, line)?.entry = Some(
                        Chain3::parse(rest)
                            .ok_or_else(|| err("three transforms: `add 0x12; rol 5; not`"))?,
                    )
                }
                "dispatch" => {
                    cur(&mut vms, line)?.dispatch = Some(
                        KeyChain::parse(rest)
                            .ok_or_else(|| err("a key chain: `xor.b key; add 0x5; not; rol 3`"))?,
                    )
                }
                "table" => {
                    cur(&mut vms, line)?.table = Some(
                        Transform::parse(rest).ok_or_else(|| err("a transform: `sub 0x1234`"))?,
                    )
                }
                "handler" => {
                    let mut w = rest.splitn(3, ' ');
                    let (b, kind, chain) = (w.next(), w.next(), w.next());
                    let b = b
                        .and_then(parse_number)
                        .filter(|&b| b < 256)
                        .ok_or_else(|| err("`handler OPCODE KIND [CHAIN]`"))?;
                    let kind = kind
                        .and_then(VKind::parse)
                        .ok_or_else(|| err("a virtual instruction kind such as `add.q`"))?;
                    let imm = match chain {
                        Some(c) => Some(KeyChain::parse(c).ok_or_else(|| {
                            err("an immediate chain: `add.d key; not; inc; rol 3`")
                        })?),
                        None => None,
                    };
                    let vm = cur(&mut vms, line)?;
                    if vm.handlers[b as usize]
                        .replace(HandlerSpec { kind, imm })
                        .is_some()
                    {
                        return Err(err("each opcode once"));
                    }
                }
                _ => return Err(err(KEYS)),
            }
        }
        let line = last.max(1);
        let base = base.ok_or(ProfileTextError {
            line,
            message: "a `base` line".into(),
        })?;
        let mut out = Vec::new();
        for (k, p) in vms.into_iter().enumerate() {
            let missing = |what: &str| ProfileTextError {
                line,
                message: format!("VM {k} has no {what}"),
            };
            let handlers = p
                .handlers
                .iter()
                .enumerate()
                .map(|(b, h)| h.ok_or_else(|| missing(&format!("handler {b:#04x}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let vm = VmProfile {
                regs: p.regs.ok_or_else(|| missing("`regs`"))?,
                forward: p.forward.ok_or_else(|| missing("`direction`"))?,
                entry: p.entry.ok_or_else(|| missing("`entry`"))?,
                dispatch: p.dispatch.ok_or_else(|| missing("`dispatch`"))?,
                table: p.table.ok_or_else(|| missing("`table`"))?,
                handlers,
            };
            vm.validate().map_err(|m| ProfileTextError {
                line,
                message: format!("VM {k}: {m}"),
            })?;
            out.push(vm);
        }
        Ok(Profile {
            vms: out,
            functions,
            base,
        })
    }
}

struct Partial {
    regs: Option<VmRegs>,
    forward: Option<bool>,
    entry: Option<Chain3>,
    dispatch: Option<KeyChain>,
    table: Option<Transform>,
    handlers: Box<[Option<HandlerSpec>; 256]>,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            regs: None,
            forward: None,
            entry: None,
            dispatch: None,
            table: None,
            handlers: Box::new([None; 256]),
        }
    }
}

/// The VM that lines at `line` describe: the last `vm N`.
fn cur(vms: &mut [Partial], line: usize) -> Result<&mut Partial, ProfileTextError> {
    vms.last_mut().ok_or(ProfileTextError {
        line,
        message: "a `vm N` line first".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn round_trip() {
        let mut rng = Rng::new(3);
        let p = Profile {
            vms: vec![VmProfile::random(&mut rng), VmProfile::random(&mut rng)],
            functions: vec![(0x1000, 0), (0x1047, 1)],
            base: 0x5000,
        };
        assert_eq!(Profile::parse(&p.to_text()), Ok(p));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Profile::parse("base 0x5000\nvm 0\nregs vip=r1 vsp=r2\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = Profile::parse("base 0x5000\nvm 0\nfrobnicate\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = Profile::parse("base 0x5000\nvm 0\n").unwrap_err();
        assert!(e.message.contains("VM 0 has no handler 0x00"), "{e}");
    }
}
