//! Stage 4 of devirtualization: follow every virtual path of every protected function,
//! lift it, and write the native code back where the function was.
//!
//! Protected functions are found as the protector leaves them: a `jmp` to an entry stub
//! at the function's start. The search starts from the program's entry and the call
//! targets of its native code, and grows with the calls and exits that lifted code makes.
//! Each function's virtual blocks are laid out in their virtual order (the order of the
//! original blocks), from the function's start; a `jmp` to the next block is left out
//! where the original fell through. The protector's segments are dropped.

use super::classify::{classify, profile_of, HandlerInfo};
use super::entry::{jmp_at, recover, stub_at, VmEntry};
use super::lift::{lift_block, Dest, Escaped, ExitTarget, Lifted, Term, World};
use super::DevirtError;
use crate::bytecode::decode_block;
use crate::discover::{decode_at, discover, name_of, rel_target};
use crate::native::{Code, Label, Target};
use crate::profile::{Profile, VmProfile};
use std::collections::{BTreeMap, BTreeSet};
use vmkit_image::{Image, Perms, Segment, SegmentKind};
use vmkit_isa::{Op, Size};

/// One recovered VM instance.
#[derive(Clone, Debug)]
pub struct RecoveredVm {
    /// What vm_entry and calc_jmp showed.
    pub(crate) entry: VmEntry,
    /// What each opcode's handler does.
    pub(crate) handlers: Vec<HandlerInfo>,
    /// The whole profile.
    pub profile: VmProfile,
}

/// One devirtualized function.
#[derive(Clone, Debug)]
pub struct RecoveredFn {
    /// Its start.
    pub start: u64,
    /// Its name.
    pub name: String,
    /// The VM that ran it.
    pub vm: usize,
    /// Its virtual blocks, lifted, in layout order.
    pub(crate) blocks: Vec<Lifted>,
    /// Where its code went, if it did not fit at its start (a `jmp` there leads to it).
    pub moved_to: Option<u64>,
    /// Bytes of native code written.
    pub bytes: u64,
}

impl RecoveredVm {
    /// The address of the VM's handler table (256 encrypted entries of 4 bytes).
    pub fn handler_table(&self) -> u64 {
        self.entry.table
    }
}

impl RecoveredFn {
    /// How many virtual blocks it had.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// How many virtual instructions its blocks held.
    pub fn virtual_instructions(&self) -> usize {
        self.blocks.iter().map(|b| b.code.len()).sum()
    }

    /// How many native instructions they became, not counting the blocks' branches.
    pub fn native_instructions(&self) -> usize {
        self.blocks.iter().map(|b| b.body.len()).sum()
    }
}

/// The result of devirtualization.
#[derive(Clone, Debug)]
pub struct Devirtualized {
    /// The plain program.
    pub image: Image,
    /// The VMs found.
    pub vms: Vec<RecoveredVm>,
    /// The functions they ran.
    pub functions: Vec<RecoveredFn>,
    /// The recovered profile: protecting [`Devirtualized::image`] with it reproduces the
    /// virtual code.
    pub profile: Profile,
    /// The memory size, as the protected image had it and as restored, when the
    /// protector had grown it.
    pub memory_restored: Option<(u64, u64)>,
}

/// The image as the lifter sees it.
struct View<'a> {
    image: &'a Image,
    vms: &'a [RecoveredVm],
    /// The protector's code segment (stubs and VMs).
    vm_code: (u64, u64),
}

impl View<'_> {
    /// The VM and block a `push enc; jmp vm_entry` at `a` enters.
    fn enter_at(&self, a: u64) -> Option<(usize, u64)> {
        let (target, enc) = stub_at(self.image, a)?;
        let k = self.vms.iter().position(|v| v.entry.entry == target)?;
        Some((k, self.vms[k].entry.block_of(enc)))
    }

    fn in_vm_code(&self, a: u64) -> bool {
        (self.vm_code.0..self.vm_code.1).contains(&a)
    }
}

