//! Stage 3 of devirtualization: virtual blocks back to native instructions.
//!
//! The lowering templates ([`crate::lower`]) run backwards: a matching [`Sink`] walks the
//! decrypted virtual code, and where a template says "push operand 1" it reads which
//! operand the code pushes (a register, an immediate, a memory operand with its address
//! form and indirection depth). A template that runs to its end without a mismatch gives
//! an instruction; the instruction is accepted only if lowering it again reproduces the
//! virtual code exactly. Every way through the block is tried (a small dynamic program),
//! and the block's end is matched against the translator's terminator shapes.

use crate::bytecode::Decoded;
use crate::context::{self, DROP, FLAGS};
use crate::lower::{lower_body, lower_ret, Sink};
use crate::translate::{lower_instr, VImm};
use crate::vop::{VKind, VOp};
use vmkit_isa::{Addr, Cond, Form, Instr, Mem, Op, Operand, Reg, Size, OPS};

/// Where a branch of virtual code goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dest {
    /// A virtual block (its address), of the same function.
    Block(u64),
    /// A native address outside the function.
    Native(u64),
}

/// How a lifted block ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// `jmp`, or falling through.
    Jmp(Dest),
    /// `jcc cond, taken`, else `fall`.
    Jcc(Cond, Dest, Dest),
    /// `jmp operand`.
    JmpInd(Operand),
    /// `ret`.
    Ret,
    /// An instruction run natively in a stub, then where the stub continues (`None`
    /// after `halt`).
    Escape(Escaped, Option<Dest>),
}

/// An instruction an escape stub runs natively.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Escaped {
    /// `call target`.
    Call(u64),
    /// Any other instruction, as it is.
    Instr(Instr),
}

/// A lifted virtual block.
#[derive(Clone, Debug)]
pub struct Lifted {
    /// Its virtual address.
    pub addr: u64,
    /// Its virtual instructions.
    pub code: Vec<Decoded>,
    /// The native instructions of its body, with the index of each one's first virtual
    /// instruction.
    pub body: Vec<(usize, Instr)>,
    /// Index of the terminator's first virtual instruction.
    pub term_at: usize,
    /// How it ends.
    pub end: Term,
}

/// What the lifter needs to know about the image.
pub trait World {
    /// The truth table (16 bytes, one per flags value) at `addr`.
    fn table(&self, addr: u64) -> Option<[u8; 16]>;
    /// What a native address the VM exits to is: the block a re-entry stub enters, the
    /// instruction an escape stub runs and where it continues, or plain native code.
    fn exit_target(&self, addr: u64) -> ExitTarget;
    /// The constant pool: start and length.
    fn const_pool(&self) -> (u64, u64);
}

/// What an exit address is.
#[derive(Clone, Debug, PartialEq)]
pub enum ExitTarget {
    /// `push enc; jmp vm_entry`: re-enters the VM at this block.
    Enter(u64),
    /// An escape stub: the instruction and where the stub goes after it.
    Escape(Escaped, Option<Dest>),
    /// Native code of the program.
    Native,
}

/// Why a block does not lift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiftError {
    /// The virtual address of the first virtual instruction no template explains.
    pub at: u64,
    /// What was there.
    pub what: String,
}

/// The matching sink: follows a template over virtual code, binding operands.
struct Match<'a, W: World + ?Sized> {
    code: &'a [VOp],
    pos: usize,
    failed: bool,
    operands: [Option<Operand>; 3],
    world: &'a W,
}

impl<'a, W: World + ?Sized> Match<'a, W> {
    fn new(code: &'a [VOp], pos: usize, world: &'a W) -> Self {
        Match {
            code,
            pos,
            failed: false,
            operands: [None; 3],
            world,
        }
    }

    fn peek(&self, k: usize) -> Option<VOp> {
        self.code.get(self.pos + k).copied()
    }

    /// Consumes one instruction of kind `kind`; its immediate.
    fn take(&mut self, kind: VKind) -> Option<u64> {
        let op = self.peek(0).filter(|o| o.kind == kind)?;
        self.pos += 1;
        Some(op.imm)
    }

    /// Consumes a push of any width; the pushed 64-bit value.
    fn take_push(&mut self) -> Option<u64> {
        let op = self.peek(0)?;
        let VKind::PushI(s) = op.kind else {
            return None;
        };
        self.pos += 1;
        Some(s.sign_extend(op.imm))
    }

    fn take_drop(&mut self) -> bool {
        let at = self.pos;
        if self.take(VKind::StoreV(Size::Q)) == Some(context::offset(DROP)) {
            return true;
        }
        self.pos = at;
        false
    }

