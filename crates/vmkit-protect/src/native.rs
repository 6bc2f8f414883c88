//! A small builder for native code: instructions, labels and branches to labels or
//! addresses, laid out at a base address. Every item has a fixed size, so layout is one
//! pass and addresses are known before any byte is written.

use vmkit_isa::{Addr, Cond, Instr, Mem, Op, Operand, Reg, Size};

/// A position in a [`Code`] buffer, bound with [`Code::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(usize);

impl Label {
    /// The label's number within its buffer.
    pub fn index(self) -> usize {
        self.0
    }

    /// The same label after its buffer was appended to one with `n` labels.
    pub fn shifted(self, n: usize) -> Label {
        Label(self.0 + n)
    }
}

/// Where a branch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A label in this buffer.
    Label(Label),
    /// A known absolute address.
    Addr(u64),
}

#[derive(Clone, Debug)]
enum Item {
    Instr(Instr),
    /// `jmp`, `call` or `jcc` with a 32-bit displacement.
    Branch(Op, Option<Cond>, Target),
    Bind(Label),
}

/// Native code under construction.
#[derive(Clone, Debug, Default)]
pub struct Code {
    items: Vec<Item>,
    labels: usize,
}

impl Code {
    /// An empty buffer.
    pub fn new() -> Code {
        Code::default()
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Number of labels created so far.
    pub fn label_count(&self) -> usize {
        self.labels
    }

    /// Binds `l` to the current position.
    pub fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    /// Appends an instruction.
    pub fn push(&mut self, i: Instr) {
        self.items.push(Item::Instr(i));
    }

    /// Appends `op size a, b` (or fewer operands).
    pub fn op(&mut self, op: Op, size: Size, operands: &[Operand]) {
        self.push(Instr::new(op, size, operands));
    }

    /// `jmp target`.
    pub fn jmp(&mut self, t: Target) {
        self.items.push(Item::Branch(Op::Jmp, None, t));
    }

    /// `call target`.
    pub fn call(&mut self, t: Target) {
        self.items.push(Item::Branch(Op::Call, None, t));
    }

    /// `jcc target`.
    pub fn jcc(&mut self, c: Cond, t: Target) {
        self.items.push(Item::Branch(Op::Jcc, Some(c), t));
    }

    /// Appends another buffer (its labels are renumbered into this one).
    pub fn append(&mut self, other: Code) {
        let shift = self.labels;
        self.labels += other.labels;
        let relabel = |t: Target| match t {
            Target::Label(Label(n)) => Target::Label(Label(n + shift)),
            a => a,
        };
        for item in other.items {
            self.items.push(match item {
                Item::Bind(Label(n)) => Item::Bind(Label(n + shift)),
                Item::Branch(op, c, t) => Item::Branch(op, c, relabel(t)),
                other => other,
            });
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.items.iter().map(item_len).sum()
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Addresses of the labels when the code is placed at `base` (`None` if unbound).
    pub fn label_addrs(&self, base: u64) -> Vec<Option<u64>> {
        let mut addrs = vec![None; self.labels];
        let mut at = base;
        for item in &self.items {
            if let Item::Bind(Label(n)) = item {
                addrs[*n] = Some(at);
            }
            at += item_len(item);
        }
        addrs
    }

    /// The bytes of the code placed at `base`, or the branch (its address and target)
    /// whose displacement does not fit 32 bits. Panics on an unbound label or an invalid
    /// instruction: both are bugs in the generator, not properties of any input.
    pub fn assemble(&self, base: u64) -> Result<Vec<u8>, (u64, u64)> {
        let addrs = self.label_addrs(base);
        let mut out = Vec::with_capacity(self.len() as usize);
        for item in &self.items {
            let at = base + out.len() as u64;
            match item {
                Item::Instr(i) => {
                    i.encode_into(&mut out)
                        .unwrap_or_else(|e| panic!("generated an invalid instruction {i:?}: {e}"));
                }
                Item::Branch(op, cond, t) => {
                    let target = match *t {
                        Target::Addr(a) => a,
                        Target::Label(Label(n)) => addrs[n].expect("branch to an unbound label"),
                    };
                    let len = if cond.is_some() { 6 } else { 5 };
                    let rel = target.wrapping_sub(at + len) as i64;
                    let rel = i32::try_from(rel).map_err(|_| (at, target))?;
                    let mut ops = vec![];
                    if let Some(c) = cond {
                        ops.push(Operand::Cond(*c));
                    }
                    ops.push(Operand::Rel(rel));
                    Instr::new(*op, Size::Q, &ops)
                        .encode_into(&mut out)
                        .expect("branches encode");
                }
                Item::Bind(_) => {}
            }
        }
        Ok(out)
    }
}

fn item_len(item: &Item) -> u64 {
    match item {
        Item::Instr(i) => i.len() as u64,
        Item::Branch(_, c, _) => {
            if c.is_some() {
                6
            } else {
                5
            }
        }
        Item::Bind(_) => 0,
    }
}

/// Operand shorthands.
pub mod o {
    use super::*;

    /// A register.
    pub fn r(r: Reg) -> Operand {
        Operand::Reg(r)
    }
    /// An immediate in its shortest encoding.
    pub fn imm(v: i64) -> Operand {
        Operand::imm(v)
    }
    /// An immediate encoded in 32 bits whatever its value (for patchable fields).
    pub fn imm32(v: i32) -> Operand {
        Operand::Imm {
            value: v as i64,
            width: vmkit_isa::ImmWidth::I32,
        }
    }
    /// `[r + disp]`.
    pub fn based(base: Reg, disp: i64) -> Operand {
        Operand::mem(Addr::Based {
            base,
            disp: i32::try_from(disp).expect("displacement fits 32 bits"),
        })
    }
    /// `[r]`.
    pub fn ind(r: Reg) -> Operand {
        Operand::mem(Addr::Reg(r))
    }
    /// `[addr]`.
    pub fn abs(addr: u64) -> Operand {
        Operand::mem(Addr::Abs(
            u32::try_from(addr).expect("VM addresses fit 32 bits"),
        ))
    }
    /// `[index*scale + disp]`.
    pub fn indexed(index: Reg, scale_log2: u8, disp: u64) -> Operand {
        Operand::Mem(Mem::new(Addr::Indexed {
            base: None,
            index,
            scale_log2,
            disp: i32::try_from(disp).expect("VM addresses fit 31 bits"),
        }))
    }
}
