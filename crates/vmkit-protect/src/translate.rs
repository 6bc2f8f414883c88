//! Translation of a function's basic blocks into virtual blocks, with symbolic references
//! to things whose addresses are known only after layout (other virtual blocks, native
//! stubs, condition tables).

use crate::context::{self, DROP, FLAGS};
use crate::discover::{Block, End, Function};
use crate::lower::{lower_body, lower_ret, Lowering, Sink};
use crate::vop::VKind;
use std::collections::BTreeMap;
use vmkit_isa::{Addr, Cond, Instr, Operand, Size};

/// An immediate that may be an address resolved after layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VImm {
    /// A known value.
    Const(u64),
    /// The address of virtual block `n` of the same VM.
    Block(usize),
    /// The address of native stub `n`.
    Stub(usize),
    /// `address(a) - address(b)` (jcc selection).
    Delta(Dest, Dest),
    /// The address of condition `c`'s 16-entry truth table.
    CondTable(Cond),
}

/// Where a conditional branch may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A virtual block.
    Block(usize),
    /// A native stub.
    Stub(usize),
    /// A native address.
    Native(u64),
}

/// A virtual instruction whose immediate may be symbolic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VItem {
    /// What it does.
    pub kind: VKind,
    /// Its immediate.
    pub imm: VImm,
}

/// A native stub the VM exits to.
#[derive(Clone, Debug, PartialEq)]
pub enum Stub {
    /// `push enc(block); jmp vm_entry`: enters the VM at a virtual block.
    Enter(usize),
    /// The original instruction (at its original address, for `call` targets), then
    /// the continuation: re-enter at a block, jump to a native address, or nothing.
    Escape(Instr, u64, Cont),
}

/// What follows an escaped instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cont {
    /// Re-enter the VM at this block.
    Block(usize),
    /// Jump to this native address.
    Native(u64),
    /// Nothing (`halt`).
    None,
}

/// A function's virtual code.
pub struct Translated {
    /// Virtual blocks, in the order of the native blocks.
    pub blocks: Vec<Vec<VItem>>,
    /// Index of the entry block's stub.
    pub entry_stub: usize,
}

/// Collects stubs, deduplicating re-entry stubs.
#[derive(Default)]
pub struct Stubs {
    /// All stubs of one VM, in order.
    pub list: Vec<Stub>,
    enters: BTreeMap<usize, usize>,
}

impl Stubs {
    /// The stub that enters at `block`.
    pub fn enter(&mut self, block: usize) -> usize {
        if let Some(&n) = self.enters.get(&block) {
            return n;
        }
        self.list.push(Stub::Enter(block));
        self.enters.insert(block, self.list.len() - 1);
        self.list.len() - 1
    }

    fn escape(&mut self, i: Instr, at: u64, cont: Cont) -> usize {
        self.list.push(Stub::Escape(i, at, cont));
        self.list.len() - 1
    }
}

/// Translates `f`; its blocks are numbered from `first_block` within its VM.
pub fn translate(
    f: &Function,
    first_block: usize,
    const_base: u64,
    stubs: &mut Stubs,
) -> Translated {
    let index: BTreeMap<u64, usize> = f
        .blocks
        .iter()
        .enumerate()
        .map(|(n, b)| (b.start, first_block + n))
        .collect();
    let entry_stub = stubs.enter(first_block);
    let blocks = f
        .blocks
        .iter()
        .map(|b| translate_block(b, &index, const_base, stubs))
        .collect();
    Translated { blocks, entry_stub }
}

fn translate_block(
    b: &Block,
    index: &BTreeMap<u64, usize>,
    const_base: u64,
    stubs: &mut Stubs,
) -> Vec<VItem> {
    let mut out = Vec::new();
    for (_, i) in &b.body {
        let mut e = Emit {
            out: &mut out,
            instr: i,
            const_base,
        };
        let done = lower_body(&mut e, i.op, i.size);
        debug_assert!(done, "blocks hold only virtualizable instructions");
    }
    let none = Instr::new(vmkit_isa::Op::Nop, Size::Q, &[]);
    let mut e = Emit {
        out: &mut out,
        instr: &none,
        const_base,
    };
    // Addresses inside the VM's layout fit 32 bits; a jcc that may leave the VM can go to
    // any native address, so it selects with 64-bit pushes.
    fn push_sym(e: &mut Emit, imm: VImm) {
        e.out.push(VItem {
            kind: VKind::PushI(Size::D),
            imm,
        });
    }
    fn push_wide(e: &mut Emit, imm: VImm) {
        e.out.push(VItem {
            kind: VKind::PushI(Size::Q),
            imm,
        });
    }
    match &b.end {
        End::Fall(t) | End::Jmp(t) => match index.get(t) {
            Some(&n) => {
                push_sym(&mut e, VImm::Block(n));
                e.v(VKind::Jmp, 0);
            }
            None => {
                e.pushi(*t);
                e.v(VKind::Exit, 0);
            }
        },
        End::Jcc(c, taken, fall) => {
            let both_inside = index.contains_key(taken) && index.contains_key(fall);
            let dest = |stubs: &mut Stubs, a: &u64| match index.get(a) {
                Some(&n) if both_inside => Dest::Block(n),
                Some(&n) => Dest::Stub(stubs.enter(n)),
                None => Dest::Native(*a),
            };
            let (t, f) = (dest(stubs, taken), dest(stubs, fall));
            let cond_instr = Instr::new(vmkit_isa::Op::Jcc, Size::Q, &[Operand::Cond(*c)]);
            let mut e = Emit {
                out: &mut out,
                instr: &cond_instr,
                const_base,
            };
            let push = if both_inside { push_sym } else { push_wide };
            e.cond(0);
            push(&mut e, VImm::Delta(t, f));
            e.v(VKind::Mul(Size::Q), 0);
            e.drop_top();
            push(&mut e, dest_imm(f));
            e.v(VKind::Add(Size::Q), 0);
            e.drop_top();
            e.v(if both_inside { VKind::Jmp } else { VKind::Exit }, 0);
        }
        End::JmpInd(i) => {
            let mut e = Emit {
                out: &mut out,
                instr: i,
                const_base,
            };
            e.val(0, Size::Q);
            e.v(VKind::Exit, 0);
        }
        End::Ret => lower_ret(&mut e),
        End::Escape(i, at, next) => {
            let cont = match next {
                None => Cont::None,
                Some(n) => match index.get(n) {
                    Some(&blk) => Cont::Block(blk),
                    None => Cont::Native(*n),
                },
            };
            let s = stubs.escape(*i, *at, cont);
            push_sym(&mut e, VImm::Stub(s));
            e.v(VKind::Exit, 0);
        }
    }
    out
}

