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
use vmkit_isa::{Reg, Size};

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

    /// Parses [`Profile::to_text`]'s form strictly: every fact once, every chain at its
    /// width with constants and rotations that fit it; each VM is checked with
    /// [`VmProfile::validate`]. An error names the line at fault (for something missing,
    /// the `vm N` line of the VM that lacks it, or the last line for `base`).
    pub fn parse(text: &str) -> Result<Profile, ProfileTextError> {
        let mut base: Option<(u64, usize)> = None;
        let mut functions: Vec<(u64, usize, usize)> = Vec::new(); // address, vm, line
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
                "base" => {
                    if let Some((_, first)) = base {
                        return Err(err(&format!("one `base` line (the first is line {first})")));
                    }
                    base = Some((
                        parse_number(rest).ok_or_else(|| err("`base ADDRESS`"))?,
                        line,
                    ));
                }
                "function" => {
                    let w: Vec<&str> = rest.split_whitespace().collect();
                    let (addr, vm) = match w[..] {
                        [a, "vm", k] => parse_number(a).zip(parse_number(k)),
                        _ => None,
                    }
                    .ok_or_else(|| err("`function ADDRESS vm N`"))?;
                    if let Some(&(_, _, first)) = functions.iter().find(|f| f.0 == addr) {
                        return Err(err(&format!(
                            "each function once ({addr:#x} is listed at line {first})"
                        )));
                    }
                    let vm = usize::try_from(vm).map_err(|_| err("a VM number"))?;
                    functions.push((addr, vm, line));
                }
                "vm" => {
                    if parse_number(rest) != Some(vms.len() as u64) {
                        return Err(err(&format!(
                            "`vm {}` (VMs are numbered in order)",
                            vms.len()
                        )));
                    }
                    vms.push(Partial::new(line));
                }
                "regs" => {
                    let mut r = [None; 3];
                    let form = "`regs vip=rA vsp=rB key=rC`";
                    for w in rest.split_whitespace() {
                        let (name, reg) = w.split_once('=').ok_or_else(|| err(form))?;
                        let i = ["vip", "vsp", "key"].iter().position(|&x| x == name);
                        match (i, Reg::parse(reg)) {
                            (Some(i), Some(reg)) if r[i].is_none() => r[i] = Some(reg),
                            _ => return Err(err(form)),
                        }
                    }
                    let [Some(vip), Some(vsp), Some(key)] = r else {
                        return Err(err(form));
                    };
                    let regs = VmRegs { vip, vsp, key };
                    regs.check().map_err(|m| err(&m))?;
                    once(&mut cur(&mut vms, line)?.regs, regs, "regs", line)?;
                }
                "direction" => {
                    let forward = match rest {
                        "forward" => true,
                        "backward" => false,
                        _ => return Err(err("`direction forward` or `direction backward`")),
                    };
                    once(
                        &mut cur(&mut vms, line)?.forward,
                        forward,
                        "direction",
                        line,
                    )?;
                }
                "entry" => {
                    let c = Chain3::parse(rest)
                        .ok_or_else(|| err("three transforms: `add 0x12; rol 5; not`"))?;
                    c.check(Size::D).map_err(|m| err(&format!("entry: {m}")))?;
                    once(&mut cur(&mut vms, line)?.entry, c, "entry", line)?;
                }
                "dispatch" => {
                    let c = KeyChain::parse(rest)
                        .ok_or_else(|| err("a key chain: `xor.b key; add 0x5; not; rol 3`"))?;
                    if c.size != Size::B {
                        return Err(err("dispatch: the opcode chain works on bytes (`.b`)"));
                    }
                    c.check().map_err(|m| err(&format!("dispatch: {m}")))?;
                    once(&mut cur(&mut vms, line)?.dispatch, c, "dispatch", line)?;
                }
                "table" => {
                    let t =
                        Transform::parse(rest).ok_or_else(|| err("a transform: `sub 0x1234`"))?;
                    t.check(Size::D).map_err(|m| err(&format!("table: {m}")))?;
                    once(&mut cur(&mut vms, line)?.table, t, "table", line)?;
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
                    let spec = HandlerSpec { kind, imm };
                    spec.check()
                        .map_err(|m| err(&format!("opcode {b:#04x}: {m}")))?;
                    let vm = cur(&mut vms, line)?;
                    if let Some((_, first)) = vm.handlers[b as usize] {
                        return Err(err(&format!(
                            "each opcode once ({b:#04x} is at line {first})"
                        )));
                    }
                    vm.handlers[b as usize] = Some((spec, line));
                }
                _ => return Err(err(KEYS)),
            }
        }
        let (base, _) = base.ok_or(ProfileTextError {
            line: last.max(1),
            message: "a `base` line".into(),
        })?;
        if let Some(&(addr, vm, line)) = functions.iter().find(|f| f.1 >= vms.len()) {
            return Err(ProfileTextError {
                line,
                message: format!(
                    "function {addr:#x} is assigned to VM {vm}, but the file describes {} VM{}",
                    vms.len(),
                    if vms.len() == 1 { "" } else { "s" }
                ),
            });
        }
        let mut out = Vec::new();
        for (k, p) in vms.into_iter().enumerate() {
            let line = p.line;
            let missing = |what: &str| ProfileTextError {
                line,
                message: format!("VM {k} has no {what}"),
            };
            let handlers = p
                .handlers
                .iter()
                .enumerate()
                .map(|(b, h)| {
                    h.map(|h| h.0)
                        .ok_or_else(|| missing(&format!("handler {b:#04x}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let vm = VmProfile {
                regs: p.regs.map(|r| r.0).ok_or_else(|| missing("`regs`"))?,
                forward: p
                    .forward
                    .map(|r| r.0)
                    .ok_or_else(|| missing("`direction`"))?,
                entry: p.entry.map(|r| r.0).ok_or_else(|| missing("`entry`"))?,
                dispatch: p
                    .dispatch
                    .map(|r| r.0)
                    .ok_or_else(|| missing("`dispatch`"))?,
                table: p.table.map(|r| r.0).ok_or_else(|| missing("`table`"))?,
                handlers,
            };
            // Everything was checked line by line; this is the last word on the whole.
            vm.validate().map_err(|m| ProfileTextError {
                line,
                message: format!("VM {k}: {m}"),
            })?;
            out.push(vm);
        }
        Ok(Profile {
            vms: out,
            functions: functions.into_iter().map(|(a, vm, _)| (a, vm)).collect(),
            base,
        })
    }
}

/// A VM's facts as parsed so far, each with its line.
struct Partial {
    /// The `vm N` line.
    line: usize,
    regs: Option<(VmRegs, usize)>,
    forward: Option<(bool, usize)>,
    entry: Option<(Chain3, usize)>,
    dispatch: Option<(KeyChain, usize)>,
    table: Option<(Transform, usize)>,
    handlers: Box<[Option<(HandlerSpec, usize)>; 256]>,
}

impl Partial {
    fn new(line: usize) -> Self {
        Partial {
            line,
            regs: None,
            forward: None,
            entry: None,
            dispatch: None,
            table: None,
            handlers: Box::new([None; 256]),
        }
    }
}

/// Records a fact that a VM states once.
fn once<T>(
    slot: &mut Option<(T, usize)>,
    value: T,
    what: &str,
    line: usize,
) -> Result<(), ProfileTextError> {
    if let Some((_, first)) = slot {
        return Err(ProfileTextError {
            line,
            message: format!("one `{what}` line per VM (this VM's is at line {first})"),
        });
    }
    *slot = Some((value, line));
    Ok(())
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

    /// A valid profile's text, with line `n` (1-based) replaced by `with` (or a line
    /// added after it when `insert`).
    fn edited(n: usize, with: &str, insert: bool) -> String {
        let p = Profile {
            vms: vec![VmProfile::random(&mut Rng::new(5))],
            functions: vec![(0x1000, 0)],
            base: 0x5000,
        };
        let mut lines: Vec<String> = p.to_text().lines().map(String::from).collect();
        if insert {
            lines.insert(n, with.to_string());
        } else {
            lines[n - 1] = with.to_string();
        }
        lines.join("\n")
    }

    /// The line of the first `handler` whose kind has (or lacks) an immediate.
    fn handler_line(text: &str, with_imm: bool) -> (usize, String) {
        text.lines()
            .enumerate()
            .find(|(_, l)| l.starts_with("handler") && (l.matches(' ').count() > 2) == with_imm)
            .map(|(n, l)| (n + 1, l.to_string()))
            .unwrap()
    }

    #[test]
    fn strict_about_widths_and_repeats_naming_the_line() {
        // Lines: 1 comment, 2 base, 3 function, 4 vm 0, 5 regs, 6 direction, 7 entry,
        // 8 dispatch, 9 table, 10.. handlers.
        let bad = |text: String, line: usize, what: &str| {
            let e = Profile::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{e}\n{text}");
            assert!(e.message.contains(what), "{e}");
        };
        bad(
            edited(7, "entry ror 99; not; inc", false),
            7,
            "rotates by 99",
        );
        bad(edited(7, "entry rol 0; not; inc", false), 7, "rotates by 0");
        bad(
            edited(7, "entry xor 0x1ffffffff; not; inc", false),
            7,
            "wider than 32 bits",
        );
        bad(
            edited(8, "dispatch xor.b key; add 0x100; not; inc", false),
            8,
            "wider than 8 bits",
        );
        bad(
            edited(8, "dispatch xor.d key; add 0x1; not; inc", false),
            8,
            "bytes",
        );
        bad(edited(9, "table ror 32", false), 9, "rotates by 32");
        bad(
            edited(2, "base 0x6000", true),
            3,
            "one `base` line (the first is line 2)",
        );
        bad(
            edited(5, "regs vip=r1 vsp=r1 key=r2", false),
            5,
            "three different registers",
        );
        bad(
            edited(5, "regs vip=r1 vsp=r2 key=r3", true),
            6,
            "one `regs` line per VM",
        );
        bad(edited(9, "table not", true), 10, "one `table` line per VM");
        bad(
            edited(3, "function 0x1000 vm 0", true),
            4,
            "each function once",
        );
        bad(
            edited(3, "function 0x1000 vm 3", false),
            3,
            "assigned to VM 3",
        );
        let text = edited(1, "# x", false);
        let (n, l) = handler_line(&text, true);
        let narrow = l
            .replacen(".b key", ".q key", 1)
            .replacen(".w key", ".q key", 1);
        let narrow = if narrow == l {
            l.replacen(".q key", ".b key", 1)
                .replacen(".d key", ".b key", 1)
        } else {
            narrow
        };
        bad(
            edited(n, &narrow, false),
            n,
            "-bit immediate, the chain is for",
        );
        let (n, l) = handler_line(&text, false);
        bad(
            edited(n, &format!("{l} xor.b key; not; not; not"), false),
            n,
            "no immediate",
        );
        // A missing fact names the VM's `vm N` line, not the file's last line.
        let text = edited(6, "# no direction", false);
        bad(text, 4, "VM 0 has no `direction`");
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
