//! x87 instruction semantics: operands (stack registers, memory in every x87 format),
//! stack faults with their masked responses, the condition codes, pending exceptions.
//!
//! Stack faults: reading an empty register or pushing onto a full one raises IE and SF (C1
//! tells overflow from underflow); with IE masked the destination gets the QNaN indefinite,
//! with IE unmasked nothing is written. An unmasked exception sets ES; the next waiting x87
//! instruction (anything but `fninit`, `fnclex`, `fnstsw`, `fnstcw`, `fnstenv`, `fnsave`)
//! then stops with [`ExecError::X87`], which the machine reports as SIGFPE.

use super::arith::{self, BinOp, Outcome};
use super::f80::{to_bcd, Class, IntWidth, F80};
use super::round::{self, exc, rounding};
use super::state::{sw, Fpu};
use super::transcendental::{self as tr, Angle};
use crate::cpu::flags::{AF, CF, OF, PF, SF, ZF};
use crate::cpu::operand::{effective_address, ExecError, Result};
use crate::cpu::{Cpu, EAX};
use iced_x86::{Instruction, MemorySize, Mnemonic, OpKind, Register};
use rustc_apfloat::Round;
use std::cmp::Ordering;
use vmkit_mem::Memory;

/// Whether `m` is an x87 instruction this module executes.
pub fn is_x87(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::F2xm1
            | M::Fabs
            | M::Fadd
            | M::Faddp
            | M::Fbld
            | M::Fbstp
            | M::Fchs
            | M::Fclex
            | M::Fcmovb
            | M::Fcmovbe
            | M::Fcmove
            | M::Fcmovnb
            | M::Fcmovnbe
            | M::Fcmovne
            | M::Fcmovnu
            | M::Fcmovu
            | M::Fcom
            | M::Fcomi
            | M::Fcomip
            | M::Fcomp
            | M::Fcompp
            | M::Fcos
            | M::Fdecstp
            | M::Fdiv
            | M::Fdivp
            | M::Fdivr
            | M::Fdivrp
            | M::Ffree
            | M::Ffreep
            | M::Fiadd
            | M::Ficom
            | M::Ficomp
            | M::Fidiv
            | M::Fidivr
            | M::Fild
            | M::Fimul
            | M::Fincstp
            | M::Finit
            | M::Fist
            | M::Fistp
            | M::Fisttp
            | M::Fisub
            | M::Fisubr
            | M::Fld
            | M::Fld1
            | M::Fldcw
            | M::Fldenv
            | M::Fldl2e
            | M::Fldl2t
            | M::Fldlg2
            | M::Fldln2
            | M::Fldpi
            | M::Fldz
            | M::Fmul
            | M::Fmulp
            | M::Fnclex
            | M::Fndisi
            | M::Fneni
            | M::Fninit
            | M::Fnop
            | M::Fnsave
            | M::Fnsetpm
            | M::Fnstcw
            | M::Fnstenv
            | M::Fnstsw
            | M::Fpatan
            | M::Fprem
            | M::Fprem1
            | M::Fptan
            | M::Frndint
            | M::Frstor
            | M::Fsave
            | M::Fscale
            | M::Fsin
            | M::Fsincos
            | M::Fsqrt
            | M::Fst
            | M::Fstcw
            | M::Fstenv
            | M::Fstp
            | M::Fstsw
            | M::Fsub
            | M::Fsubp
            | M::Fsubr
            | M::Fsubrp
            | M::Ftst
            | M::Fucom
            | M::Fucomi
            | M::Fucomip
            | M::Fucomp
            | M::Fucompp
            | M::Fxam
            | M::Fxch
            | M::Fxtract
            | M::Fyl2x
            | M::Fyl2xp1
            | M::Wait
    )
}

/// Instructions that do not first deliver a pending unmasked exception.
fn is_no_wait(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Fninit | M::Fnclex | M::Fnstsw | M::Fnstcw | M::Fnstenv | M::Fnsave
    ) || matches!(m, M::Fneni | M::Fndisi | M::Fnsetpm)
}

