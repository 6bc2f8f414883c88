//! Lowering: each native instruction becomes a sequence of virtual instructions.
//!
//! The templates are written once, against the [`Sink`] trait. The translator's sink
//! emits virtual instructions from an instruction's operands; the devirtualizer's sink
//! runs the same template over recovered virtual code and reads the operands back. So
//! lowering and lifting cannot drift apart.
//!
//! As the issue asks, sub/cmp/neg/and/or/xor/not/test are built from `nand` and `add`
//! alone, with the flags the native instruction would set (see [`Lowering::sub_core`]).

use crate::context::{self, DROP, FLAGS, SP, T0};
use crate::vop::VKind;
use vmkit_isa::{Addr, Instr, Op, Operand, Size};

/// Flag bits: ZF CF OF SF.
const ZF_SF: u64 = 0b1001;
const CF_OF: u64 = 0b0110;
const CF: u64 = 0b0010;

/// Where virtual instructions go (translator) or come from (devirtualizer).
pub trait Sink {
    /// A virtual instruction with a fixed immediate (0 if the kind has none).
    fn v(&mut self, kind: VKind, imm: u64);
    /// Push the value of operand `i` at `size` (zero-extended from register and memory,
    /// immediates truncated to `size`).
    fn val(&mut self, i: usize, size: Size);
    /// Push the effective address of memory operand `i`.
    fn addr(&mut self, i: usize);
    /// Pop into operand `i` at `size`.
    fn store(&mut self, i: usize, size: Size);
    /// Push 1 if condition operand `i` holds for the program's flags, else 0.
    fn cond(&mut self, i: usize);
}

/// Template helpers on any sink.
pub trait Lowering: Sink {
    /// Push a virtual register.
    fn loadv(&mut self, slot: u64) {
        self.v(VKind::LoadV(Size::Q), context::offset(slot));
    }
    /// Pop into a virtual register.
    fn storev(&mut self, slot: u64) {
        self.v(VKind::StoreV(Size::Q), context::offset(slot));
    }
    /// Pop and forget (flags nobody reads).
    fn drop_top(&mut self) {
        self.storev(DROP);
    }
    /// Push a constant in the shortest immediate that sign-extends to it.
    fn pushi(&mut self, c: u64) {
        self.v(VKind::PushI(push_width(c)), c & push_width(c).mask());
    }
    /// `[.., x, y]` -> `[.., x & y]` at 64 bits, flags dropped.
    fn and_const(&mut self, c: u64) {
        self.pushi(c);
        self.v(VKind::Nand(Size::Q), 0);
        self.drop_top();
        self.storev(T0);
        self.loadv(T0);
        self.loadv(T0);
        self.v(VKind::Nand(Size::Q), 0);
        self.drop_top();
    }
    /// Pushes `(a & ma) | (b & mb)` for flag words in slots `a`, `b`: three nands.
    fn merge_flags(&mut self, a: u64, ma: u64, b: u64, mb: u64) {
        self.loadv(a);
        self.pushi(ma);
        self.v(VKind::Nand(Size::Q), 0);
        self.drop_top();
        self.loadv(b);
        self.pushi(mb);
        self.v(VKind::Nand(Size::Q), 0);
        self.drop_top();
        self.v(VKind::Nand(Size::Q), 0);
        self.drop_top();
    }
    /// Subtraction from nand and add: `a - b = !(!a + b)`. With `[.., !a, b]` pushed by
    /// the caller, leaves `[.., a - b, flags]` where ZF SF come from the final nand and
    /// CF OF from the add (the carry of `!a + b` is the borrow of `a - b`, and the
    /// overflows coincide).
    fn sub_core(&mut self, s: Size) {
        self.v(VKind::Add(s), 0);
        self.storev(T0 + 1);
        self.storev(T0);
        self.loadv(T0);
        self.loadv(T0);
        self.v(VKind::Nand(s), 0);
        self.storev(T0 + 2);
        self.merge_flags(T0 + 2, ZF_SF, T0 + 1, CF_OF);
    }
    /// `sp += delta` on the program's stack pointer.
    fn adjust_sp(&mut self, delta: i64) {
        self.loadv(SP);
        self.pushi(delta as u64);
        self.v(VKind::Add(Size::Q), 0);
        self.drop_top();
        self.storev(SP);
    }
    /// Push `!x` for operand `i` (flags dropped).
    fn not_of(&mut self, i: usize, s: Size) {
        self.val(i, s);
        self.val(i, s);
        self.v(VKind::Nand(s), 0);
        self.drop_top();
    }
}

impl<S: Sink + ?Sized> Lowering for S {}

/// The narrowest push whose sign extension gives `c`.
pub fn push_width(c: u64) -> Size {
    for s in [Size::B, Size::W, Size::D] {
        if s.sign_extend(c) == c {
            return s;
        }
    }
    Size::Q
}