impl World for View<'_> {
    fn table(&self, addr: u64) -> Option<[u8; 16]> {
        self.image.read(addr, 16)?.try_into().ok()
    }

    fn exit_target(&self, a: u64) -> ExitTarget {
        if !self.in_vm_code(a) {
            return ExitTarget::Native;
        }
        if let Some((_, b)) = self.enter_at(a) {
            return ExitTarget::Enter(b);
        }
        let Some((i, n)) = decode_at(self.image, a) else {
            return ExitTarget::Native;
        };
        let escaped = match rel_target(a, n, &i) {
            Some(t) if i.op == Op::Call => Escaped::Call(t),
            _ => Escaped::Instr(i),
        };
        if i.op == Op::Halt {
            return ExitTarget::Escape(escaped, None);
        }
        let cont = match self.enter_at(a + n) {
            Some((_, b)) => Some(Dest::Block(b)),
            None => jmp_at(self.image, a + n).map(Dest::Native),
        };
        ExitTarget::Escape(escaped, cont)
    }

    fn const_pool(&self) -> (u64, u64) {
        self.image
            .segments
            .iter()
            .find(|s| s.kind == SegmentKind::Const)
            .map_or((0, 0), |s| (s.addr, s.mem_size))
    }
}

/// Where a lifted block hands control: its branch targets and continuation, and the
/// target of a `call` it escapes to (as a native address).
fn targets(b: &Lifted) -> Vec<Dest> {
    match &b.end {
        Term::Jmp(d) => vec![*d],
        Term::Jcc(_, t, f) => vec![*t, *f],
        Term::Escape(e, cont) => {
            let call = match e {
                Escaped::Call(t) => Some(Dest::Native(*t)),
                Escaped::Instr(_) => None,
            };
            call.into_iter().chain(*cont).collect()
        }
        Term::JmpInd(_) | Term::Ret => Vec::new(),
    }
}

/// The native addresses a lifted block hands control to.
fn native_targets(b: &Lifted) -> Vec<u64> {
    targets(b)
        .into_iter()
        .filter_map(|d| match d {
            Dest::Native(a) => Some(a),
            Dest::Block(_) => None,
        })
        .collect()
}

/// The virtual blocks a lifted block continues in.
fn block_targets(b: &Lifted) -> Vec<u64> {
    targets(b)
        .into_iter()
        .filter_map(|d| match d {
            Dest::Block(a) => Some(a),
            Dest::Native(_) => None,
        })
        .collect()
}

/// Lifts the function whose virtual code starts at block `entry` of VM `k`.
fn lift_function(view: &View, k: usize, entry: u64) -> Result<Vec<Lifted>, DevirtError> {
    let profile = &view.vms[k].profile;
    let mut blocks: BTreeMap<u64, Lifted> = BTreeMap::new();
    let mut work = vec![entry];
    while let Some(addr) = work.pop() {
        if blocks.contains_key(&addr) {
            continue;
        }
        let code = decode_block(profile, addr, |a, n| view.image.read(a, n)).map_err(|e| {
            DevirtError::corrupt(
                addr,
                format!("virtual code that decrypts to a whole block ({e:?})"),
            )
        })?;
        let lifted = lift_block(addr, code, view).map_err(|e| {
            DevirtError::corrupt(
                e.at,
                format!(
                    "virtual code that lowers a native instruction, not `{}`",
                    e.what
                ),
            )
        })?;
        work.extend(block_targets(&lifted));
        blocks.insert(addr, lifted);
    }
    // Virtual order is the order of the original blocks, entry first.
    let mut out: Vec<Lifted> = blocks.into_values().collect();
    if let Some(n) = out.iter().position(|b| b.addr == entry) {
        let e = out.remove(n);
        out.insert(0, e);
    }
    Ok(out)
}