/// Control instructions, which leave the last-instruction pointers alone.
fn is_control(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Fninit
            | M::Finit
            | M::Fnclex
            | M::Fclex
            | M::Fldcw
            | M::Fnstcw
            | M::Fstcw
            | M::Fnstsw
            | M::Fstsw
            | M::Fnstenv
            | M::Fstenv
            | M::Fldenv
            | M::Fnsave
            | M::Fsave
            | M::Frstor
            | M::Wait
    )
}

/// The stack register an operand names (`st(i)` → i).
fn st_index(insn: &Instruction, op: u32) -> usize {
    let r = insn.op_register(op);
    (r as usize).wrapping_sub(Register::ST0 as usize) & 7
}

/// The `st(i)` operand of a one-register form (`fld st(i)`, `fcom st(i)`, `fxch st(i)`):
/// the last register operand, `st(1)` when there is none.
fn other_st(insn: &Instruction) -> usize {
    (0..insn.op_count())
        .rev()
        .find(|&k| insn.op_kind(k) == OpKind::Register)
        .map_or(1, |k| st_index(insn, k))
}

fn has_memory(insn: &Instruction) -> bool {
    (0..insn.op_count()).any(|k| insn.op_kind(k) == OpKind::Memory)
}

fn read_bytes<const N: usize>(mem: &Memory, addr: u32) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    out.copy_from_slice(mem.read_bytes(addr as u64, N as u64)?);
    Ok(out)
}

fn write_bytes(mem: &mut Memory, addr: u32, bytes: &[u8]) -> Result<()> {
    mem.write_bytes(addr as u64, bytes)?;
    Ok(())
}

/// A memory operand read as an x87 value: the value, and whether the load itself raised
/// IE (signaling NaN from m32/m64) or DE (denormal m32/m64).
fn load_operand(mem: &Memory, addr: u32, size: MemorySize) -> Result<(F80, u16)> {
    let flags = |l: super::f80::Loaded| {
        (if l.signaling { exc::IE } else { 0 }) | if l.denormal { exc::DE } else { 0 }
    };
    Ok(match size {
        MemorySize::Float32 => {
            let (v, l) = F80::from_f32_bits(mem.read(addr as u64, 4)? as u32);
            (v, flags(l))
        }
        MemorySize::Float64 => {
            let (v, l) = F80::from_f64_bits(mem.read(addr as u64, 8)?);
            (v, flags(l))
        }
        MemorySize::Float80 => (F80::from_bytes(read_bytes(mem, addr)?), 0),
        MemorySize::Int16 => (
            F80::from_i64(mem.read(addr as u64, 2)? as u16 as i16 as i64),
            0,
        ),
        MemorySize::Int32 => (
            F80::from_i64(mem.read(addr as u64, 4)? as u32 as i32 as i64),
            0,
        ),
        MemorySize::Int64 => (F80::from_i64(mem.read(addr as u64, 8)? as i64), 0),
        MemorySize::Bcd => (F80::from_bcd(read_bytes(mem, addr)?), 0),
        _ => (F80::INDEFINITE, exc::IE),
    })
}

/// Rounds an x87 constant: `nearest` is its round-to-nearest value and `up` says whether
/// that rounding went up; directed modes take the neighbour on their side.
fn constant(nearest: u64, exp: u16, up: bool, cw: u16) -> F80 {
    let sig = match (rounding(cw), up) {
        (Round::TowardNegative | Round::TowardZero, true) => nearest - 1,
        (Round::TowardPositive, false) => nearest + 1,
        _ => nearest,
    };
    F80 { sign_exp: exp, sig }
}

impl Fpu {
    /// Stack-fault response: IE and SF with C1 = `overflow`. Returns whether IE is masked
    /// (the caller then writes the indefinite).
    fn stack_fault(&mut self, overflow: bool) -> bool {
        self.raise(exc::IE | exc::SF);
        self.set_c1(overflow);
        !self.unmasked(exc::IE)
    }

    /// Pushes `v` raising the exceptions in `exceptions` first (a load's IE or DE); a full
    /// `st(7)` is a stack overflow.
    fn push_checked(&mut self, v: F80, exceptions: u16) {
        if !self.is_empty(7) {
            if self.stack_fault(true) {
                self.push(F80::INDEFINITE);
            }
            return;
        }
        self.raise(exceptions);
        // An unmasked denormal-operand exception still loads (measured); an unmasked
        // invalid operation does not.
        if self.unmasked(exceptions & exc::IE) {
            return;
        }
        let v = if exceptions & exc::IE != 0 && v.is_nan() {
            v.quieted()
        } else {
            v
        };
        self.push(v);
        self.set_c1(false);
    }