    /// `add.q; drop`.
    fn take_add(&mut self) -> bool {
        let at = self.pos;
        if self.take(VKind::Add(Size::Q)).is_some() && self.take_drop() {
            return true;
        }
        self.pos = at;
        false
    }

    /// A native register from a context offset.
    fn reg_at(off: u64) -> Option<Reg> {
        (off % context::SLOT == 0)
            .then(|| Reg::new((off / context::SLOT) as u8))
            .flatten()
    }

    fn take_reg(&mut self, kind: VKind) -> Option<Reg> {
        let op = self.peek(0).filter(|o| o.kind == kind)?;
        let r = Self::reg_at(op.imm)?;
        self.pos += 1;
        Some(r)
    }

    /// The address computation of a memory operand (without indirection).
    fn take_addr(&mut self) -> Option<Addr> {
        let start = self.pos;
        if let Some(a) = self.take_push() {
            let (lo, len) = self.world.const_pool();
            if len > 0 && (lo..lo + len).contains(&a) {
                return Some(Addr::Const((a - lo) as u32));
            }
            return u32::try_from(a).ok().map(Addr::Abs).or_else(|| {
                self.pos = start;
                None
            });
        }
        let x = self.take_reg(VKind::LoadV(Size::Q))?;
        let mut scale = 0;
        let mark = self.pos;
        if let Some(m) = self.take_push() {
            if m.is_power_of_two()
                && (2..=8).contains(&m)
                && self.take(VKind::Mul(Size::Q)).is_some()
                && self.take_drop()
            {
                scale = m.trailing_zeros() as u8;
            } else {
                self.pos = mark;
            }
        }
        let mark = self.pos;
        let mut base = None;
        if let Some(b) = self.take_reg(VKind::LoadV(Size::Q)) {
            if self.take_add() {
                base = Some(b);
            } else {
                self.pos = mark;
            }
        }
        let mark = self.pos;
        let mut disp = None;
        if let Some(d) = self.take_push() {
            match i32::try_from(d as i64) {
                Ok(d) if self.take_add() => disp = Some(d),
                _ => self.pos = mark,
            }
        }
        Some(match (scale, base, disp) {
            (0, None, None) => Addr::Reg(x),
            (0, None, Some(disp)) => Addr::Based { base: x, disp },
            (_, _, Some(disp)) => Addr::Indexed {
                base,
                index: x,
                scale_log2: scale,
                disp,
            },
            // The translator always adds the displacement of an indexed address.
            _ => {
                self.pos = start;
                return None;
            }
        })
    }

    /// A memory operand's address and its indirection: the `read.q`s that follow.
    /// `then` is the access that uses the operand (a final `read` of its value or a
    /// `write`), which is not indirection.
    fn take_mem(&mut self, then: Option<VKind>) -> Option<Mem> {
        let start = self.pos;
        let addr = self.take_addr()?;
        let mut reads = 0;
        while self
            .peek(reads)
            .is_some_and(|o| o.kind == VKind::Read(Size::Q))
        {
            reads += 1;
        }
        let depth = match then {
            None => reads,
            Some(VKind::Read(Size::Q)) if reads > 0 => reads - 1,
            Some(k) if self.peek(reads).is_some_and(|o| o.kind == k) => reads,
            _ => {
                self.pos = start;
                return None;
            }
        };
        let depth = u8::try_from(depth).ok()?;
        self.pos += depth as usize;
        if let Some(k) = then {
            self.take(k)?;
        }
        Some(Mem { addr, depth })
    }

    fn bind(&mut self, i: usize, o: Option<Operand>) {
        match (o, self.operands.get(i).copied()) {
            (Some(o), Some(None)) => self.operands[i] = Some(o),
            (Some(o), Some(Some(b))) if b == o => {}
            _ => self.failed = true,
        }
    }
}

