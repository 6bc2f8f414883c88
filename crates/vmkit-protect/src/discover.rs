//! Finding what to protect: functions, their instructions and basic blocks, and whether
//! the VM can take each one over safely.
//!
//! Functions are the entry point, every direct call target, and the addresses the caller
//! names (`--function 0x...`: functions reached only through pointers). A function's body
//! is what its start reaches through jumps and fall-through without entering another
//! function. A body stays native (with the reason reported) when something else in the
//! program points into it: a 32- or 64-bit immediate (or a narrower one that `movzx` or
//! `movsx` extends into a register), an address, or a 4- or 8-byte word at any byte
//! offset of the program's data (or of named bytes in a code segment that no instruction
//! covers) that names one of its bytes other than the start (self-modifying code,
//! computed jumps into the middle), when native code only pointers reach runs into it,
//! when it shares instructions with another function, or when it is too short for the
//! 5-byte jump that replaces it.

use std::collections::{BTreeMap, BTreeSet};
use vmkit_image::{Image, SegmentKind};
use vmkit_isa::{decode, Addr, Cond, Instr, Op, Operand, Size};

/// How a basic block ends.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Runs on into the instruction at this address.
    Fall(u64),
    /// `jmp target`.
    Jmp(u64),
    /// `jcc target`, else the next instruction.
    Jcc(Cond, u64, u64),
    /// `jmp src`.
    JmpInd(Instr),
    /// `ret`.
    Ret,
    /// An instruction the VM leaves to native code (see [`crate::lower::virtualizable`]):
    /// the instruction with its address, and where execution continues after it.
    Escape(Instr, u64, Option<u64>),
}

/// A basic block.
#[derive(Clone, Debug)]
pub struct Block {
    /// Address of its first instruction.
    pub start: u64,
    /// The instructions the VM runs, with their addresses.
    pub body: Vec<(u64, Instr)>,
    /// The terminator.
    pub end: End,
}

/// A function the protector can take over.
#[derive(Clone, Debug)]
pub struct Function {
    /// Entry address.
    pub start: u64,
    /// Its name (symbol or address).
    pub name: String,
    /// Basic blocks: the entry first, then the others by address.
    pub blocks: Vec<Block>,
    /// The byte ranges of its instructions.
    pub ranges: Vec<(u64, u64)>,
}

/// A function left native, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// Entry address.
    pub start: u64,
    /// Its name.
    pub name: String,
    /// Why the VM does not take it over.
    pub reason: String,
}

/// A function's instructions by address, with their lengths.
type Body = BTreeMap<u64, (Instr, u64)>;

/// Decodes the instruction at `addr` in an executable segment.
pub fn decode_at(image: &Image, addr: u64) -> Option<(Instr, u64)> {
    let seg = image.segment_at(addr).filter(|s| s.perms.exec())?;
    let off = (addr - seg.addr) as usize;
    let mut bytes = seg.data.get(off..).unwrap_or(&[]).to_vec();
    let room = (seg.end() - addr) as usize;
    bytes.resize(room.min(vmkit_isa::MAX_INSTR_LEN), 0);
    decode(&bytes).ok().map(|(i, n)| (i, n as u64))
}

pub(crate) fn rel_target(at: u64, len: u64, i: &Instr) -> Option<u64> {
    i.operands.iter().find_map(|o| match o {
        Operand::Rel(r) => Some(at.wrapping_add(len).wrapping_add(*r as i64 as u64)),
        _ => None,
    })
}

/// Where execution goes after the instruction at `at` within a function: jump targets
/// and the next instruction (calls return to it; their targets are other functions).
fn successors(at: u64, len: u64, i: &Instr) -> Vec<u64> {
    let target = rel_target(at, len, i);
    match i.op {
        Op::Jmp => target.into_iter().collect(),
        Op::Jcc => target.into_iter().chain([at + len]).collect(),
        Op::Ret | Op::Halt | Op::JmpInd => Vec::new(),
        _ => vec![at + len],
    }
}