    /// Raises an operation's exceptions as the hardware detects them: an unmasked
    /// invalid-operation, denormal-operand or zero-divide exception stops the operation
    /// before the later ones are detected. Returns whether the result may be written.
    fn raise_in_order(&mut self, exceptions: u16) -> bool {
        for stop in [exc::IE, exc::DE, exc::ZE] {
            if exceptions & stop != 0 && self.unmasked(stop) {
                self.raise(
                    exceptions & (exc::IE | exc::DE | exc::ZE | exc::SF) & (stop | (stop - 1)),
                );
                return false;
            }
        }
        self.raise(exceptions);
        true
    }

    /// Writes an arithmetic outcome to `st(dst)` (then pops if `pop`), unless an unmasked
    /// IE, DE or ZE forbids writing.
    fn write_outcome(&mut self, dst: usize, o: Outcome, pop: bool) {
        if !self.raise_in_order(o.exceptions) {
            return;
        }
        self.set_st(dst, o.value);
        self.set_c1(o.c1);
        if pop {
            self.pop();
        }
    }

    /// Reads `st(i)` for an operation; `None` after a stack underflow has been handled by
    /// writing the indefinite to `st(dst)` (popping if `pop`).
    fn operands(&mut self, regs: &[usize], dst: usize, pop: bool) -> Option<Vec<F80>> {
        if regs.iter().any(|&i| self.is_empty(i)) {
            if self.stack_fault(false) {
                self.set_st(dst, F80::INDEFINITE);
                if pop {
                    self.pop();
                }
            }
            return None;
        }
        Some(regs.iter().map(|&i| self.st(i)).collect())
    }

    /// Condition codes of a comparison (C3 C2 C0; C1 cleared).
    fn compare_cc(order: Option<Ordering>) -> u16 {
        match order {
            None => sw::C3 | sw::C2 | sw::C0,
            Some(Ordering::Less) => sw::C0,
            Some(Ordering::Equal) => sw::C3,
            Some(Ordering::Greater) => 0,
        }
    }
}

/// EFLAGS of `fcomi`: ZF PF CF like C3 C2 C0; OF SF AF cleared.
fn comi_flags(eflags: u32, order: Option<Ordering>) -> u32 {
    let bits = match order {
        None => ZF | PF | CF,
        Some(Ordering::Less) => CF,
        Some(Ordering::Equal) => ZF,
        Some(Ordering::Greater) => 0,
    };
    (eflags & !(ZF | PF | CF | OF | SF | AF)) | bits
}

/// FOP of the instruction at `addr`: low 3 bits of its D8-DF opcode byte, then ModRM.
fn opcode_at(mem: &Memory, addr: u32) -> u16 {
    let Ok(bytes) = mem.peek(addr as u64, 15) else {
        return 0;
    };
    let at = bytes
        .iter()
        .position(|b| {
            !matches!(
                b,
                0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3 | 0x9B
            )
        })
        .unwrap_or(0);
    match bytes.get(at..at + 2) {
        Some([op, modrm]) if op & 0xF8 == 0xD8 => ((*op as u16 & 7) << 8) | *modrm as u16,
        _ => 0,
    }
}