/// Whether the VM runs `i` itself. Everything else (system and host calls, calls, halt,
/// breakpoints, and two aliasing corner cases) leaves the VM through a native stub that
/// executes the original instruction and re-enters. Branches and `ret` are block
/// terminators, lowered separately.
pub fn virtualizable(i: &Instr) -> bool {
    match i.op {
        Op::Sys | Op::Hcall | Op::Halt | Op::Brk | Op::Call | Op::CallInd => false,
        // `xchg r, [r + ..]` and friends: the two stores would see each other.
        Op::Xchg => {
            matches!(
                (i.operands[0], i.operands[1]),
                (Operand::Reg(_), Operand::Reg(_))
            ) || xchg_independent(i)
        }
        // A false condition must not touch a memory destination.
        Op::Cmovcc => !matches!(i.operands[1], Operand::Mem(_)),
        _ => true,
    }
}

fn xchg_independent(i: &Instr) -> bool {
    // Register/memory exchanges are fine when the address does not use the register.
    let (r, m) = match (i.operands[0], i.operands[1]) {
        (Operand::Reg(r), Operand::Mem(m)) | (Operand::Mem(m), Operand::Reg(r)) => (r, m),
        _ => return false,
    };
    if m.depth > 0 {
        return false;
    }
    match m.addr {
        Addr::Reg(b) | Addr::Based { base: b, .. } => b != r,
        Addr::Indexed { base, index, .. } => index != r && base != Some(r),
        Addr::Abs(_) | Addr::Const(_) => true,
    }
}

