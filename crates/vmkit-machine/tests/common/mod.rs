//! A tiny program builder for machine tests (the assembler lives in a higher layer).

#![allow(dead_code)]

use vmkit_isa::{Addr, Cond, Instr, Mem, Op, Operand, Reg, Size};

pub fn r(n: u8) -> Operand {
    Operand::Reg(Reg::r(n))
}
pub fn imm(v: i64) -> Operand {
    Operand::imm(v)
}
pub fn mem(base: u8, disp: i32) -> Operand {
    Operand::mem(Addr::Based {
        base: Reg::r(base),
        disp,
    })
}
pub fn abs(a: u32) -> Operand {
    Operand::Mem(Mem::new(Addr::Abs(a)))
}

/// Builds code with labels; branch targets are resolved at `finish`.
#[derive(Default)]
pub struct Prog {
    pub code: Vec<u8>,
    labels: std::collections::HashMap<String, usize>,
    fixups: Vec<(usize, usize, String)>, // (rel field offset, next-instruction offset, label)
}

impl Prog {
    pub fn new() -> Prog {
        Prog::default()
    }
    pub fn i(&mut self, op: Op, size: Size, ops: &[Operand]) -> &mut Self {
        Instr::new(op, size, ops)
            .encode_into(&mut self.code)
            .unwrap();
        self
    }
    pub fn q(&mut self, op: Op, ops: &[Operand]) -> &mut Self {
        self.i(op, Size::Q, ops)
    }
    pub fn label(&mut self, name: &str) -> &mut Self {
        self.labels.insert(name.to_string(), self.code.len());
        self
    }
    fn branch(&mut self, op: Op, cond: Option<Cond>, label: &str) -> &mut Self {
        let mut ops = vec![];
        if let Some(c) = cond {
            ops.push(Operand::Cond(c));
        }
        ops.push(Operand::Rel(0));
        let start = self.code.len();
        self.i(op, Size::Q, &ops);
        let end = self.code.len();
        self.fixups.push((end - 4, end, label.to_string()));
        let _ = start;
        self
    }
    pub fn jmp(&mut self, label: &str) -> &mut Self {
        self.branch(Op::Jmp, None, label)
    }
    pub fn call(&mut self, label: &str) -> &mut Self {
        self.branch(Op::Call, None, label)
    }
    pub fn jcc(&mut self, c: Cond, label: &str) -> &mut Self {
        self.branch(Op::Jcc, Some(c), label)
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.code.extend_from_slice(b);
        self
    }
    pub fn finish(&mut self) -> Vec<u8> {
        for (at, next, label) in &self.fixups {
            let target = self.labels[label] as i64;
            let rel = (target - *next as i64) as i32;
            self.code[*at..*at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        self.code.clone()
    }
}

/// A machine per dispatch backend and per record set (specialised fast records, or every
/// instruction through the reference semantics), labelled for assertion messages.
pub fn machines(memory: u64) -> Vec<(String, vmkit_machine::Machine)> {
    let mut out = Vec::new();
    for dispatch in vmkit_machine::Dispatch::ALL {
        for specialize in [true, false] {
            let mut m = vmkit_machine::Machine::new(memory);
            m.set_dispatch(dispatch);
            m.set_specialize(specialize);
            let records = if specialize { "fast" } else { "reference" };
            out.push((format!("{dispatch:?}/{records}"), m));
        }
    }
    out
}

/// `make()` once per dispatch backend, switched to that backend.
pub fn per_dispatch(
    make: impl Fn() -> vmkit_machine::Machine,
) -> Vec<(vmkit_machine::Dispatch, vmkit_machine::Machine)> {
    vmkit_machine::Dispatch::ALL
        .into_iter()
        .map(|d| {
            let mut m = make();
            m.set_dispatch(d);
            (d, m)
        })
        .collect()
}