impl<W: World + ?Sized> Sink for Match<'_, W> {
    fn v(&mut self, kind: VKind, imm: u64) {
        if self.failed {
            return;
        }
        if self.peek(0) == Some(VOp { kind, imm }) {
            self.pos += 1;
        } else {
            self.failed = true;
        }
    }

    fn val(&mut self, i: usize, size: Size) {
        if self.failed {
            return;
        }
        let o = if let Some(m) = self.take_mem(Some(VKind::Read(size))) {
            Some(Operand::Mem(m))
        } else if let Some(r) = self.take_reg(VKind::LoadV(size)) {
            Some(Operand::Reg(r))
        } else {
            self.take_push()
                .map(|v| Operand::imm(size.sign_extend(v & size.mask()) as i64))
        };
        self.bind(i, o);
    }

    fn addr(&mut self, i: usize) {
        if self.failed {
            return;
        }
        let o = self.take_mem(None).map(Operand::Mem);
        self.bind(i, o);
    }

    fn store(&mut self, i: usize, size: Size) {
        if self.failed {
            return;
        }
        let o = if let Some(r) = self.take_reg(VKind::StoreV(size)) {
            Some(Operand::Reg(r))
        } else {
            self.take_mem(Some(VKind::Write(size))).map(Operand::Mem)
        };
        self.bind(i, o);
    }

    fn cond(&mut self, i: usize) {
        if self.failed {
            return;
        }
        let start = self.pos;
        let table = self.take(VKind::PushI(Size::D));
        let flags = self.take(VKind::LoadV(Size::Q)) == Some(context::offset(FLAGS));
        let c = match table {
            Some(t) if flags && self.take_add() && self.take(VKind::Read(Size::B)).is_some() => {
                let truth = self.world.table(Size::D.sign_extend(t));
                Cond::ALL.into_iter().find(|c| {
                    truth.is_some_and(|tt| (0..16u64).all(|f| tt[f as usize] == c.holds(f) as u8))
                })
            }
            _ => None,
        };
        if c.is_none() {
            self.pos = start;
        }
        self.bind(i, c.map(Operand::Cond));
    }
}

/// Every (op, size) the templates cover, `mov` first (so that of equally long
/// instructions that lower alike, such as `movzx.q` and `mov.q`, `mov` comes back),
/// sizes largest first.
fn candidates() -> &'static [(Op, Size)] {
    static CANDIDATES: std::sync::OnceLock<Vec<(Op, Size)>> = std::sync::OnceLock::new();
    CANDIDATES.get_or_init(probe_candidates)
}

fn probe_candidates() -> Vec<(Op, Size)> {
    struct Probe(bool);
    impl Sink for Probe {
        fn v(&mut self, _: VKind, _: u64) {
            self.0 = true;
        }
        fn val(&mut self, _: usize, _: Size) {}
        fn addr(&mut self, _: usize) {}
        fn store(&mut self, _: usize, _: Size) {}
        fn cond(&mut self, _: usize) {}
    }
    let mut out = Vec::new();
    let mut ops: Vec<Op> = OPS.iter().map(|i| i.op).collect();
    ops.sort_by_key(|&o| o != Op::Mov);
    for op in ops {
        let sizes: &[Size] = if op.info().form == Form::Plain {
            &[Size::Q]
        } else {
            &[Size::Q, Size::D, Size::W, Size::B]
        };
        for &s in sizes {
            if op != Op::Nop && lower_body(&mut Probe(false), op, s) {
                out.push((op, s));
            }
        }
    }
    out
}

/// Whether lowering `i` again gives exactly `code`.
fn relowers(i: &Instr, code: &[VOp], const_base: u64) -> bool {
    let Some(items) = lower_instr(i, const_base) else {
        return false;
    };
    items.len() == code.len()
        && items.iter().zip(code).all(|(a, b)| {
            a.kind == b.kind
                && match a.imm {
                    VImm::Const(c) => c == b.imm,
                    // The condition was read from the table this address holds.
                    VImm::CondTable(_) => true,
                    _ => false,
                }
        })
}

/// Tries every template at `pos`; each instruction that explains the code from `pos`,
/// with where it ends.
fn instrs_at<W: World + ?Sized>(
    code: &[VOp],
    pos: usize,
    world: &W,
    cands: &[(Op, Size)],
) -> Vec<(usize, Instr)> {
    let mut out = Vec::new();
    for &(op, size) in cands {
        let mut m = Match::new(code, pos, world);
        lower_body(&mut m, op, size);
        if m.failed || m.pos == pos {
            continue;
        }
        let n = op.arity();
        if m.operands[n..].iter().any(Option::is_some) {
            continue;
        }
        let Some(operands) = m.operands[..n].iter().copied().collect::<Option<Vec<_>>>() else {
            continue;
        };
        let i = Instr::new(op, size, &operands);
        if i.encode_into(&mut Vec::new()).is_err() {
            continue;
        }
        if relowers(&i, &code[pos..m.pos], world.const_pool().0) {
            out.push((m.pos, i));
        }
    }
    out
}