/// Native code for a lifted function placed at `at` (`None`: a place not known yet, so
/// no exit can fall through into the code after it).
fn emit(blocks: &[Lifted], at: Option<u64>) -> Code {
    // Blocks that a branch other than the one from the block before them reaches: only
    // those could have been fallen into.
    let mut targeted: BTreeSet<u64> = BTreeSet::new();
    for (n, b) in blocks.iter().enumerate() {
        let next = blocks.get(n + 1).map(|b| b.addr);
        for t in block_targets(b) {
            let falls = match &b.end {
                Term::Jmp(_) | Term::Escape(..) => Some(t) == next,
                Term::Jcc(_, _, Dest::Block(f)) => t == *f && Some(t) == next,
                _ => false,
            };
            if !falls {
                targeted.insert(t);
            }
        }
        if let Term::Jcc(_, Dest::Block(t), _) = &b.end {
            targeted.insert(*t);
        }
    }
    let mut code = Code::new();
    let labels: BTreeMap<u64, Label> = blocks.iter().map(|b| (b.addr, code.label())).collect();
    let target = |d: &Dest| match d {
        Dest::Block(a) => Target::Label(labels[a]),
        Dest::Native(a) => Target::Addr(*a),
    };
    for (n, b) in blocks.iter().enumerate() {
        code.bind(labels[&b.addr]);
        for (_, i) in &b.body {
            code.push(*i);
        }
        let next = blocks.get(n + 1).map(|b| b.addr);
        let last = n + 1 == blocks.len();
        // Whether going on to `d` needs no jump: the next block, if the original could
        // fall into it, or (after the last block) the address right after the code.
        let falls = |code: &Code, d: &Dest, may_fall: bool| match d {
            Dest::Block(a) => Some(*a) == next && may_fall,
            Dest::Native(a) => last && at.map(|at| at + code.len()) == Some(*a),
        };
        match &b.end {
            Term::Jmp(d) => {
                let may = matches!(d, Dest::Block(a) if targeted.contains(a));
                if !falls(&code, d, may) {
                    code.jmp(target(d));
                }
            }
            Term::Jcc(c, t, f) => {
                code.jcc(*c, target(t));
                if !falls(&code, f, true) {
                    code.jmp(target(f));
                }
            }
            Term::JmpInd(o) => code.op(Op::JmpInd, Size::Q, &[*o]),
            Term::Ret => code.op(Op::Ret, Size::Q, &[]),
            Term::Escape(e, cont) => {
                match e {
                    Escaped::Call(t) => code.call(Target::Addr(*t)),
                    Escaped::Instr(i) => code.push(*i),
                }
                if let Some(d) = cont {
                    if !falls(&code, d, true) {
                        code.jmp(target(d));
                    }
                }
            }
        }
    }
    code
}

/// Every address below `base` in executable code that holds a `jmp` to an entry stub: a
/// protected function's start, even one that only pointers reach (no call names it).
fn stub_jumps(image: &Image, vms: &[RecoveredVm], base: u64) -> Vec<u64> {
    let stubs: BTreeSet<u64> = vms
        .iter()
        .flat_map(|v| v.entry.stubs.iter().map(|s| s.0))
        .collect();
    image
        .segments
        .iter()
        .filter(|s| s.perms.exec() && s.addr < base)
        .flat_map(|s| s.addr..s.addr + s.data.len() as u64)
        .filter(|&a| jmp_at(image, a).is_some_and(|t| stubs.contains(&t)))
        .collect()
}

