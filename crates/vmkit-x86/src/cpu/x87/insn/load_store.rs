//! x87 loads and stores: `fld`/`fild`/`fbld` and the constants (`fld1`, `fldpi`...), the
//! stores to a register or to memory in every format (`fst`, `fist`, `fisttp`, `fbstp`),
//! and the moves within the stack (`fxch`, `fcmovcc`, `ffree`, `fincstp`/`fdecstp`).

use super::super::f80::{to_bcd, Class, IntWidth, F80};
use super::super::round::{self, exc, rounding};
use super::super::state::Fpu;
use super::operand::{load_operand, other_st, st_index, write_bytes};
use crate::cpu::flags::{CF, PF, ZF};
use crate::cpu::operand::Result;
use iced_x86::{Instruction, MemorySize, Mnemonic, OpKind};
use rustc_apfloat::Round;
use vmkit_mem::Memory;

/// `fld`, `fild`, `fbld`: pushes a register or a memory operand.
pub(in crate::cpu::x87) fn load(
    fpu: &mut Fpu,
    mem: &Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
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
    Ok(())
}

/// `fld1`, `fldz`, `fldpi`, `fldl2e`, `fldl2t`, `fldlg2`, `fldln2`: pushes a constant,
/// rounded as the control word says.
pub(in crate::cpu::x87) fn load_constant(fpu: &mut Fpu, m: Mnemonic) {
    use Mnemonic as M;
    let cw = fpu.cw;
    let v = match m {
        M::Fld1 => F80::ONE,
        M::Fldz => F80::ZERO,
        M::Fldpi => constant(0xC90F_DAA2_2168_C235, 0x4000, true, cw),
        M::Fldl2e => constant(0xB8AA_3B29_5C17_F0BC, 0x3FFF, true, cw),
        M::Fldl2t => constant(0xD49A_784B_CD1B_8AFE, 0x4000, false, cw),
        M::Fldlg2 => constant(0x9A20_9A84_FBCF_F799, 0x3FFD, true, cw),
        _ => constant(0xB172_17F7_D1CF_79AC, 0x3FFE, true, cw),
    };
    fpu.push_checked(v, 0);
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

/// `fst st(i)`/`fstp st(i)`: copies st(0) to another register.
pub(in crate::cpu::x87) fn store_register(fpu: &mut Fpu, insn: &Instruction) {
    let i = st_index(insn, 0);
    let pop = insn.mnemonic() == Mnemonic::Fstp;
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

/// `fst`, `fstp`, `fist`, `fistp`, `fisttp`, `fbstp` to memory; the popping forms pop
/// unless an unmasked exception stopped the store.
pub(in crate::cpu::x87) fn store(
    fpu: &mut Fpu,
    mem: &mut Memory,
    insn: &Instruction,
    addr: u32,
) -> Result<()> {
    use Mnemonic as M;
    let m = insn.mnemonic();
    let pop = !matches!(m, M::Fst | M::Fist);
    if store_memory(fpu, mem, insn, addr, m)? && pop {
        fpu.pop();
    }
    Ok(())
}

/// `fxch st(i)`: swaps st(0) and st(i).
pub(in crate::cpu::x87) fn exchange(fpu: &mut Fpu, insn: &Instruction) {
    let i = other_st(insn);
    if fpu.is_empty(0) || fpu.is_empty(i) {
        if !fpu.stack_fault(false) {
            return;
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

/// `fcmovcc st(0), st(i)`: moves when the EFLAGS condition holds.
pub(in crate::cpu::x87) fn conditional_move(fpu: &mut Fpu, eflags: u32, insn: &Instruction) {
    use Mnemonic as M;
    let f = |bit| eflags & bit != 0;
    let holds = match insn.mnemonic() {
        M::Fcmovb => f(CF),
        M::Fcmovnb => !f(CF),
        M::Fcmove => f(ZF),
        M::Fcmovne => !f(ZF),
        M::Fcmovbe => f(CF) || f(ZF),
        M::Fcmovnbe => !f(CF) && !f(ZF),
        M::Fcmovu => f(PF),
        _ => !f(PF),
    };
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

/// `ffree st(i)` and `ffreep st(i)`: tags a register empty (then pops).
pub(in crate::cpu::x87) fn free(fpu: &mut Fpu, insn: &Instruction) {
    let i = st_index(insn, 0);
    fpu.free(i);
    if insn.mnemonic() == Mnemonic::Ffreep {
        fpu.pop();
    }
}

/// `fincstp`/`fdecstp`: rotates the stack top without touching the tags.
pub(in crate::cpu::x87) fn rotate_top(fpu: &mut Fpu, m: Mnemonic) {
    fpu.top = if m == Mnemonic::Fincstp {
        (fpu.top + 1) & 7
    } else {
        (fpu.top + 7) & 7
    };
    fpu.set_c1(false);
}

/// `fst`/`fstp`/`fist`/`fistp`/`fisttp`/`fbstp` to memory. Returns whether the popping
/// forms may pop (not after an unmasked exception, which stores nothing).
fn store_memory(
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
