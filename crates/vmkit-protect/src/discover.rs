//! Finding what to protect: functions, their instructions and basic blocks, and whether
//! the VM can take each one over safely.
//!
//! Functions are the entry point and every direct call target. A function's body is
//! function. A body stays native (with the reason reported) when something else in the
//! program points into it: a 32- or 64-bit immediate, an address or a data word that names one of its
//! bytes other than the start (self-modifying code, computed jumps into the middle),
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
    // Phase 1: every reachable instruction, and the call targets among them.
    let mut starts = BTreeSet::from([image.entry]);
    let mut seen = BTreeMap::new();
    let mut work = vec![image.entry];
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
    for (i, _) in seen.values() {
        for o in i.operands() {
            match *o {
                // An immediate as the instruction uses it: only its operand size's low
                // bits matter, so those are what could be an address, and 8- and 16-bit
                // immediates are too narrow to be one. (The devirtualizer can only give
                // back the bits that matter; counting the rest would make a program and
                // its devirtualized copy differ here.)
                Operand::Imm { value, .. } if matches!(i.size, Size::D | Size::Q) => {
                    refs.insert(value as u64 & i.size.mask());
                }
                Operand::Mem(m) => match m.addr {
                    Addr::Abs(a) => {
                        refs.insert(a as u64);
                    }
                    Addr::Const(off) => {
                        refs.insert(image.const_base().wrapping_add(off as u64));
                    }
                    Addr::Based { disp, .. } | Addr::Indexed { disp, .. } => {
                        refs.insert(disp as i64 as u64);
                    }
                    Addr::Reg(_) => {}
                },
                _ => {}
            }
        }
    }
    let covered = |a: u64| {
        seen.range(..=a)
            .next_back()
            .is_some_and(|(&s, &(_, l))| a < s + l)
    };
    for seg in &image.segments {
        let data_like = seg.kind != SegmentKind::Code;
        for off in (0..seg.data.len().saturating_sub(3)).step_by(4) {
            let addr = seg.addr + off as u64;
            if !data_like && covered(addr) {
                continue;
            }
            let d = &seg.data[off..];
            refs.insert(u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as u64);
            if off % 8 == 0 && d.len() >= 8 {
                refs.insert(u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8])));
            }
        }
    }

    let mut owner: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (f, body, _) in &bodies {
        for (&at, &(_, len)) in body {
            for b in at..at + len {
                owner.entry(b).or_default().push(*f);
            }
        }
    }

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
    (functions, skipped)
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