/// The name of the function at `addr`.
pub fn name_of(image: &Image, addr: u64) -> String {
    image
        .symbols
        .iter()
        .find(|s| s.addr == addr && s.kind == vmkit_image::SymbolKind::Code)
        .map_or_else(|| format!("{addr:#x}"), |s| s.name.clone())
}

/// Finds the functions of `image`: those the VM can take over, and those it cannot.
pub fn discover(image: &Image) -> (Vec<Function>, Vec<Skipped>) {
    let s = survey(image, &[]);
    (s.functions, s.skipped)
}

/// Everything [`survey`] finds.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    /// Functions the VM can take over.
    pub functions: Vec<Function>,
    /// Functions left native, and why.
    pub skipped: Vec<Skipped>,
    /// Native code that no call or jump reaches but a pointer does (a switch's cases
    /// reached through a jump table, callbacks): each root address the program points
    /// to, with the number of instructions reached from it. It stays native unless named
    /// as a function.
    pub pointer_code: Vec<(u64, usize)>,
    /// Code symbols that nothing reaches at all (functions only a register-held address
    /// could reach): name them with `--function` to protect them.
    pub unreached: Vec<(u64, String)>,
    /// Instructions that use memory below `sp` (`[sp - n]`), with their addresses: the
    /// ISA has no red zone, and the VM's entry and exit overwrite the bytes below `sp`
    /// (docs/isa.md), so such code may behave differently once protected.
    pub below_sp: Vec<(u64, Instr)>,
}

/// Whether `i` reads or writes memory below `sp` through an `[sp - n]` operand.
pub fn uses_below_sp(i: &Instr) -> bool {
    i.op != Op::Lea
        && i.operands().iter().any(|o| {
            matches!(o, Operand::Mem(m) if matches!(m.addr, Addr::Based { base, disp } if base == vmkit_isa::Reg::SP && disp < 0))
        })
}

/// The immediates and addresses of `i` that could be addresses in the program.
fn constants(image: &Image, i: &Instr, out: &mut BTreeSet<u64>) {
    for o in i.operands() {
        match *o {
            // An immediate as the instruction uses it: only its operand size's low bits
            // matter, so those are what could be an address, and 8- and 16-bit
            // immediates are too narrow to be one. (The devirtualizer can only give back
            // the bits that matter; counting the rest would make a program and its
            // devirtualized copy differ here.)
            Operand::Imm { value, .. } if matches!(i.size, Size::D | Size::Q) => {
                out.insert(value as u64 & i.size.mask());
            }
            // `movzx.w r, imm` and `movsx.w r, imm` load the whole register from a
            // narrow immediate: the extended value is what the register holds, and the
            // devirtualizer gives it back as `mov r, imm` (found by the generated tests).
            Operand::Imm { value, .. } if i.op == Op::Movzx => {
                out.insert(value as u64 & i.size.mask());
            }
            Operand::Imm { value, .. } if i.op == Op::Movsx => {
                out.insert(i.size.sign_extend(value as u64 & i.size.mask()));
            }
            Operand::Mem(m) => match m.addr {
                Addr::Abs(a) => {
                    out.insert(a as u64);
                }
                Addr::Const(off) => {
                    out.insert(image.const_base().wrapping_add(off as u64));
                }
                Addr::Based { disp, .. } | Addr::Indexed { disp, .. } => {
                    out.insert(disp as i64 as u64);
                }
                Addr::Reg(_) => {}
            },
            _ => {}
        }
    }
}

