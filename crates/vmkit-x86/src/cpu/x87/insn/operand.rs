//! x87 operands: the stack register an instruction names, memory in every x87 format, and
//! the stack-fault and exception responses every family shares.
//!
//! Stack faults: reading an empty register or pushing onto a full one raises IE and SF (C1
//! tells overflow from underflow); with IE masked the destination gets the QNaN indefinite,
//! with IE unmasked nothing is written.

use super::super::arith::Outcome;
use super::super::f80::{Loaded, F80};
use super::super::round::exc;
use super::super::state::{sw, Fpu};
use crate::cpu::operand::Result;
use iced_x86::{Instruction, MemorySize, OpKind, Register};
use std::cmp::Ordering;
use vmkit_mem::Memory;

/// The stack register an operand names (`st(i)` → i).
pub(in crate::cpu::x87) fn st_index(insn: &Instruction, op: u32) -> usize {
    let r = insn.op_register(op);
    (r as usize).wrapping_sub(Register::ST0 as usize) & 7
}

/// The `st(i)` operand of a one-register form (`fld st(i)`, `fcom st(i)`, `fxch st(i)`):
/// the last register operand, `st(1)` when there is none.
pub(in crate::cpu::x87) fn other_st(insn: &Instruction) -> usize {
    (0..insn.op_count())
        .rev()
        .find(|&k| insn.op_kind(k) == OpKind::Register)
        .map_or(1, |k| st_index(insn, k))
}

pub(in crate::cpu::x87) fn has_memory(insn: &Instruction) -> bool {
    (0..insn.op_count()).any(|k| insn.op_kind(k) == OpKind::Memory)
}

pub(in crate::cpu::x87) fn read_bytes<const N: usize>(mem: &Memory, addr: u32) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    out.copy_from_slice(mem.read_bytes(addr as u64, N as u64)?);
    Ok(out)
}

pub(in crate::cpu::x87) fn write_bytes(mem: &mut Memory, addr: u32, bytes: &[u8]) -> Result<()> {
    mem.write_bytes(addr as u64, bytes)?;
    Ok(())
}

/// A memory operand read as an x87 value: the value, and whether the load itself raised
/// IE (signaling NaN from m32/m64) or DE (denormal m32/m64).
pub(in crate::cpu::x87) fn load_operand(
    mem: &Memory,
    addr: u32,
    size: MemorySize,
) -> Result<(F80, u16)> {
    let flags =
        |l: Loaded| (if l.signaling { exc::IE } else { 0 }) | if l.denormal { exc::DE } else { 0 };
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

impl Fpu {
    /// Stack-fault response: IE and SF with C1 = `overflow`. Returns whether IE is masked
    /// (the caller then writes the indefinite).
    pub(in crate::cpu::x87) fn stack_fault(&mut self, overflow: bool) -> bool {
        self.raise(exc::IE | exc::SF);
        self.set_c1(overflow);
        !self.unmasked(exc::IE)
    }

    /// Pushes `v` raising the exceptions in `exceptions` first (a load's IE or DE); a full
    /// `st(7)` is a stack overflow.
    pub(in crate::cpu::x87) fn push_checked(&mut self, v: F80, exceptions: u16) {
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
    pub(in crate::cpu::x87) fn raise_in_order(&mut self, exceptions: u16) -> bool {
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
    pub(in crate::cpu::x87) fn write_outcome(&mut self, dst: usize, o: Outcome, pop: bool) {
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
    pub(in crate::cpu::x87) fn operands(
        &mut self,
        regs: &[usize],
        dst: usize,
        pop: bool,
    ) -> Option<Vec<F80>> {
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
    pub(in crate::cpu::x87) fn compare_cc(order: Option<Ordering>) -> u16 {
        match order {
            None => sw::C3 | sw::C2 | sw::C0,
            Some(Ordering::Less) => sw::C0,
            Some(Ordering::Equal) => sw::C3,
            Some(Ordering::Greater) => 0,
        }
    }
}
