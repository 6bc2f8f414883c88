//! Architectural CPU state: registers, instruction pointer and lazily evaluated flags.
//!
//! Flags are not computed when an instruction sets them: the instruction records its
//! operands and result ([`FlagOp`]), and the flags are derived only when something reads
//! them. A `cmp` followed by `jl` therefore costs one signed comparison, not four flag bits.

use vmkit_isa::{flag, Cond, Size, REG_COUNT};

/// Register-file slot that always reads as zero; the fast paths use it as "no base" or
/// "no index" so that address arithmetic needs no branch.
pub(crate) const ZERO_REG: usize = 31;
/// Slot of the stack pointer (`sp` encodes as register 16).
pub(crate) const SP: usize = 16;

/// How the current flags are to be derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FlagOp {
    /// `res` holds the flag bits themselves.
    Explicit,
    /// `res = a + b`.
    Add,
    /// `res = a - b`.
    Sub,
    /// `res = a op b` for and/or/xor/test: CF = OF = 0.
    Logic,
    /// `res = a + 1`; `b` holds the carry flag from before.
    Inc,
    /// `res = a - 1`; `b` holds the carry flag from before.
    Dec,
}

/// Registers, ip and flags.
#[derive(Clone, Debug)]
pub(crate) struct Cpu {
    /// r0..r15 at 0..15, sp at 16, the zero slot at 31.
    pub(crate) regs: [u64; 32],
    /// Address of the next instruction to execute.
    pub(crate) ip: u64,
    pub(crate) fop: FlagOp,
    pub(crate) fsize: Size,
    pub(crate) fa: u64,
    pub(crate) fb: u64,
    pub(crate) fres: u64,
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu {
            regs: [0; 32],
            ip: 0,
            fop: FlagOp::Explicit,
            fsize: Size::Q,
            fa: 0,
            fb: 0,
            fres: 0,
        }
    }
}

impl Cpu {
    /// The architectural registers r0..r15, sp.
    pub(crate) fn regs(&self) -> [u64; REG_COUNT] {
        let mut out = [0; REG_COUNT];
        out.copy_from_slice(&self.regs[..REG_COUNT]);
        out
    }

    /// Records a lazily evaluated flag-setting operation.
    #[inline(always)]
    pub(crate) fn set_lazy(&mut self, op: FlagOp, size: Size, a: u64, b: u64, res: u64) {
        self.fop = op;
        self.fsize = size;
        self.fa = a;
        self.fb = b;
        self.fres = res;
    }

    /// Sets the flags to explicit bits (laid out as in [`vmkit_isa::flag`]).
    #[inline(always)]
    pub(crate) fn set_flags(&mut self, bits: u64) {
        self.fop = FlagOp::Explicit;
        self.fres = bits & flag::ALL;
    }

    /// The current carry flag as 0 or 1.
    #[inline(always)]
    pub(crate) fn carry(&self) -> u64 {
        let m = self.fsize.mask();
        match self.fop {
            FlagOp::Sub => ((self.fa & m) < (self.fb & m)) as u64,
            FlagOp::Add => ((self.fres & m) < (self.fa & m)) as u64,
            FlagOp::Logic => 0,
            FlagOp::Inc | FlagOp::Dec => self.fb & 1,
            FlagOp::Explicit => (self.fres & flag::CF != 0) as u64,
        }
    }

    /// The flags register value (ZF CF OF SF bits).
    pub(crate) fn flags(&self) -> u64 {
        let size = self.fsize;
        let m = size.mask();
        let sign = size.sign_bit();
        let (a, b, r) = (self.fa & m, self.fb & m, self.fres & m);
        let zs = |r: u64| {
            (if r == 0 { flag::ZF } else { 0 }) | (if r & sign != 0 { flag::SF } else { 0 })
        };
        match self.fop {
            FlagOp::Explicit => self.fres & flag::ALL,
            FlagOp::Add => {
                zs(r)
                    | if r < a { flag::CF } else { 0 }
                    | if (a ^ r) & (b ^ r) & sign != 0 {
                        flag::OF
                    } else {
                        0
                    }
            }
            FlagOp::Sub => {
                zs(r)
                    | if a < b { flag::CF } else { 0 }
                    | if (a ^ b) & (a ^ r) & sign != 0 {
                        flag::OF
                    } else {
                        0
                    }
            }
            FlagOp::Logic => zs(r),
            FlagOp::Inc => {
                zs(r)
                    | if self.fb & 1 != 0 { flag::CF } else { 0 }
                    | if r == sign { flag::OF } else { 0 }
            }
            FlagOp::Dec => {
                zs(r)
                    | if self.fb & 1 != 0 { flag::CF } else { 0 }
                    | if a == sign { flag::OF } else { 0 }
            }
        }
    }