/// Recovers the plain program from a protected image, with no other input.
pub fn devirtualize(image: &Image) -> Result<Devirtualized, DevirtError> {
    // A header that cannot hold the segments is the header's fault, not the VM code's.
    if image.memory_size != 0 && image.memory_size < image.end_address() {
        return Err(DevirtError::BadHeader(format!(
            "its memory size {:#x} does not hold its segments (up to {:#x})",
            image.memory_size,
            image.end_address()
        )));
    }
    let entries = recover(image)?;
    let mut vms = Vec::new();
    for e in entries {
        let handlers = classify(image, &e)?;
        let profile = profile_of(&e, &handlers);
        vms.push(RecoveredVm {
            entry: e,
            handlers,
            profile,
        });
    }
    let base = vms[0].entry.bytecode_base;
    if vms.iter().any(|v| v.entry.bytecode_base != base) {
        return Err(DevirtError::corrupt(
            vms[0].entry.entry,
            "every VM's virtual code in one segment",
        ));
    }
    let seg_of = |a: u64| image.segments.iter().find(|s| s.contains(a));
    let vm_code = seg_of(vms[0].entry.entry)
        .map(|s| (s.addr, s.end()))
        .ok_or_else(|| DevirtError::corrupt(vms[0].entry.entry, "VM code in a segment"))?;
    let view = View {
        image,
        vms: &vms,
        vm_code,
    };

    // Protected functions, found from the entry and every call target.
    let (found, skipped) = discover(image);
    let mut work: Vec<u64> = found
        .iter()
        .map(|f| f.start)
        .chain(skipped.iter().map(|s| s.start))
        .chain([image.entry])
        .chain(stub_jumps(image, &vms, base))
        .collect();
    let mut seen = BTreeSet::new();
    let mut functions: Vec<(u64, usize, u64, Vec<Lifted>)> = Vec::new();
    while let Some(a) = work.pop() {
        if !seen.insert(a) || a >= base {
            continue;
        }
        let Some(stub) = jmp_at(image, a) else {
            continue;
        };
        let Some((k, entry)) = view.enter_at(stub) else {
            continue;
        };
        let blocks = lift_function(&view, k, entry)?;
        work.extend(blocks.iter().flat_map(native_targets));
        functions.push((a, k, entry, blocks));
    }
    if functions.is_empty() {
        return Err(DevirtError::NotProtected);
    }
    functions.sort_by_key(|f| f.0);

    // Where each function's code may go: up to the next thing known to be there.
    let mut bounds: BTreeSet<u64> = image
        .symbols
        .iter()
        .map(|s| s.addr)
        .chain(functions.iter().map(|f| f.0))
        .chain(found.iter().map(|f| f.start))
        .chain(skipped.iter().map(|s| s.start))
        .collect();
    for f in &functions {
        bounds.extend(f.3.iter().flat_map(native_targets));
    }
    let mut out = image.clone();
    out.segments.retain(|s| s.addr < base);
    // The VM's symbols (vm0.vm_entry, ...) name what is gone now.
    out.symbols.retain(|s| s.addr < base);
    // The protector grows an explicit memory size to fit the VM; its trailer (at the end
    // of the segment with the handler tables) says what it was.
    let tables = seg_of(vms[0].entry.table)
        .ok_or_else(|| DevirtError::corrupt(vms[0].entry.table, "a handler table in a segment"))?;
    if let Some(m) = crate::trailer::decode(&tables.data) {
        let program_end = out.end_address();
        if m > image.memory_size || (m != 0 && m < program_end) {
            return Err(DevirtError::corrupt(
                tables.end() - crate::trailer::BYTES,
                format!(
                    "the protector's record of the original memory size: {m:#x} is above the image's ({:#x}) or below the program's end ({program_end:#x})",
                    image.memory_size
                ),
            ));
        }
        out.memory_size = m;
    }
    let mut moved = Code::new();
    let mut moved_at: Vec<(usize, Label)> = Vec::new();
    let mut recovered = Vec::new();
    for (n, (start, k, _, blocks)) in functions.iter().enumerate() {
        let seg_end = seg_of(*start).map_or(*start, |s| s.addr + s.data.len() as u64);
        let limit = bounds
            .range(start + 1..)
            .next()
            .copied()
            .unwrap_or(seg_end)
            .min(seg_end);
        let code = emit(blocks, Some(*start));
        let fits = code.len() <= limit.saturating_sub(*start);
        let bytes = if fits {
            let bytes = code.assemble(*start).map_err(|(from, to)| {
                DevirtError::corrupt(from, format!("a branch that reaches {to:#x}"))
            })?;
            out.write(*start, &bytes);
            bytes.len() as u64
        } else {
            let l = moved.label();
            moved.bind(l);
            moved_at.push((n, l));
            let c = emit(blocks, None);
            let len = c.len();
            moved.append(c);
            len
        };
        recovered.push(RecoveredFn {
            start: *start,
            name: name_of(image, *start),
            vm: *k,
            blocks: blocks.clone(),
            moved_to: None,
            bytes,
        });
    }
    if !moved.is_empty() {
        // Functions whose code outgrew their place (not seen from the protector's own
        // output): a segment of their own, where the VM was.
        let addrs = moved.label_addrs(base);
        let bytes = moved.assemble(base).map_err(|(from, to)| {
            DevirtError::corrupt(from, format!("a branch that reaches {to:#x}"))
        })?;
        for (n, l) in moved_at {
            let to = addrs[l.index()].unwrap_or(base);
            recovered[n].moved_to = Some(to);
            let mut j = Code::new();
            j.jmp(Target::Addr(to));
            let jb = j.assemble(recovered[n].start).map_err(|(from, to)| {
                DevirtError::corrupt(from, format!("a branch that reaches {to:#x}"))
            })?;
            out.write(recovered[n].start, &jb);
        }
        out.segments.push(Segment {
            kind: SegmentKind::Code,
            perms: Perms::RX,
            addr: base,
            mem_size: bytes.len() as u64,
            data: bytes,
        });
    }

    // The profile, with each VM's functions in the order of their virtual code.
    let mut order: Vec<(usize, u64, u64)> = functions.iter().map(|f| (f.1, f.2, f.0)).collect();
    order.sort();
    let profile = Profile {
        vms: vms.iter().map(|v| v.profile.clone()).collect(),
        functions: order.iter().map(|&(k, _, start)| (start, k)).collect(),
        base,
    };
    let out_memory = out.memory_size;
    Ok(Devirtualized {
        image: out,
        vms,
        functions: recovered,
        profile,
        memory_restored: (out_memory != image.memory_size)
            .then_some((image.memory_size, out_memory)),
    })
}