/// Matches the terminator shapes against `code[pos..]`, which they must consume exactly.
fn term_at<W: World + ?Sized>(code: &[VOp], pos: usize, world: &W) -> Option<Term> {
    let rest = &code[pos..];
    let whole = |m: &Match<W>| !m.failed && m.pos == code.len();
    // ret
    let mut m = Match::new(code, pos, world);
    lower_ret(&mut m);
    if whole(&m) {
        return Some(Term::Ret);
    }
    let dest = |a: u64| match world.exit_target(a) {
        ExitTarget::Enter(b) => Some(Dest::Block(b)),
        ExitTarget::Native => Some(Dest::Native(a)),
        ExitTarget::Escape(..) => None,
    };
    match rest {
        // jmp to a block of the same VM.
        [VOp {
            kind: VKind::PushI(Size::D),
            imm,
        }, VOp {
            kind: VKind::Jmp, ..
        }] => return Some(Term::Jmp(Dest::Block(Size::D.sign_extend(*imm)))),
        // exit to native code, a re-entry stub or an escape stub.
        [VOp {
            kind: VKind::PushI(s),
            imm,
        }, VOp {
            kind: VKind::Exit, ..
        }] => {
            let a = s.sign_extend(*imm);
            return match world.exit_target(a) {
                ExitTarget::Enter(b) => Some(Term::Jmp(Dest::Block(b))),
                ExitTarget::Native => Some(Term::Jmp(Dest::Native(a))),
                ExitTarget::Escape(i, cont) => Some(Term::Escape(i, cont)),
            };
        }
        _ => {}
    }
    // jcc: cond; push delta; mul; drop; push fall; add; drop; jmp or exit.
    let mut m = Match::new(code, pos, world);
    m.cond(0);
    if !m.failed {
        let delta = m.take_push();
        let mul = m.take(VKind::Mul(Size::Q)).is_some() && m.take_drop();
        let fall = m.take_push();
        let add = m.take_add();
        let last = m.peek(0).map(|o| o.kind);
        if let (Some(Operand::Cond(c)), Some(delta), true, Some(fall), true, true) = (
            m.operands[0],
            delta,
            mul,
            fall,
            add,
            m.pos + 1 == code.len(),
        ) {
            let taken = fall.wrapping_add(delta);
            match last {
                Some(VKind::Jmp) => {
                    return Some(Term::Jcc(c, Dest::Block(taken), Dest::Block(fall)))
                }
                Some(VKind::Exit) => return Some(Term::Jcc(c, dest(taken)?, dest(fall)?)),
                _ => {}
            }
        }
    }
    // jmp through a register or memory.
    let mut m = Match::new(code, pos, world);
    m.val(0, Size::Q);
    m.v(VKind::Exit, 0);
    match m.operands[0] {
        Some(o @ (Operand::Reg(_) | Operand::Mem(_)))
            if whole(&m)
                && Instr::new(Op::JmpInd, Size::Q, &[o])
                    .encode_into(&mut Vec::new())
                    .is_ok() =>
        {
            Some(Term::JmpInd(o))
        }
        _ => None,
    }
}

/// Lifts one decrypted virtual block.
pub fn lift_block<W: World + ?Sized>(
    addr: u64,
    code: Vec<Decoded>,
    world: &W,
) -> Result<Lifted, LiftError> {
    let ops: Vec<VOp> = code.iter().map(|d| d.op).collect();
    let cands = candidates();
    // reach[p]: how position p is reached (previous position and instruction) with the
    // fewest bytes of native code: the shortest of the instructions that lower alike
    // (`movzx.d r, imm` and `mov r, imm64`, say) is what the original had.
    let mut reach: Vec<Option<(usize, Instr, u64)>> = vec![None; ops.len() + 1];
    let nop = Instr::new(Op::Nop, Size::Q, &[]);
    reach[0] = Some((0, nop, 0));
    let mut furthest = 0;
    for p in 0..=ops.len() {
        if reach[p].is_none() {
            continue;
        }
        furthest = p;
        if let Some(end) = term_at(&ops, p, world) {
            let mut body = Vec::new();
            let mut q = p;
            while q > 0 {
                let Some((prev, i, _)) = reach[q] else { break };
                body.push((prev, i));
                q = prev;
            }
            body.reverse();
            return Ok(Lifted {
                addr,
                code,
                body,
                term_at: p,
                end,
            });
        }
        let here = reach[p].map_or(0, |r| r.2);
        for (q, i) in instrs_at(&ops, p, world, cands) {
            let cost = here + i.len() as u64;
            if reach[q].is_none_or(|r| cost < r.2) {
                reach[q] = Some((p, i, cost));
            }
        }
    }
    let at = code.get(furthest).map_or(addr, |d| d.at);
    let what = code
        .get(furthest..)
        .unwrap_or_default()
        .iter()
        .take(6)
        .map(|d| d.op.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    Err(LiftError { at, what })
}
