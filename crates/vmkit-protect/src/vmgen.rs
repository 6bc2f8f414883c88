//! Generates a VM instance as native code: vm_entry, calc_jmp (the dispatcher), vm_exit
//! and one handler per opcode byte, all from a [`VmProfile`].
//!
//! Nothing of the VM is Rust at run time: the protected image carries this code, and
//! `vmkit run` runs it like any program. Handlers keep no state in native registers
//! besides VIP, VSP and the key; every other register is scratch (vm_entry saved the
//! program's registers in the context), so each handler draws its own temporaries, and
//! junk instructions work on the registers it leaves free. Junk never sits between an
//! instruction that sets flags and the one that reads them.

use crate::context;
use crate::native::{o, Code, Label, Target};
use crate::profile::VmProfile;
use crate::rng::Rng;
use crate::transform::imm_at;
use crate::vop::VKind;
use vmkit_isa::{Addr, Cond, Mem, Op, Operand, Reg, Size};

/// Where a VM instance's data lives.
#[derive(Clone, Copy, Debug)]
pub struct VmAddrs {
    /// The context (virtual registers).
    pub ctx: u64,
    /// One past the top of the virtual stack.
    pub vstack_top: u64,
    /// The encrypted handler table (256 32-bit entries).
    pub table: u64,
    /// What decrypted entry offsets are relative to.
    pub bytecode_base: u64,
    /// What decrypted handler-table entries are relative to.
    pub handler_base: u64,
}

/// A generated VM instance.
pub struct VmCode {
    /// The code.
    pub code: Code,
    /// vm_entry: stubs jump here after pushing an encrypted offset.
    pub entry: Label,
    /// calc_jmp: handlers jump here for the next virtual instruction.
    pub dispatch: Label,
    /// vm_exit.
    pub exit: Label,
    /// The handler for each opcode byte.
    pub handlers: Vec<Label>,
}

/// Generates the VM for `p` at addresses `a`; `rng` decides junk, register use and order.
pub fn generate(p: &VmProfile, a: &VmAddrs, rng: &mut Rng) -> VmCode {
    let mut code = Code::new();
    let entry = code.label();
    let dispatch = code.label();
    let exit = code.label();
    let others = p.regs.scratch();

    // vm_entry: save the program's registers and flags, pop and decrypt the offset.
    code.bind(entry);
    let mut order: Vec<u8> = (0..16).collect();
    rng.shuffle(&mut order);
    for &n in &order {
        code.op(
            Op::Mov,
            Size::Q,
            &[o::abs(a.ctx + context::offset(n as u64)), o::r(Reg::r(n))],
        );
    }
    let t = *rng.pick(&others);
    code.op(Op::Pushf, Size::Q, &[]);
    code.op(Op::Pop, Size::Q, &[o::r(t)]);
    code.op(
        Op::Mov,
        Size::Q,
        &[o::abs(a.ctx + context::offset(context::FLAGS)), o::r(t)],
    );
    code.op(Op::Pop, Size::Q, &[o::r(t)]);
    code.op(
        Op::Mov,
        Size::Q,
        &[o::abs(a.ctx + context::offset(context::SP)), o::r(Reg::SP)],
    );
    code.op(Op::Movzx, Size::D, &[o::r(t), o::r(t)]);
    for tr in p.entry.t {
        code.push(tr.instr(t, Size::D));
    }
    code.op(
        Op::Add,
        Size::Q,
        &[o::r(t), o::imm32(a.bytecode_base as i32)],
    );
    code.op(Op::Mov, Size::Q, &[o::r(p.regs.vip), o::r(t)]);
    code.op(Op::Mov, Size::Q, &[o::r(p.regs.key), o::r(p.regs.vip)]);
    code.op(
        Op::Mov,
        Size::Q,
        &[o::r(p.regs.vsp), o::imm32(a.vstack_top as i32)],
    );

    // calc_jmp: fetch, decrypt with the rolling key, index the table, decrypt, jump.
    code.bind(dispatch);
    let (op_reg, h_reg) = {
        let mut pair = others.clone();
        rng.shuffle(&mut pair);
        (pair[0], pair[1])
    };
    if !p.forward {
        code.op(Op::Sub, Size::Q, &[o::r(p.regs.vip), o::imm(1)]);
    }
    code.op(Op::Movzx, Size::B, &[o::r(op_reg), o::ind(p.regs.vip)]);
    let d = p.dispatch;
    code.op(d.key_op.op(), Size::B, &[o::r(op_reg), o::r(p.regs.key)]);
    for tr in d.chain.t {
        code.push(tr.instr(op_reg, Size::B));
    }
    code.op(d.key_op.op(), Size::B, &[o::r(p.regs.key), o::r(op_reg)]);
    code.op(
        Op::Movzx,
        Size::D,
        &[o::r(h_reg), o::indexed(op_reg, 2, a.table)],
    );
    code.push(p.table.instr(h_reg, Size::D));
    if p.forward {
        code.op(Op::Add, Size::Q, &[o::r(p.regs.vip), o::imm(1)]);
    }
    code.op(
        Op::Add,
        Size::Q,
        &[o::r(h_reg), o::imm32(a.handler_base as i32)],
    );
    code.op(Op::JmpInd, Size::Q, &[o::r(h_reg)]);

    // vm_exit: the program's stack pointer, flags and registers, then the target.
    code.bind(exit);
    code.op(
        Op::Mov,
        Size::Q,
        &[o::r(Reg::SP), o::abs(a.ctx + context::offset(context::SP))],
    );
    code.op(
        Op::Push,
        Size::Q,
        &[o::abs(a.ctx + context::offset(context::FLAGS))],
    );
    code.op(Op::Popf, Size::Q, &[]);
    rng.shuffle(&mut order);
    for &n in &order {
        code.op(
            Op::Mov,
            Size::Q,
            &[o::r(Reg::r(n)), o::abs(a.ctx + context::offset(n as u64))],
        );
    }
    code.op(
        Op::JmpInd,
        Size::Q,
        &[o::abs(a.ctx + context::offset(context::TARGET))],
    );

    // Handlers, in a random order in memory.
    let handlers: Vec<Label> = (0..256).map(|_| code.label()).collect();
    let mut order: Vec<usize> = (0..p.handlers.len()).collect();
    rng.shuffle(&mut order);
    for i in order {
        code.bind(handlers[i]);
        let mut h = Handler::new(p, a, rng.fork(i as u64), &mut code, dispatch, exit);
        h.body(p.handlers[i].kind, i);
    }
    VmCode {
        code,
        entry,
        dispatch,
        exit,
        handlers,
    }
}