/// The virtual code of one non-terminator instruction, as the translator emits it; `None`
/// if the VM does not run it. The devirtualizer checks each instruction it lifts with this.
pub fn lower_instr(i: &Instr, const_base: u64) -> Option<Vec<VItem>> {
    let mut out = Vec::new();
    let mut e = Emit {
        out: &mut out,
        instr: i,
        const_base,
    };
    lower_body(&mut e, i.op, i.size).then_some(out)
}

fn dest_imm(d: Dest) -> VImm {
    match d {
        Dest::Block(n) => VImm::Block(n),
        Dest::Stub(n) => VImm::Stub(n),
        Dest::Native(a) => VImm::Const(a),
    }
}

/// The translator's sink: emits virtual instructions for one native instruction.
struct Emit<'a> {
    out: &'a mut Vec<VItem>,
    instr: &'a Instr,
    const_base: u64,
}

impl Emit<'_> {
    fn operand(&self, i: usize) -> Operand {
        self.instr.operands[i]
    }
}

impl Sink for Emit<'_> {
    fn v(&mut self, kind: VKind, imm: u64) {
        self.out.push(VItem {
            kind,
            imm: VImm::Const(imm),
        });
    }

    fn val(&mut self, i: usize, size: Size) {
        match self.operand(i) {
            Operand::Reg(r) => self.v(VKind::LoadV(size), context::offset(r.index() as u64)),
            Operand::Imm { value, .. } => self.pushi(value as u64 & size.mask()),
            Operand::Mem(_) => {
                self.addr(i);
                self.v(VKind::Read(size), 0);
            }
            other => unreachable!("value of operand {other:?}"),
        }
    }

    fn addr(&mut self, i: usize) {
        let Operand::Mem(m) = self.operand(i) else {
            unreachable!("address of a non-memory operand")
        };
        match m.addr {
            Addr::Reg(r) => self.loadv(r.index() as u64),
            Addr::Based { base, disp } => {
                self.loadv(base.index() as u64);
                self.pushi(disp as i64 as u64);
                self.v(VKind::Add(Size::Q), 0);
                self.drop_top();
            }
            Addr::Indexed {
                base,
                index,
                scale_log2,
                disp,
            } => {
                self.loadv(index.index() as u64);
                if scale_log2 > 0 {
                    self.pushi(1 << scale_log2);
                    self.v(VKind::Mul(Size::Q), 0);
                    self.drop_top();
                }
                if let Some(b) = base {
                    self.loadv(b.index() as u64);
                    self.v(VKind::Add(Size::Q), 0);
                    self.drop_top();
                }
                self.pushi(disp as i64 as u64);
                self.v(VKind::Add(Size::Q), 0);
                self.drop_top();
            }
            Addr::Abs(a) => self.pushi(a as u64),
            Addr::Const(off) => self.pushi(self.const_base.wrapping_add(off as u64)),
        }
        for _ in 0..m.depth {
            self.v(VKind::Read(Size::Q), 0);
        }
    }

    fn store(&mut self, i: usize, size: Size) {
        match self.operand(i) {
            Operand::Reg(r) => self.v(VKind::StoreV(size), context::offset(r.index() as u64)),
            Operand::Mem(_) => {
                self.addr(i);
                self.v(VKind::Write(size), 0);
            }
            other => unreachable!("store to operand {other:?}"),
        }
    }

    fn cond(&mut self, i: usize) {
        let Operand::Cond(c) = self.operand(i) else {
            unreachable!("condition of a non-condition operand")
        };
        self.out.push(VItem {
            kind: VKind::PushI(Size::D),
            imm: VImm::CondTable(c),
        });
        self.loadv(FLAGS);
        self.v(VKind::Add(Size::Q), 0);
        self.storev(DROP);
        self.v(VKind::Read(Size::B), 0);
    }
}
