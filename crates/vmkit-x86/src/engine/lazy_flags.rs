//! LazyFlags status flags for the fast engine.
//!
//! A flag-setting instruction on the fast path records its operation, width, operands and
//! result instead of computing EFLAGS. The flags are computed only when something reads
//! them: a condition (`jcc`, `setcc`, `cmovcc`, `adc`/`sbb`), an instruction on the
//! reference path, a system call, or the end of a run. Materializing goes through the very
//! [`crate::alu`] functions the reference path uses, so the lazy flags are exact by
//! construction; the common conditions after `cmp`/`sub`/`test`/`and`/... are answered
//! straight from the operands without building EFLAGS at all.

use crate::alu::{self, Width, CF};

/// Which operation last set the status flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagOp {
    /// The status flags in `Cpu::eflags` are current.
    Eager,
    /// `a + b`.
    Add,
    /// `a + b + cin`.
    Adc,
    /// `a - b` (also `cmp`).
    Sub,
    /// `a - b - cin`.
    Sbb,
    /// A logical operation with result `r` (`and`, `or`, `xor`, `test`).
    Logic,
    /// `a + 1`, CF kept as `cin`.
    Inc,
    /// `a - 1`, CF kept as `cin`.
    Dec,
}

/// The recorded flag-setting operation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LazyFlags {
    /// What set the flags.
    pub op: FlagOp,
    /// Operand width.
    pub w: Width,
    /// First operand (masked to `w`).
    pub a: u32,
    /// Second operand (masked to `w`).
    pub b: u32,
    /// Result (masked to `w`).
    pub r: u32,
    /// Carry in (`adc`/`sbb`) or the CF that `inc`/`dec` keep: 0 or 1.
    pub cin: u32,
}

impl Default for LazyFlags {
    fn default() -> Self {
        LazyFlags {
            op: FlagOp::Eager,
            w: Width::D32,
            a: 0,
            b: 0,
            r: 0,
            cin: 0,
        }
    }
}

impl LazyFlags {
    /// Records an operation; `cin` is the carry in (`adc`/`sbb`) or the CF that
    /// `inc`/`dec` keep, 0 otherwise.
    #[inline(always)]
    pub fn set(&mut self, op: FlagOp, w: Width, a: u32, b: u32, r: u32, cin: u32) {
        *self = LazyFlags {
            op,
            w,
            a,
            b,
            r,
            cin,
        };
    }

    /// EFLAGS with the status bits computed from the recorded operation; `eflags` supplies
    /// the other bits (and the status bits when nothing is recorded).
    #[inline]
    pub fn eflags(&self, eflags: u32) -> u32 {
        let (w, a, b) = (self.w, self.a, self.b);
        let with_cf = (eflags & !CF) | self.cin;
        match self.op {
            FlagOp::Eager => eflags,
            FlagOp::Add => alu::add(w, a, b, eflags).1,
            FlagOp::Adc => alu::adc(w, a, b, with_cf).1,
            FlagOp::Sub => alu::sub(w, a, b, eflags).1,
            FlagOp::Sbb => alu::sbb(w, a, b, with_cf).1,
            FlagOp::Logic => alu::or(w, self.r, 0, eflags).1,
            FlagOp::Inc => alu::inc(w, a, with_cf).1,
            FlagOp::Dec => alu::dec(w, a, with_cf).1,
        }
    }

    /// Folds the recorded operation into `eflags` and forgets it.
    #[inline]
    pub fn sync(&mut self, eflags: &mut u32) {
        if self.op != FlagOp::Eager {
            *eflags = self.eflags(*eflags);
            self.op = FlagOp::Eager;
        }
    }

    /// The carry flag as 0 or 1.
    #[inline(always)]
    pub fn cf(&self, eflags: u32) -> u32 {
        let m = self.w.mask();
        match self.op {
            FlagOp::Eager => eflags & CF,
            FlagOp::Add => (self.r < self.a) as u32,
            FlagOp::Sub => (self.a < self.b) as u32,
            FlagOp::Logic => 0,
            FlagOp::Inc | FlagOp::Dec => self.cin,
            FlagOp::Adc => ((self.a as u64 + self.b as u64 + self.cin as u64) > m as u64) as u32,
            FlagOp::Sbb => ((self.a as u64) < self.b as u64 + self.cin as u64) as u32,
        }
    }

    /// Whether x86 condition `cc` (0 = o, 1 = no, 2 = b, ... 15 = g) holds.
    #[inline(always)]
    pub fn cond(&self, cc: u8, eflags: u32) -> bool {
        let w = self.w;
        let holds = match self.op {
            FlagOp::Sub => match cc >> 1 {
                1 => self.a < self.b,
                2 => self.r == 0,
                3 => self.a <= self.b,
                4 => w.sign_extend(self.r) < 0,
                6 => w.sign_extend(self.a) < w.sign_extend(self.b),
                7 => w.sign_extend(self.a) <= w.sign_extend(self.b),
                _ => alu::condition(cc & !1, self.eflags(eflags)),
            },
            FlagOp::Logic => match cc >> 1 {
                0 | 1 => false,
                2 | 3 => self.r == 0,
                4 | 6 => w.sign_extend(self.r) < 0,
                7 => w.sign_extend(self.r) <= 0,
                _ => alu::condition(cc & !1, self.eflags(eflags)),
            },
            FlagOp::Eager => alu::condition(cc & !1, eflags),
            _ => match cc >> 1 {
                2 => self.r == 0,
                4 => w.sign_extend(self.r) < 0,
                _ => alu::condition(cc & !1, self.eflags(eflags)),
            },
        };
        holds ^ (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alu::STATUS;

    /// Conditions and CF from the lazy record agree with the EFLAGS the ALU computes.
    #[test]
    fn lazy_conditions_match_materialized_flags() {
        let values = [
            0u32,
            1,
            2,
            0x7f,
            0x80,
            0xff,
            0x7fff,
            0x8000,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1234_5678,
        ];
        let ops = [
            FlagOp::Add,
            FlagOp::Adc,
            FlagOp::Sub,
            FlagOp::Sbb,
            FlagOp::Logic,
            FlagOp::Inc,
            FlagOp::Dec,
        ];
        for w in Width::ALL {
            for &a in &values {
                for &b in &values {
                    for cin in 0..2 {
                        for op in ops {
                            let (a, b) = (a & w.mask(), b & w.mask());
                            let fl = 0x202 | cin;
                            let r = match op {
                                FlagOp::Add => alu::add(w, a, b, fl).0,
                                FlagOp::Adc => alu::adc(w, a, b, fl).0,
                                FlagOp::Sub => alu::sub(w, a, b, fl).0,
                                FlagOp::Sbb => alu::sbb(w, a, b, fl).0,
                                FlagOp::Logic => alu::and(w, a, b, fl).0,
                                FlagOp::Inc => alu::inc(w, a, fl).0,
                                FlagOp::Dec => alu::dec(w, a, fl).0,
                                FlagOp::Eager => unreachable!(),
                            };
                            let lazy = LazyFlags {
                                op,
                                w,
                                a,
                                b,
                                r,
                                cin,
                            };
                            let ef = lazy.eflags(0x202 ^ STATUS);
                            assert_eq!(ef & !STATUS, 0x202 & !STATUS);
                            assert_eq!(lazy.cf(0), ef & CF, "{op:?} {w:?} {a:#x} {b:#x}");
                            for cc in 0..16 {
                                assert_eq!(
                                    lazy.cond(cc, 0x202),
                                    alu::condition(cc, ef),
                                    "{op:?} {w:?} {a:#x} {b:#x} cc={cc}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