/// A handler for opcode `opcode` of `p` alone, without junk, for the devirtualizer to
/// run as the definition of what a kind does: it jumps to `dispatch` for the next
/// instruction and to `exit` to leave the VM, both labels of the returned code, which
/// the caller binds.
pub fn reference_handler(p: &VmProfile, a: &VmAddrs, opcode: usize) -> (Code, Label, Label) {
    let mut code = Code::new();
    let dispatch = code.label();
    let exit = code.label();
    let mut h = Handler::new(p, a, Rng::new(0), &mut code, dispatch, exit);
    h.junk = false;
    h.body(p.handlers[opcode].kind, opcode);
    (code, dispatch, exit)
}

/// One handler under construction.
struct Handler<'a> {
    p: &'a VmProfile,
    a: &'a VmAddrs,
    rng: Rng,
    code: &'a mut Code,
    /// Temporaries, drawn in order by `tmp`.
    temps: Vec<Reg>,
    next_temp: usize,
    dispatch: Label,
    exit: Label,
    /// Whether junk instructions are mixed in.
    junk: bool,
}

const TEMPS: usize = 7;

impl<'a> Handler<'a> {
    fn new(
        p: &'a VmProfile,
        a: &'a VmAddrs,
        mut rng: Rng,
        code: &'a mut Code,
        dispatch: Label,
        exit: Label,
    ) -> Self {
        let mut temps = p.regs.scratch();
        rng.shuffle(&mut temps);
        Handler {
            p,
            a,
            rng,
            code,
            temps,
            next_temp: 0,
            dispatch,
            exit,
            junk: true,
        }
    }

    fn tmp(&mut self) -> Reg {
        let r = self.temps[self.next_temp];
        self.next_temp += 1;
        debug_assert!(self.next_temp <= TEMPS);
        r
    }

    /// Registers junk may clobber: not the VM's, not this handler's temporaries.
    fn free(&self) -> &[Reg] {
        &self.temps[TEMPS..]
    }

    /// An instruction after which flags are dead, so junk may follow.
    fn i(&mut self, op: Op, size: Size, ops: &[Operand]) {
        self.code.op(op, size, ops);
        self.junk();
    }

    /// An instruction whose flags the next instruction reads: no junk after it.
    fn sealed(&mut self, op: Op, size: Size, ops: &[Operand]) {
        self.code.op(op, size, ops);
    }