/// Executes the x87 instruction `insn`.
pub fn exec(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    use Mnemonic as M;
    let m = insn.mnemonic();
    let fpu = &mut cpu.fpu;
    fpu.used = true;
    if !is_no_wait(m) && fpu.sw & sw::ES != 0 {
        return Err(ExecError::X87(fpu.status()));
    }
    let addr = if has_memory(insn) {
        effective_address(cpu, insn)
    } else {
        0
    };
    let fpu = &mut cpu.fpu;
    if !is_control(m) {
        fpu.fip = insn.ip32();
        fpu.fdp = addr;
    }
    let cw = fpu.cw;
    match m {
        M::Wait | M::Fnop | M::Fneni | M::Fndisi | M::Fnsetpm => {}
        M::Fninit | M::Finit => fpu.init(),
        M::Fnclex | M::Fclex => fpu.sw &= !(0x7F | sw::ES | sw::B),
        M::Fnstcw | M::Fstcw => mem.write(addr as u64, 2, fpu.cw as u64)?,
        M::Fldcw => {
            fpu.cw = (mem.read(addr as u64, 2)? as u16 & 0x1F7F) | 0x40;
            if fpu.unmasked(fpu.sw) {
                fpu.sw |= sw::ES | sw::B;
            } else {
                fpu.sw &= !(sw::ES | sw::B);
            }
        }
        M::Fnstsw | M::Fstsw => {
            if insn.op_kind(0) == OpKind::Register {
                let ax = fpu.status() as u32;
                cpu.regs[EAX] = (cpu.regs[EAX] & !0xFFFF) | ax;
            } else {
                mem.write(addr as u64, 2, fpu.status() as u64)?;
            }
        }
        M::Fnstenv | M::Fstenv => {
            let fop = opcode_at(mem, fpu.fip);
            if insn.memory_size() == MemorySize::FpuEnv14 {
                write_bytes(mem, addr, &fpu.env16())?;
            } else {
                write_bytes(mem, addr, &fpu.env32(fop))?;
            }
            fpu.cw |= 0x3F;
            fpu.sw &= !(sw::ES | sw::B);
        }
        M::Fldenv => {
            let len = if insn.memory_size() == MemorySize::FpuEnv14 {
                14
            } else {
                28
            };
            let image = mem.read_bytes(addr as u64, len)?.to_vec();
            fpu.load_env(&image);
        }
        M::Fnsave | M::Fsave => {
            let fop = opcode_at(mem, fpu.fip);
            let mut image = if insn.memory_size() == MemorySize::FpuState94 {
                fpu.env16().to_vec()
            } else {
                fpu.env32(fop).to_vec()
            };
            for i in 0..8 {
                image.extend_from_slice(&fpu.st(i).to_bytes());
            }
            write_bytes(mem, addr, &image)?;
            fpu.init();
        }
        M::Frstor => {
            let env_len = if insn.memory_size() == MemorySize::FpuState94 {
                14
            } else {
                28
            };
            let image = mem.read_bytes(addr as u64, env_len + 80)?.to_vec();
            fpu.load_env(&image[..env_len as usize]);
            for i in 0..8 {
                let at = env_len as usize + 10 * i;
                let mut b = [0u8; 10];
                b.copy_from_slice(&image[at..at + 10]);
                let p = fpu.phys(i);
                fpu.regs[p] = F80::from_bytes(b);
            }
        }
        M::Fld | M::Fild | M::Fbld => {
            if insn.op_kind(0) == OpKind::Register {
                let i = st_index(insn, 0);
                if !fpu.is_empty(7) {
                    fpu.push_checked(F80::INDEFINITE, 0);
                } else if fpu.is_empty(i) {
                    if fpu.stack_fault(false) {
                        fpu.push(F80::INDEFINITE);
                    }
                } else {
                    let v = fpu.st(i);
                    fpu.push_checked(v, 0);
                }
            } else {
                let (v, e) = load_operand(mem, addr, insn.memory_size())?;
                fpu.push_checked(v, e);
            }
        }
        M::Fld1 => fpu.push_checked(F80::ONE, 0),
        M::Fldz => fpu.push_checked(F80::ZERO, 0),
        M::Fldpi => fpu.push_checked(constant(0xC90F_DAA2_2168_C235, 0x4000, true, cw), 0),
        M::Fldl2e => fpu.push_checked(constant(0xB8AA_3B29_5C17_F0BC, 0x3FFF, true, cw), 0),
        M::Fldl2t => fpu.push_checked(constant(0xD49A_784B_CD1B_8AFE, 0x4000, false, cw), 0),
        M::Fldlg2 => fpu.push_checked(constant(0x9A20_9A84_FBCF_F799, 0x3FFD, true, cw), 0),
        M::Fldln2 => fpu.push_checked(constant(0xB172_17F7_D1CF_79AC, 0x3FFE, true, cw), 0),
        M::Fst | M::Fstp if insn.op_kind(0) == OpKind::Register => {
            let i = st_index(insn, 0);
            let pop = m == M::Fstp;
            if fpu.is_empty(0) {
                if fpu.stack_fault(false) {
                    fpu.set_st(i, F80::INDEFINITE);
                    if pop {
                        fpu.pop();
                    }
                }
            } else {
                let v = fpu.st(0);
                fpu.set_st(i, v);
                fpu.set_c1(false);
                if pop {
                    fpu.pop();
                }
            }
        }
        M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp | M::Fbstp => {
            let pop = !matches!(m, M::Fst | M::Fist);
            if store(fpu, mem, insn, addr, m)? && pop {
                fpu.pop();
            }
        }
        M::Fadd
        | M::Fsub
        | M::Fsubr
        | M::Fmul
        | M::Fdiv
        | M::Fdivr
        | M::Faddp
        | M::Fsubp
        | M::Fsubrp
        | M::Fmulp
        | M::Fdivp
        | M::Fdivrp
        | M::Fiadd
        | M::Fisub
        | M::Fisubr
        | M::Fimul
        | M::Fidiv
        | M::Fidivr => {
            let (op, reverse) = match m {
                M::Fadd | M::Faddp | M::Fiadd => (BinOp::Add, false),
                M::Fsub | M::Fsubp | M::Fisub => (BinOp::Sub, false),
                M::Fsubr | M::Fsubrp | M::Fisubr => (BinOp::Sub, true),
                M::Fmul | M::Fmulp | M::Fimul => (BinOp::Mul, false),
                M::Fdiv | M::Fdivp | M::Fidiv => (BinOp::Div, false),
                _ => (BinOp::Div, true),
            };
            let pop = matches!(
                m,
                M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
            );
            if has_memory(insn) {
                let (src, load_exc) = load_operand(mem, addr, insn.memory_size())?;
                let Some(ops) = fpu.operands(&[0], 0, false) else {
                    return Ok(());
                };
                let (a, b) = if reverse {
                    (src, ops[0])
                } else {
                    (ops[0], src)
                };
                let mut o = arith::binary(op, a, b, cw);
                // A denormal m32/m64 is normal once widened, but still a denormal operand
                // (unless a NaN, an invalid operation or a zero divide took precedence).
                if o.exceptions & (exc::IE | exc::ZE) == 0 && !a.is_nan() && !b.is_nan() {
                    o.exceptions |= load_exc & exc::DE;
                }
                fpu.write_outcome(0, o, false);
            } else {
                let (dst, src) = if insn.op_count() == 2 {
                    (st_index(insn, 0), st_index(insn, 1))
                } else {
                    (1, 0)
                };
                let Some(ops) = fpu.operands(&[dst, src], dst, pop) else {
                    return Ok(());
                };
                let (a, b) = if reverse {
                    (ops[1], ops[0])
                } else {
                    (ops[0], ops[1])
                };
                fpu.write_outcome(dst, arith::binary(op, a, b, cw), pop);
            }
        }
        M::Fcom
        | M::Fcomp
        | M::Fucom
        | M::Fucomp
        | M::Ficom
        | M::Ficomp
        | M::Fcompp
        | M::Fucompp
        | M::Ftst => {
            let quiet = matches!(m, M::Fucom | M::Fucomp | M::Fucompp);
            let pops = match m {
                M::Fcomp | M::Fucomp | M::Ficomp => 1,
                M::Fcompp | M::Fucompp => 2,
                _ => 0,
            };
            // Memory operands (a signaling NaN keeps its kind for the compare); ftst
            // compares with +0.
            let (other, load_exc) = if has_memory(insn) {
                load_operand(mem, addr, insn.memory_size())?
            } else {
                (F80::ZERO, 0)
            };
            let regs: Vec<usize> = if has_memory(insn) || m == M::Ftst {
                vec![0]
            } else if matches!(m, M::Fcompp | M::Fucompp) {
                vec![0, 1]
            } else {
                vec![0, other_st(insn)]
            };
            if regs.iter().any(|&i| fpu.is_empty(i)) {
                if fpu.stack_fault(false) {
                    fpu.set_cc(Fpu::compare_cc(None));
                    for _ in 0..pops {
                        fpu.pop();
                    }
                }
                return Ok(());
            }
            let a = fpu.st(0);
            let b = if regs.len() == 2 {
                fpu.st(regs[1])
            } else {
                other
            };
            let mut c = arith::compare(a, b, quiet);
            // A denormal m32/m64 is normal once widened, but still a denormal operand.
            if c.exceptions & exc::IE == 0 {
                c.exceptions |= load_exc & exc::DE;
            }
            // The condition codes are set even when an unmasked exception stops the pops.
            fpu.set_cc(Fpu::compare_cc(c.order));
            if !fpu.raise_in_order(c.exceptions) {
                return Ok(());
            }
            for _ in 0..pops {
                fpu.pop();
            }
        }
        M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => {
            let quiet = matches!(m, M::Fucomi | M::Fucomip);
            let pop = matches!(m, M::Fcomip | M::Fucomip);
            let i = other_st(insn);
            if fpu.is_empty(0) || fpu.is_empty(i) {
                if fpu.stack_fault(false) {
                    cpu.eflags = comi_flags(cpu.eflags, None);
                    if pop {
                        cpu.fpu.pop();
                    }
                }
                return Ok(());
            }
            let c = arith::compare(fpu.st(0), fpu.st(i), quiet);
            fpu.set_c1(false);
            // EFLAGS are set even when an unmasked exception stops the pop.
            let may_pop = fpu.raise_in_order(c.exceptions);
            if pop && may_pop {
                fpu.pop();
            }
            cpu.eflags = comi_flags(cpu.eflags, c.order);
        }
        M::Fcmovb
        | M::Fcmovbe
        | M::Fcmove
        | M::Fcmovnb
        | M::Fcmovnbe
        | M::Fcmovne
        | M::Fcmovnu
        | M::Fcmovu => {
            let f = |bit| cpu.eflags & bit != 0;
            let holds = match m {
                M::Fcmovb => f(CF),
                M::Fcmovnb => !f(CF),
                M::Fcmove => f(ZF),
                M::Fcmovne => !f(ZF),
                M::Fcmovbe => f(CF) || f(ZF),
                M::Fcmovnbe => !f(CF) && !f(ZF),
                M::Fcmovu => f(PF),
                _ => !f(PF),
            };
            let fpu = &mut cpu.fpu;
            let i = other_st(insn);
            if fpu.is_empty(0) || fpu.is_empty(i) {
                if fpu.stack_fault(false) {
                    fpu.set_st(0, F80::INDEFINITE);
                }
            } else {
                if holds {
                    let v = fpu.st(i);
                    fpu.set_st(0, v);
                }
                fpu.set_c1(false);
            }
        }
        M::Fxch => {
            let i = other_st(insn);
            if fpu.is_empty(0) || fpu.is_empty(i) {
                if !fpu.stack_fault(false) {
                    return Ok(());
                }
                for k in [0, i] {
                    if fpu.is_empty(k) {
                        fpu.set_st(k, F80::INDEFINITE);
                    }
                }
            }
            let (a, b) = (fpu.st(0), fpu.st(i));
            fpu.set_st(0, b);
            fpu.set_st(i, a);
            fpu.set_c1(false);
        }
        M::Ffree => {
            let i = st_index(insn, 0);
            fpu.free(i);
        }
        M::Ffreep => {
            let i = st_index(insn, 0);
            fpu.free(i);
            fpu.pop();
        }
        M::Fdecstp => {
            fpu.top = (fpu.top + 7) & 7;
            fpu.set_c1(false);
        }
        M::Fincstp => {
            fpu.top = (fpu.top + 1) & 7;
            fpu.set_c1(false);
        }
        M::Fchs | M::Fabs => {
            if let Some(ops) = fpu.operands(&[0], 0, false) {
                let x = ops[0];
                let v = if m == M::Fchs {
                    x.with_sign(!x.sign())
                } else {
                    x.with_sign(false)
                };
                fpu.set_st(0, v);
                fpu.set_c1(false);
            }
        }
        M::Fxam => {
            let cc = arith::examine(fpu.st(0), fpu.is_empty(0));
            fpu.set_cc(cc);
        }
        M::Fsqrt | M::Frndint | M::F2xm1 => {
            if let Some(ops) = fpu.operands(&[0], 0, false) {
                let o = match m {
                    M::Fsqrt => arith::sqrt(ops[0], cw),
                    M::Frndint => arith::round_int(ops[0], cw),
                    _ => tr::exp2m1(ops[0]),
                };
                fpu.write_outcome(0, o, false);
            }
        }
        M::Fscale => {
            if let Some(ops) = fpu.operands(&[0, 1], 0, false) {
                fpu.write_outcome(0, arith::scale(ops[0], ops[1], cw), false);
            }
        }
        M::Fyl2x | M::Fyl2xp1 | M::Fpatan => {
            if let Some(ops) = fpu.operands(&[0, 1], 1, true) {
                let o = match m {
                    M::Fyl2x => tr::ylog2x(ops[1], ops[0]),
                    M::Fyl2xp1 => tr::ylog2xp1(ops[1], ops[0]),
                    _ => tr::atan2(ops[1], ops[0]),
                };
                fpu.write_outcome(1, o, true);
            }
        }
        M::Fprem | M::Fprem1 => {
            if let Some(ops) = fpu.operands(&[0, 1], 0, false) {
                let r = arith::remainder(ops[0], ops[1], m == M::Fprem1);
                fpu.raise(r.outcome.exceptions);
                if !fpu.unmasked(r.outcome.exceptions & (exc::IE | exc::DE)) {
                    fpu.set_st(0, r.outcome.value);
                    let q = r.quotient as u16;
                    let mut cc = if r.incomplete { sw::C2 } else { 0 };
                    if !r.incomplete {
                        cc |= if q & 4 != 0 { sw::C0 } else { 0 }
                            | if q & 2 != 0 { sw::C3 } else { 0 }
                            | if q & 1 != 0 { sw::C1 } else { 0 };
                    }
                    fpu.set_cc(cc);
                }
            }
        }
        M::Fxtract => {
            if let Some(ops) = fpu.operands(&[0], 0, false) {
                if !fpu.is_empty(7) {
                    fpu.stack_fault(true);
                    if !fpu.unmasked(exc::IE) {
                        fpu.set_st(0, F80::INDEFINITE);
                        fpu.push(F80::INDEFINITE);
                    }
                    return Ok(());
                }
                let (exponent, significand) = arith::extract(ops[0]);
                fpu.raise(exponent.exceptions);
                if !fpu.unmasked(exponent.exceptions & (exc::IE | exc::DE | exc::ZE)) {
                    fpu.set_st(0, exponent.value);
                    fpu.push(significand);
                    fpu.set_c1(false);
                }
            }
        }
        M::Fsin | M::Fcos | M::Fptan | M::Fsincos => {
            if fpu.is_empty(0) {
                if fpu.stack_fault(false) {
                    fpu.set_st(0, F80::INDEFINITE);
                    if matches!(m, M::Fptan | M::Fsincos) {
                        fpu.push(F80::INDEFINITE);
                    }
                }
                return Ok(());
            }
            let x = fpu.st(0);
            let pushes = matches!(m, M::Fptan | M::Fsincos);
            if pushes && !fpu.is_empty(7) {
                if fpu.stack_fault(true) {
                    fpu.set_st(0, F80::INDEFINITE);
                    fpu.push(F80::INDEFINITE);
                }
                return Ok(());
            }
            let angle = match m {
                M::Fsin => tr::sin(x),
                M::Fcos => tr::cos(x),
                M::Fptan => tr::tan(x),
                _ => tr::sincos(x),
            };
            match angle {
                Angle::OutOfRange => fpu.sw |= sw::C2,
                Angle::Done(first, second) => {
                    fpu.sw &= !sw::C2;
                    fpu.raise(first.exceptions);
                    if fpu.unmasked(first.exceptions & (exc::IE | exc::DE)) {
                        return Ok(());
                    }
                    fpu.set_st(0, first.value);
                    fpu.set_c1(first.c1);
                    match m {
                        M::Fptan => {
                            let one = if first.value.is_nan() {
                                first.value
                            } else {
                                F80::ONE
                            };
                            fpu.push(one);
                        }
                        M::Fsincos => fpu.push(second.unwrap_or(first).value),
                        _ => {}
                    }
                }
            }
        }
        _ => return Err(ExecError::Unimplemented(m)),
    }
    Ok(())
}