/// Finds the functions of `image`, with `extra` as function starts beside the entry and
/// the direct call targets (functions the caller names that only pointers reach).
pub fn survey(image: &Image, extra: &[u64]) -> Survey {
    // Phase 1: every reachable instruction, and the call targets among them.
    let mut starts: BTreeSet<u64> = std::iter::once(image.entry)
        .chain(extra.iter().copied())
        .collect();
    let mut seen = BTreeMap::new();
    let mut work: Vec<u64> = starts.iter().copied().collect();
    while let Some(at) = work.pop() {
        if seen.contains_key(&at) {
            continue;
        }
        let Some((i, len)) = decode_at(image, at) else {
            continue;
        };
        seen.insert(at, (i, len));
        if i.op == Op::Call {
            if let Some(t) = rel_target(at, len, &i) {
                starts.insert(t);
                work.push(t);
            }
        }
        work.extend(successors(at, len, &i));
    }

    // Phase 2: each function's body, without entering other functions.
    let mut bodies: Vec<(u64, Body, Option<String>)> = Vec::new();
    for &f in &starts {
        let mut body = BTreeMap::new();
        let mut problem = None;
        let mut work = vec![f];
        while let Some(at) = work.pop() {
            if body.contains_key(&at) || (at != f && starts.contains(&at)) {
                continue;
            }
            let Some((i, len)) = decode_at(image, at) else {
                if at == f {
                    problem = Some(format!("no valid instruction at {at:#x}"));
                }
                // Execution that reaches undecodable bytes faults there, natively.
                continue;
            };
            body.insert(at, (i, len));
            work.extend(successors(at, len, &i));
        }
        bodies.push((f, body, problem));
    }

    // Constants anywhere in the program that could be addresses.
    let mut refs = BTreeSet::new();
    // Addresses that instructions read or write as memory: what lies there is data.
    let mut accessed = BTreeSet::new();
    for (i, _) in seen.values() {
        constants(image, i, &mut refs);
        for o in i.operands() {
            if let Operand::Mem(m) = o {
                match m.addr {
                    Addr::Abs(a) => {
                        accessed.insert(a as u64);
                    }
                    Addr::Const(off) => {
                        accessed.insert(image.const_base().wrapping_add(off as u64));
                    }
                    _ => {}
                }
            }
        }
    }
    let covered = |a: u64| {
        seen.range(..=a)
            .next_back()
            .is_some_and(|(&s, &(_, l))| a < s + l)
    };
    let executable: Vec<(u64, u64)> = image
        .segments
        .iter()
        .filter(|s| s.perms.exec())
        .map(|s| (s.addr, s.end()))
        .collect();
    let in_code = |v: u64| executable.iter().any(|&(lo, hi)| (lo..hi).contains(&v));

    let mut owner: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (f, body, _) in &bodies {
        for (&at, &(_, len)) in body {
            for b in at..at + len {
                owner.entry(b).or_default().push(*f);
            }
        }
    }
    let mut entered: BTreeMap<u64, String> = BTreeMap::new(); // function -> why native

    // Phase 2b: code that nothing reaches but a code symbol names (a function never
    // called, or called only through a register). Where it decodes into whole paths
    // (each ends in ret, a jump, halt or known code), it is taken as code: its constants
    // count as instructions' do, and its bytes are not read as data words, which would
    // find false pointers in instruction encodings. Where it does not (data under a label
    // in the code section), its bytes are read as data below.
    let mut dead: Body = BTreeMap::new();
    let mut code_symbols: Vec<u64> = image
        .symbols
        .iter()
        .filter(|s| s.kind == vmkit_image::SymbolKind::Code)
        .map(|s| s.addr)
        .filter(|&a| in_code(a) && !covered(a) && !accessed.contains(&a))
        .collect();
    code_symbols.sort_unstable();
    for root in code_symbols {
        let mut walk: Body = BTreeMap::new();
        let mut joins = Vec::new();
        let mut clean = true;
        let mut work = vec![root];
        while let Some(at) = work.pop() {
            if let Some(fs) = owner.get(&at) {
                joins.extend(fs.iter().filter(|&&f| f != at).map(|&f| (f, at)));
                continue;
            }
            if covered(at) || walk.contains_key(&at) || dead.contains_key(&at) {
                continue;
            }
            let Some((i, len)) = decode_at(image, at) else {
                clean = false;
                break;
            };
            walk.insert(at, (i, len));
            if i.op == Op::Call {
                work.extend(rel_target(at, len, &i));
            }
            work.extend(successors(at, len, &i));
        }
        if clean {
            for (f, at) in joins {
                entered.entry(f).or_insert_with(|| {
                    format!(
                        "code at {root:#x}, which nothing calls, continues at {at:#x}, inside it"
                    )
                });
            }
            for (i, _) in walk.values() {
                constants(image, i, &mut refs);
            }
            dead.extend(walk);
        }
    }
    let dead_code = |a: u64| {
        dead.range(..=a)
            .next_back()
            .is_some_and(|(&s, &(_, l))| a < s + l)
    };

    // Stored pointers: a 4- or 8-byte little-endian word at *every* byte offset of the
    // program's data and constants, since nothing keeps a program's pointers aligned.
    // Only values inside an executable segment can matter, which keeps the set small
    // however large the data is.
    let word_at = |d: &[u8]| {
        [
            d.get(..4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as u64),
            d.get(..8)
                .and_then(|w| w.try_into().ok())
                .map(u64::from_le_bytes),
        ]
    };
    for seg in image
        .segments
        .iter()
        .filter(|s| s.kind != SegmentKind::Code)
    {
        for off in 0..seg.data.len() {
            let words = word_at(&seg.data[off..]);
            refs.extend(words.into_iter().flatten().filter(|&v| in_code(v)));
        }
    }
    // In a code segment, the bytes no instruction covers are data where something names
    // them (a label, an address in an instruction or in data: a table among the code),
    // from that address to the next instruction. Other such bytes (padding, or the junk
    // a protected function's devirtualized copy leaves after its last instruction) are
    // read by nothing, and their every-offset words would be false pointers.
    let anchors: BTreeSet<u64> = refs
        .iter()
        .copied()
        .chain(image.symbols.iter().map(|s| s.addr))
        .collect();
    let mut code_words = Vec::new();
    for seg in image
        .segments
        .iter()
        .filter(|s| s.kind == SegmentKind::Code)
    {
        let mut named = false;
        for off in 0..seg.data.len() {
            let at = seg.addr + off as u64;
            if covered(at) || dead_code(at) {
                named = false;
                continue;
            }
            named |= anchors.contains(&at);
            if named {
                let words = word_at(&seg.data[off..]);
                code_words.extend(words.into_iter().flatten().filter(|&v| in_code(v)));
            }
        }
    }
    refs.extend(code_words);

    // Phase 3: native code that only pointers reach (a switch's cases, callbacks). It
    // stays native, so where it jumps, calls or runs into a function anywhere but its
    // start, that function must stay native too: its body would be junk by then.
    let mut pointer_seen: BTreeMap<u64, u64> = BTreeMap::new(); // address -> root
    let mut roots: Vec<u64> = refs
        .iter()
        .copied()
        .filter(|&r| in_code(r) && !covered(r))
        .collect();
    let mut pointer_code: Vec<(u64, usize)> = Vec::new();
    while let Some(root) = roots.pop() {
        if pointer_seen.contains_key(&root) {
            continue;
        }
        let mut count = 0;
        let mut work = vec![root];
        while let Some(at) = work.pop() {
            if let Some(fs) = owner.get(&at) {
                for &f in fs.iter().filter(|&&f| f != at) {
                    // Says more than "nothing calls it" from phase 2b: replaces it.
                    entered.insert(
                        f,
                        format!(
                            "native code reached through a pointer to {root:#x} continues at {at:#x}, inside it"
                        ),
                    );
                }
                continue;
            }
            if pointer_seen.contains_key(&at) {
                continue;
            }
            let Some((i, len)) = decode_at(image, at) else {
                continue;
            };
            pointer_seen.insert(at, root);
            count += 1;
            let mut found = BTreeSet::new();
            constants(image, &i, &mut found);
            for r in found {
                refs.insert(r);
                if in_code(r) && !covered(r) {
                    roots.push(r);
                }
            }
            if i.op == Op::Call {
                work.extend(rel_target(at, len, &i));
            }
            work.extend(successors(at, len, &i));
        }
        if count > 0 {
            pointer_code.push((root, count));
        }
    }
    pointer_code.sort_unstable();

    let mut functions = Vec::new();
    let mut skipped = Vec::new();
    for (f, body, problem) in bodies {
        let name = name_of(image, f);
        let reason = problem.or_else(|| {
            if let Some((&b, _)) = body.iter().find(|(&at, &(_, len))| {
                (at..at + len).any(|b| owner.get(&b).is_some_and(|o| o.len() > 1))
            }) {
                return Some(format!("shares the instruction at {b:#x} with another function"));
            }
            if let Some(r) = body.iter().find_map(|(&at, &(_, len))| {
                refs.range(at..at + len).find(|&&r| r != f).copied()
            }) {
                return Some(format!(
                    "the program refers to {r:#x}, inside its code (self-modifying code or a computed jump)"
                ));
            }
            if let Some(why) = entered.get(&f) {
                return Some(why.clone());
            }
            if (f..f + 5).any(|b| !owner.contains_key(&b)) {
                return Some("shorter than the 5-byte jump that would replace it".into());
            }
            None
        });
        if let Some(reason) = reason {
            skipped.push(Skipped {
                start: f,
                name,
                reason,
            });
            continue;
        }
        functions.push(build_blocks(f, name, &body));
    }

    // Code symbols nothing reaches: most likely functions whose address only a register
    // holds, which the caller can name.
    let mut unreached: Vec<(u64, String)> = image
        .symbols
        .iter()
        .filter(|s| s.kind == vmkit_image::SymbolKind::Code && in_code(s.addr))
        .filter(|s| !covered(s.addr) && !pointer_seen.contains_key(&s.addr))
        .filter(|s| decode_at(image, s.addr).is_some())
        .map(|s| (s.addr, s.name.clone()))
        .collect();
    unreached.sort_unstable();
    unreached.dedup_by_key(|u| u.0);
    let mut below_sp: Vec<(u64, Instr)> = seen
        .iter()
        .map(|(&a, &(i, _))| (a, i))
        .chain(
            pointer_seen
                .keys()
                .filter_map(|&a| decode_at(image, a).map(|(i, _)| (a, i))),
        )
        .filter(|(_, i)| uses_below_sp(i))
        .collect();
    below_sp.sort_unstable_by_key(|b| b.0);
    Survey {
        functions,
        skipped,
        pointer_code,
        unreached,
        below_sp,
    }
}