    /// Evaluates a condition, with shortcuts for the common compare-and-branch cases.
    #[inline(always)]
    pub(crate) fn cond(&self, c: Cond) -> bool {
        match self.fop {
            FlagOp::Sub => {
                let m = self.fsize.mask();
                let (a, b) = (self.fa & m, self.fb & m);
                let sa = self.fsize.sign_extend(a) as i64;
                let sb = self.fsize.sign_extend(b) as i64;
                match c {
                    Cond::Z => a == b,
                    Cond::Nz => a != b,
                    Cond::B => a < b,
                    Cond::Ae => a >= b,
                    Cond::Be => a <= b,
                    Cond::A => a > b,
                    Cond::L => sa < sb,
                    Cond::Ge => sa >= sb,
                    Cond::Le => sa <= sb,
                    Cond::G => sa > sb,
                    _ => c.holds(self.flags()),
                }
            }
            FlagOp::Explicit => c.holds(self.fres),
            _ => {
                let r = self.fres & self.fsize.mask();
                match c {
                    Cond::Z => r == 0,
                    Cond::Nz => r != 0,
                    _ => c.holds(self.flags()),
                }
            }
        }
    }
}

/// Formats registers for fault reports and `--dump-regs`: four per line.
pub fn format_regs(regs: &[u64; REG_COUNT], ip: u64, flags: u64) -> String {
    let mut out = String::new();
    for (i, v) in regs.iter().enumerate() {
        let name = if i == SP {
            "sp".to_string()
        } else {
            format!("r{i}")
        };
        out.push_str(&format!("{name:>4}={v:#018x}"));
        out.push_str(if i % 4 == 3 { "\n" } else { "  " });
    }
    let f = |bit: u64, c: char| if flags & bit != 0 { c } else { '-' };
    out.push_str(&format!(
        "  ip={ip:#018x}  flags=[{}{}{}{}]\n",
        f(flag::ZF, 'Z'),
        f(flag::SF, 'S'),
        f(flag::CF, 'C'),
        f(flag::OF, 'O')
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference flags for `a - b` at `size`, computed the slow, obvious way.
    fn sub_flags(size: Size, a: u64, b: u64) -> u64 {
        let bits = size.bits();
        let (ua, ub) = (a & size.mask(), b & size.mask());
        let r = ua.wrapping_sub(ub) & size.mask();
        let sa = size.sign_extend(ua) as i64 as i128;
        let sb = size.sign_extend(ub) as i64 as i128;
        let exact = sa - sb;
        let lo = -(1i128 << (bits - 1));
        let hi = (1i128 << (bits - 1)) - 1;
        let mut f = 0;
        if r == 0 {
            f |= flag::ZF;
        }
        if r & size.sign_bit() != 0 {
            f |= flag::SF;
        }
        if ua < ub {
            f |= flag::CF;
        }
        if exact < lo || exact > hi {
            f |= flag::OF;
        }
        f
    }

    #[test]
    fn lazy_sub_matches_reference_and_shortcuts_agree() {
        let samples = [
            0u64,
            1,
            2,
            0x7F,
            0x80,
            0xFF,
            0x7FFF,
            0x8000,
            0xFFFF_FFFF,
            1 << 63,
            u64::MAX,
            (1 << 63) - 1,
        ];
        for size in Size::ALL {
            for &a in &samples {
                for &b in &samples {
                    let mut cpu = Cpu::default();
                    cpu.set_lazy(FlagOp::Sub, size, a, b, a.wrapping_sub(b));
                    let f = cpu.flags();
                    assert_eq!(f, sub_flags(size, a, b), "{size:?} {a:#x} - {b:#x}");
                    for c in Cond::ALL {
                        assert_eq!(cpu.cond(c), c.holds(f), "{c:?} {size:?} {a:#x} {b:#x}");
                    }
                }
            }
        }
    }
}