/// `fst`/`fstp`/`fist`/`fistp`/`fisttp`/`fbstp` to memory. Returns whether the popping
/// forms may pop (not after an unmasked exception, which stores nothing).
fn store(
    fpu: &mut Fpu,
    mem: &mut Memory,
    insn: &Instruction,
    addr: u32,
    m: Mnemonic,
) -> Result<bool> {
    use Mnemonic as M;
    let size = insn.memory_size();
    let rc = if m == M::Fisttp {
        Round::TowardZero
    } else {
        rounding(fpu.cw)
    };
    let int_width = match size {
        MemorySize::Int16 => Some(IntWidth::I16),
        MemorySize::Int32 => Some(IntWidth::I32),
        MemorySize::Int64 => Some(IntWidth::I64),
        _ => None,
    };
    let indefinite: Vec<u8> = match size {
        MemorySize::Float32 => 0xFFC0_0000u32.to_le_bytes().to_vec(),
        MemorySize::Float64 => 0xFFF8_0000_0000_0000u64.to_le_bytes().to_vec(),
        MemorySize::Float80 => F80::INDEFINITE.to_bytes().to_vec(),
        MemorySize::Bcd => F80::INDEFINITE.to_bytes().to_vec(),
        _ => {
            let w = int_width.unwrap_or(IntWidth::I64);
            w.indefinite().to_le_bytes()[..w.bytes() as usize].to_vec()
        }
    };
    // Check the destination first: a faulting store changes nothing.
    mem.check_write(addr as u64, indefinite.len() as u32)?;
    if fpu.is_empty(0) {
        if fpu.stack_fault(false) {
            write_bytes(mem, addr, &indefinite)?;
            return Ok(true);
        }
        return Ok(false);
    }
    let x = fpu.st(0);
    let class = x.class();
    let (bytes, exceptions, c1): (Vec<u8>, u16, bool) = match size {
        MemorySize::Float80 => (x.to_bytes().to_vec(), 0, false),
        MemorySize::Float32 | MemorySize::Float64 => {
            let single = size == MemorySize::Float32;
            match class {
                Class::Unsupported => (indefinite.clone(), exc::IE, false),
                Class::QNaN | Class::SNaN => {
                    let e = if class == Class::SNaN { exc::IE } else { 0 };
                    let bytes = if single {
                        (x.nan_to_ieee(32, 8) as u32).to_le_bytes().to_vec()
                    } else {
                        x.nan_to_ieee(64, 11).to_le_bytes().to_vec()
                    };
                    (bytes, e, false)
                }
                _ => {
                    if single {
                        let r = round::to_f32_bits(x, rc, fpu.cw);
                        (r.value.to_le_bytes().to_vec(), r.exceptions, r.rounded_up)
                    } else {
                        let r = round::to_f64_bits(x, rc, fpu.cw);
                        (r.value.to_le_bytes().to_vec(), r.exceptions, r.rounded_up)
                    }
                }
            }
        }
        MemorySize::Bcd => {
            let r = x.to_int(IntWidth::I64, rc);
            match r {
                Some(r) if (r.value as i64).unsigned_abs() < 1_000_000_000_000_000_000 => {
                    let e = if r.inexact { exc::PE } else { 0 };
                    (to_bcd(r.value as i64, x.sign()).to_vec(), e, r.rounded_up)
                }
                _ => (indefinite.clone(), exc::IE, false),
            }
        }
        _ => {
            let w = int_width.unwrap_or(IntWidth::I64);
            match x.to_int(w, rc) {
                Some(r) => {
                    let e = if r.inexact { exc::PE } else { 0 };
                    (
                        r.value.to_le_bytes()[..w.bytes() as usize].to_vec(),
                        e,
                        r.rounded_up,
                    )
                }
                None => (indefinite.clone(), exc::IE, false),
            }
        }
    };
    fpu.raise(exceptions);
    if fpu.unmasked(exceptions & (exc::IE | exc::DE | exc::OE | exc::UE)) {
        return Ok(false);
    }
    write_bytes(mem, addr, &bytes)?;
    fpu.set_c1(c1);
    Ok(true)
}