fn build_blocks(f: u64, name: String, body: &Body) -> Function {
    let mut leaders = BTreeSet::from([f]);
    for (&at, &(i, len)) in body {
        let ends = matches!(i.op, Op::Jmp | Op::Jcc | Op::Ret | Op::JmpInd | Op::Halt)
            || !crate::lower::virtualizable(&i);
        if let Some(t) = rel_target(at, len, &i) {
            if i.op != Op::Call && body.contains_key(&t) {
                leaders.insert(t);
            }
        }
        if ends && body.contains_key(&(at + len)) {
            leaders.insert(at + len);
        }
    }
    let mut blocks = Vec::new();
    // The entry block first (translation enters a function at its first block), then the
    // others by address; code may lie below the entry.
    let order = std::iter::once(f).chain(leaders.iter().copied().filter(|&a| a != f));
    for start in order {
        let mut at = start;
        let mut insns = Vec::new();
        let end = loop {
            let Some(&(i, len)) = body.get(&at) else {
                break End::Fall(at);
            };
            let next = at + len;
            let target = rel_target(at, len, &i);
            match i.op {
                Op::Jmp => break End::Jmp(target.unwrap_or(next)),
                Op::Jcc => {
                    let Operand::Cond(c) = i.operands[0] else {
                        unreachable!("jcc has a condition operand")
                    };
                    break End::Jcc(c, target.unwrap_or(next), next);
                }
                Op::Ret => break End::Ret,
                Op::JmpInd => break End::JmpInd(i),
                Op::Halt => break End::Escape(i, at, None),
                _ if !crate::lower::virtualizable(&i) => break End::Escape(i, at, Some(next)),
                _ => {}
            }
            insns.push((at, i));
            at = next;
            if leaders.contains(&at) {
                break End::Fall(at);
            }
        };
        blocks.push(Block {
            start,
            body: insns,
            end,
        });
    }
    let ranges = body.iter().map(|(&a, &(_, l))| (a, a + l)).collect();
    Function {
        start: f,
        name,
        blocks,
        ranges,
    }
}