    fn junk(&mut self) {
        if !self.junk {
            return;
        }
        let n = match self.rng.below(8) {
            0..=3 => 0,
            4..=6 => 1,
            _ => 2,
        };
        for _ in 0..n {
            let free = self.free().to_vec();
            let dst = *self.rng.pick(&free);
            let any = Reg::r(self.rng.below(16) as u8);
            let size = Size::ALL[self.rng.below(4) as usize];
            let k = self.rng.next_u64();
            let (op, ops): (Op, Vec<Operand>) = match self.rng.below(10) {
                0 => (Op::Mov, vec![o::r(dst), imm_at(k, size)]),
                1 => (
                    *self.rng.pick(&[Op::Add, Op::Sub, Op::Xor, Op::And, Op::Or]),
                    vec![o::r(dst), o::r(any)],
                ),
                2 => (
                    *self.rng.pick(&[Op::Add, Op::Xor, Op::Or]),
                    vec![o::r(dst), imm_at(k, size)],
                ),
                3 => (
                    *self.rng.pick(&[Op::Rol, Op::Ror, Op::Shl, Op::Sar]),
                    vec![o::r(dst), o::imm((k % 63 + 1) as i64)],
                ),
                4 => (
                    *self
                        .rng
                        .pick(&[Op::Not, Op::Neg, Op::Inc, Op::Dec, Op::Bswap]),
                    vec![o::r(dst)],
                ),
                5 => (
                    Op::Lea,
                    vec![o::r(dst), o::based(any, (k as i32 >> 8) as i64)],
                ),
                6 => (Op::Movzx, vec![o::r(dst), o::r(any)]),
                7 => (Op::Imul, vec![o::r(dst), o::r(any)]),
                8 => (
                    *self.rng.pick(&[Op::Cmp, Op::Test]),
                    vec![o::r(dst), o::r(any)],
                ),
                _ => (Op::Mov, vec![o::r(dst), o::r(any)]),
            };
            let size = if op == Op::Lea { Size::Q } else { size };
            self.code.op(op, size, &ops);
        }
    }

    fn vsp(&self, slot: i64) -> Operand {
        o::based(self.p.regs.vsp, slot * 8)
    }

    fn ctx_at(&self, r: Reg) -> Operand {
        o::based(r, self.a.ctx as i64)
    }

    /// Reads the next `size` bytes of immediate at VIP and decrypts them with the chain
    /// of opcode `opcode`'s handler; returns the register holding the plain value.
    fn fetch_imm(&mut self, size: Size, opcode: usize) -> Reg {
        let chain = self.p.handlers[opcode]
            .imm
            .expect("validated profiles have a chain for every immediate");
        let r = self.tmp();
        let (vip, key) = (self.p.regs.vip, self.p.regs.key);
        let step = o::imm(size.bytes() as i64);
        if self.p.forward {
            self.i(Op::Movzx, size, &[o::r(r), o::ind(vip)]);
            self.i(Op::Add, Size::Q, &[o::r(vip), step]);
        } else {
            self.i(Op::Sub, Size::Q, &[o::r(vip), step]);
            self.i(Op::Movzx, size, &[o::r(r), o::ind(vip)]);
        }
        self.i(chain.key_op.op(), size, &[o::r(r), o::r(key)]);
        for t in chain.chain.t {
            let ins = t.instr(r, size);
            self.i(ins.op, ins.size, ins.operands());
        }
        self.i(chain.key_op.op(), size, &[o::r(key), o::r(r)]);
        r
    }

    /// Packs ZF CF OF SF of the last flag-setting instruction into a register, without
    /// touching the native stack (the program's stack limit applies to it).
    fn capture_flags(&mut self) -> Reg {
        let f = self.tmp();
        let c = self.tmp();
        let v = self.tmp();
        let s = self.tmp();
        let set =
            |h: &mut Self, cond, r| h.sealed(Op::Setcc, Size::Q, &[Operand::Cond(cond), o::r(r)]);
        set(self, Cond::Z, f);
        set(self, Cond::B, c);
        set(self, Cond::O, v);
        set(self, Cond::S, s);
        self.junk();
        for (r, scale) in [(c, 1), (v, 2), (s, 3)] {
            let sum = Operand::Mem(Mem::new(Addr::Indexed {
                base: Some(f),
                index: r,
                scale_log2: scale,
                disp: 0,
            }));
            self.i(Op::Lea, Size::Q, &[o::r(f), sum]);
        }
        f
    }

    fn next(&mut self) {
        self.code.jmp(Target::Label(self.dispatch));
    }