/// Lowers one non-terminator instruction `op` at `size`; returns false if the VM does not
/// run it (see [`virtualizable`]) or it is a terminator.
pub fn lower_body<S: Sink + ?Sized>(s: &mut S, op: Op, n: Size) -> bool {
    use VKind as K;
    match op {
        Op::Nop => {}
        Op::Mov => {
            s.val(1, n);
            s.store(0, n);
        }
        Op::Movzx => {
            s.val(1, n);
            s.store(0, Size::Q);
        }
        Op::Movsx => {
            s.val(1, n);
            if n != Size::Q {
                s.v(K::Sext(n), 0);
            }
            s.store(0, Size::Q);
        }
        Op::Xchg => {
            // Values first, then the memory side is stored before the register side.
            s.val(1, n);
            s.val(0, n);
            s.store(1, n);
            s.store(0, n);
        }
        Op::Lea => {
            s.addr(1);
            s.store(0, Size::Q);
        }
        Op::Push => {
            s.val(0, n);
            s.adjust_sp(-(n.bytes() as i64));
            s.loadv(SP);
            s.v(K::Write(n), 0);
        }
        Op::Pop => {
            s.loadv(SP);
            s.v(K::Read(n), 0);
            s.adjust_sp(n.bytes() as i64);
            s.store(0, n);
        }
        Op::Pushf => {
            s.loadv(FLAGS);
            s.adjust_sp(-8);
            s.loadv(SP);
            s.v(K::Write(Size::Q), 0);
        }
        Op::Popf => {
            s.loadv(SP);
            s.v(K::Read(Size::Q), 0);
            s.and_const(0xF);
            s.storev(FLAGS);
            s.adjust_sp(8);
        }
        Op::Add | Op::Mul | Op::Imul => {
            s.val(0, n);
            s.val(1, n);
            s.v(
                match op {
                    Op::Add => K::Add(n),
                    Op::Mul => K::Mul(n),
                    _ => K::Imul(n),
                },
                0,
            );
            s.storev(FLAGS);
            s.store(0, n);
        }
        Op::Adc | Op::Sbb | Op::Shl | Op::Shr | Op::Sar | Op::Rol | Op::Ror => {
            s.loadv(FLAGS);
            s.val(0, n);
            s.val(1, n);
            s.v(
                match op {
                    Op::Adc => K::Adc(n),
                    Op::Sbb => K::Sbb(n),
                    Op::Shl => K::Shl(n),
                    Op::Shr => K::Shr(n),
                    Op::Sar => K::Sar(n),
                    Op::Rol => K::Rol(n),
                    _ => K::Ror(n),
                },
                0,
            );
            s.storev(FLAGS);
            s.store(0, n);
        }
        Op::Mulh | Op::Imulh | Op::Div | Op::Idiv | Op::Rem | Op::Irem => {
            s.val(0, n);
            s.val(1, n);
            s.v(
                match op {
                    Op::Mulh => K::Mulh(n),
                    Op::Imulh => K::Imulh(n),
                    Op::Div => K::Div(n),
                    Op::Idiv => K::Idiv(n),
                    Op::Rem => K::Rem(n),
                    _ => K::Irem(n),
                },
                0,
            );
            s.store(0, n);
        }
        Op::Sub | Op::Cmp => {
            s.not_of(0, n);
            s.val(1, n);
            s.sub_core(n);
            s.storev(FLAGS);
            if op == Op::Sub {
                s.store(0, n);
            } else {
                s.drop_top();
            }
        }
        Op::Neg => {
            s.pushi(u64::MAX);
            s.val(0, n);
            s.sub_core(n);
            s.storev(FLAGS);
            s.store(0, n);
        }
        Op::And | Op::Test => {
            s.val(0, n);
            s.val(1, n);
            s.v(K::Nand(n), 0);
            s.drop_top();
            s.storev(T0);
            s.loadv(T0);
            s.loadv(T0);
            s.v(K::Nand(n), 0);
            s.storev(FLAGS);
            if op == Op::And {
                s.store(0, n);
            } else {
                s.drop_top();
            }
        }
        Op::Or => {
            s.not_of(0, n);
            s.not_of(1, n);
            s.v(K::Nand(n), 0);
            s.storev(FLAGS);
            s.store(0, n);
        }
        Op::Xor => {
            // a ^ b = nand(nand(a, n), nand(b, n)) with n = nand(a, b).
            s.val(0, n);
            s.val(1, n);
            s.v(K::Nand(n), 0);
            s.drop_top();
            s.storev(T0);
            s.val(0, n);
            s.loadv(T0);
            s.v(K::Nand(n), 0);
            s.drop_top();
            s.val(1, n);
            s.loadv(T0);
            s.v(K::Nand(n), 0);
            s.drop_top();
            s.v(K::Nand(n), 0);
            s.storev(FLAGS);
            s.store(0, n);
        }
        Op::Not => {
            s.not_of(0, n);
            s.store(0, n);
        }
        Op::Inc | Op::Dec => {
            // add 1 / add -1 give the right ZF SF OF; CF is kept from before.
            s.val(0, n);
            s.pushi(if op == Op::Inc { 1 } else { u64::MAX });
            s.v(K::Add(n), 0);
            s.storev(T0 + 1);
            s.merge_flags(T0 + 1, !CF & 0xF, FLAGS, CF);
            s.storev(FLAGS);
            s.store(0, n);
        }
        Op::Bswap => {
            s.val(0, n);
            s.v(K::Bswap(n), 0);
            s.store(0, n);
        }
        Op::Setcc => {
            s.cond(0);
            s.store(1, n);
        }
        Op::Cmovcc => {
            // dst + c * (src - dst): the subtraction again from nand and add.
            s.cond(0);
            s.storev(T0 + 3);
            s.not_of(2, n);
            s.val(1, n);
            s.v(K::Add(n), 0);
            s.drop_top();
            s.storev(T0);
            s.loadv(T0);
            s.loadv(T0);
            s.v(K::Nand(n), 0);
            s.drop_top();
            s.loadv(T0 + 3);
            s.v(K::Mul(n), 0);
            s.drop_top();
            s.val(1, n);
            s.v(K::Add(n), 0);
            s.drop_top();
            s.store(1, n);
        }
        Op::Fadd | Op::Fsub | Op::Fmul | Op::Fdiv | Op::Fmin | Op::Fmax => {
            s.val(0, Size::Q);
            s.val(1, Size::Q);
            s.v(
                match op {
                    Op::Fadd => K::Fadd,
                    Op::Fsub => K::Fsub,
                    Op::Fmul => K::Fmul,
                    Op::Fdiv => K::Fdiv,
                    Op::Fmin => K::Fmin,
                    _ => K::Fmax,
                },
                0,
            );
            s.store(0, Size::Q);
        }
        Op::Fsqrt | Op::Fneg | Op::Fabs | Op::Cvtif | Op::Cvtfi => {
            s.val(1, Size::Q);
            s.v(
                match op {
                    Op::Fsqrt => K::Fsqrt,
                    Op::Fneg => K::Fneg,
                    Op::Fabs => K::Fabs,
                    Op::Cvtif => K::Cvtif,
                    _ => K::Cvtfi,
                },
                0,
            );
            s.store(0, Size::Q);
        }
        Op::Fcmp => {
            s.val(0, Size::Q);
            s.val(1, Size::Q);
            s.v(K::Fcmp, 0);
            s.storev(FLAGS);
        }
        _ => return false,
    }
    true
}

/// `ret`: pop the return address, leave the VM there.
pub fn lower_ret<S: Sink + ?Sized>(s: &mut S) {
    s.loadv(SP);
    s.v(VKind::Read(Size::Q), 0);
    s.adjust_sp(8);
    s.v(VKind::Exit, 0);
}