    fn body(&mut self, kind: VKind, opcode: usize) {
        use VKind::*;
        let vsp = self.p.regs.vsp;
        match kind {
            PushI(s) => {
                let r = self.fetch_imm(s, opcode);
                let x = self.tmp();
                self.i(Op::Movsx, s, &[o::r(x), o::r(r)]);
                self.i(Op::Sub, Size::Q, &[o::r(vsp), o::imm(8)]);
                self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(x)]);
            }
            LoadV(s) => {
                let r = self.fetch_imm(Size::B, opcode);
                let x = self.tmp();
                self.i(Op::Movzx, s, &[o::r(x), self.ctx_at(r)]);
                self.i(Op::Sub, Size::Q, &[o::r(vsp), o::imm(8)]);
                self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(x)]);
            }
            StoreV(s) => {
                let r = self.fetch_imm(Size::B, opcode);
                let x = self.tmp();
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(0)]);
                self.i(Op::Add, Size::Q, &[o::r(vsp), o::imm(8)]);
                self.i(Op::Mov, s, &[self.ctx_at(r), o::r(x)]);
            }
            Read(s) => {
                let (a, x) = (self.tmp(), self.tmp());
                self.i(Op::Mov, Size::Q, &[o::r(a), self.vsp(0)]);
                self.i(Op::Movzx, s, &[o::r(x), o::ind(a)]);
                self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(x)]);
            }
            Write(s) => {
                let (a, x) = (self.tmp(), self.tmp());
                self.i(Op::Mov, Size::Q, &[o::r(a), self.vsp(0)]);
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(1)]);
                self.i(Op::Add, Size::Q, &[o::r(vsp), o::imm(16)]);
                self.i(Op::Mov, s, &[o::ind(a), o::r(x)]);
            }
            Add(s) | Mul(s) | Imul(s) | Nand(s) => {
                let (x, y) = (self.tmp(), self.tmp());
                self.i(Op::Mov, Size::Q, &[o::r(y), self.vsp(0)]);
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(1)]);
                match kind {
                    Nand(_) => {
                        self.i(Op::Not, s, &[o::r(x)]);
                        self.i(Op::Not, s, &[o::r(y)]);
                        self.sealed(Op::Or, s, &[o::r(x), o::r(y)]);
                    }
                    Add(_) => self.sealed(Op::Add, s, &[o::r(x), o::r(y)]),
                    Mul(_) => self.sealed(Op::Mul, s, &[o::r(x), o::r(y)]),
                    _ => self.sealed(Op::Imul, s, &[o::r(x), o::r(y)]),
                }
                let f = self.capture_flags();
                self.i(Op::Mov, Size::Q, &[self.vsp(1), o::r(x)]);
                self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(f)]);
            }
            Adc(s) | Sbb(s) => {
                let (x, y, old) = (self.tmp(), self.tmp(), self.tmp());
                self.i(Op::Mov, Size::Q, &[o::r(y), self.vsp(0)]);
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(1)]);
                self.i(Op::Mov, Size::Q, &[o::r(old), self.vsp(2)]);
                // CF is bit 1 of the flags: shifting right by 2 leaves it in CF.
                self.sealed(Op::Shr, Size::Q, &[o::r(old), o::imm(2)]);
                let op = if matches!(kind, Adc(_)) {
                    Op::Adc
                } else {
                    Op::Sbb
                };
                self.sealed(op, s, &[o::r(x), o::r(y)]);
                let f = self.capture_flags();
                self.finish_three(x, f);
            }
            Shl(s) | Shr(s) | Sar(s) | Rol(s) | Ror(s) => {
                let (x, c, old) = (self.tmp(), self.tmp(), self.tmp());
                self.i(Op::Mov, Size::Q, &[o::r(c), self.vsp(0)]);
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(1)]);
                self.i(Op::Mov, Size::Q, &[o::r(old), self.vsp(2)]);
                let keep = self.code.label();
                let out = self.code.label();
                // A count of zero (modulo the width) leaves the flags alone.
                self.sealed(Op::Test, Size::Q, &[o::r(c), o::imm(s.bits() as i64 - 1)]);
                self.code.jcc(Cond::Z, Target::Label(keep));
                let op = match kind {
                    Shl(_) => Op::Shl,
                    Shr(_) => Op::Shr,
                    Sar(_) => Op::Sar,
                    Rol(_) => Op::Rol,
                    _ => Op::Ror,
                };
                self.sealed(op, s, &[o::r(x), o::r(c)]);
                let f = if matches!(op, Op::Rol | Op::Ror) {
                    // Rotates change CF only.
                    let cf = self.tmp();
                    let f = self.tmp();
                    self.sealed(Op::Setcc, Size::Q, &[Operand::Cond(Cond::B), o::r(cf)]);
                    self.i(Op::And, Size::Q, &[o::r(old), o::imm(!2)]);
                    let sum = Operand::Mem(Mem::new(Addr::Indexed {
                        base: Some(old),
                        index: cf,
                        scale_log2: 1,
                        disp: 0,
                    }));
                    self.i(Op::Lea, Size::Q, &[o::r(f), sum]);
                    f
                } else {
                    self.capture_flags()
                };
                self.code.jmp(Target::Label(out));
                self.code.bind(keep);
                self.i(Op::Mov, Size::Q, &[o::r(f), o::r(old)]);
                self.code.bind(out);
                self.finish_three(x, f);
            }
            Mulh(s) | Imulh(s) | Div(s) | Idiv(s) | Rem(s) | Irem(s) => {
                let op = match kind {
                    Mulh(_) => Op::Mulh,
                    Imulh(_) => Op::Imulh,
                    Div(_) => Op::Div,
                    Idiv(_) => Op::Idiv,
                    Rem(_) => Op::Rem,
                    _ => Op::Irem,
                };
                self.binary_no_flags(op, s);
            }
            Fadd | Fsub | Fmul | Fdiv | Fmin | Fmax => {
                let op = match kind {
                    Fadd => Op::Fadd,
                    Fsub => Op::Fsub,
                    Fmul => Op::Fmul,
                    Fdiv => Op::Fdiv,
                    Fmin => Op::Fmin,
                    _ => Op::Fmax,
                };
                self.binary_no_flags(op, Size::Q);
            }
            Fcmp => {
                let (x, y) = (self.tmp(), self.tmp());
                self.i(Op::Mov, Size::Q, &[o::r(y), self.vsp(0)]);
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(1)]);
                self.sealed(Op::Fcmp, Size::Q, &[o::r(x), o::r(y)]);
                let f = self.capture_flags();
                self.i(Op::Add, Size::Q, &[o::r(vsp), o::imm(8)]);
                self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(f)]);
            }
            Sext(_) | Bswap(_) | Fsqrt | Fneg | Fabs | Cvtif | Cvtfi => {
                let x = self.tmp();
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(0)]);
                match kind {
                    Sext(s) => self.i(Op::Movsx, s, &[o::r(x), o::r(x)]),
                    Bswap(s) => self.i(Op::Bswap, s, &[o::r(x)]),
                    Fsqrt => self.i(Op::Fsqrt, Size::Q, &[o::r(x), o::r(x)]),
                    Fneg => self.i(Op::Fneg, Size::Q, &[o::r(x), o::r(x)]),
                    Fabs => self.i(Op::Fabs, Size::Q, &[o::r(x), o::r(x)]),
                    Cvtif => self.i(Op::Cvtif, Size::Q, &[o::r(x), o::r(x)]),
                    _ => self.i(Op::Cvtfi, Size::Q, &[o::r(x), o::r(x)]),
                }
                self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(x)]);
            }
            Jmp => {
                let (vip, key) = (self.p.regs.vip, self.p.regs.key);
                self.i(Op::Mov, Size::Q, &[o::r(vip), self.vsp(0)]);
                self.i(Op::Add, Size::Q, &[o::r(vsp), o::imm(8)]);
                self.i(Op::Mov, Size::Q, &[o::r(key), o::r(vip)]);
                self.next();
                return;
            }
            Exit => {
                let x = self.tmp();
                self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(0)]);
                self.i(Op::Add, Size::Q, &[o::r(vsp), o::imm(8)]);
                let target = o::abs(self.a.ctx + context::offset(context::TARGET));
                self.i(Op::Mov, Size::Q, &[target, o::r(x)]);
                self.code.jmp(Target::Label(self.exit));
                return;
            }
        }
        self.next();
    }

    /// `[.., x, y]` -> `[.., x op y]`, flags untouched.
    fn binary_no_flags(&mut self, op: Op, s: Size) {
        let (x, y) = (self.tmp(), self.tmp());
        self.i(Op::Mov, Size::Q, &[o::r(y), self.vsp(0)]);
        self.i(Op::Mov, Size::Q, &[o::r(x), self.vsp(1)]);
        self.i(op, s, &[o::r(x), o::r(y)]);
        self.i(Op::Add, Size::Q, &[o::r(self.p.regs.vsp), o::imm(8)]);
        self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(x)]);
    }

    /// `[.., old, x, y]` -> `[.., result, flags]`.
    fn finish_three(&mut self, x: Reg, f: Reg) {
        self.i(Op::Add, Size::Q, &[o::r(self.p.regs.vsp), o::imm(8)]);
        self.i(Op::Mov, Size::Q, &[self.vsp(1), o::r(x)]);
        self.i(Op::Mov, Size::Q, &[self.vsp(0), o::r(f)]);
    }
}
