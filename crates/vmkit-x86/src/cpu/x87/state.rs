//! The user-visible x87 state: eight 80-bit registers, the stack top, tags, control and
//! status words, and the last-instruction pointers; plus the `fnstenv`/`fnsave` memory
//! images built from it.

use super::f80::{Class, F80};

/// Control word after `fninit` (and at process start on Linux): every exception masked,
/// 64-bit precision, round to nearest.
pub const DEFAULT_CW: u16 = 0x037F;

/// Status word bits besides the exception flags (see `round::exc`).
pub mod sw {
    /// Error summary: an unmasked exception is pending.
    pub const ES: u16 = 1 << 7;
    /// Condition code C0.
    pub const C0: u16 = 1 << 8;
    /// Condition code C1.
    pub const C1: u16 = 1 << 9;
    /// Condition code C2.
    pub const C2: u16 = 1 << 10;
    /// Condition code C3.
    pub const C3: u16 = 1 << 14;
    /// Busy (mirrors ES).
    pub const B: u16 = 1 << 15;
    /// The TOP field.
    pub const TOP: u16 = 7 << 11;
    /// All four condition codes.
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// The x87 FPU state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fpu {
    /// Physical registers R0-R7; `st(i)` is `regs[(top + i) % 8]`.
    pub regs: [F80; 8],
    /// Stack top (0-7).
    pub top: u8,
    /// One bit per physical register: set when the register is not empty. The full
    /// 2-bit tags (valid, zero, special) are derived from the contents when stored.
    pub full: u8,
    /// Control word.
    pub cw: u16,
    /// Status word with its TOP field kept zero ([`Fpu::status`] fills it in).
    pub sw: u16,
    /// Address of the last non-control x87 instruction (FIP).
    pub fip: u32,
    /// Effective address of its memory operand (FDP), 0 if it had none.
    pub fdp: u32,
    /// Its opcode's low 11 bits (FOP): low 3 bits of the first opcode byte, then ModRM.
    pub fop: u16,
    /// Whether the guest has executed any x87 instruction (fault reports show the stack).
    pub used: bool,
}

impl Default for Fpu {
    fn default() -> Self {
        Fpu::new()
    }
}

impl Fpu {
    /// The state after `fninit`.
    pub fn new() -> Fpu {
        Fpu {
            regs: [F80::ZERO; 8],
            top: 0,
            full: 0,
            cw: DEFAULT_CW,
            sw: 0,
            fip: 0,
            fdp: 0,
            fop: 0,
            used: false,
        }
    }

    /// `fninit`: default control word, clear status, every register empty, pointers zero.
    pub fn init(&mut self) {
        let used = self.used;
        *self = Fpu::new();
        self.used = used;
    }

    /// The status word with TOP.
    pub fn status(&self) -> u16 {
        (self.sw & !sw::TOP) | ((self.top as u16) << 11)
    }

    /// Loads the status word (TOP included).
    pub fn set_status(&mut self, v: u16) {
        self.top = ((v >> 11) & 7) as u8;
        self.sw = v & !sw::TOP;
    }

    /// Physical register number of `st(i)`.
    pub fn phys(&self, i: usize) -> usize {
        (self.top as usize + i) & 7
    }

    /// `st(i)`'s contents (meaningless if empty).
    pub fn st(&self, i: usize) -> F80 {
        self.regs[self.phys(i)]
    }

    /// Whether `st(i)` is empty.
    pub fn is_empty(&self, i: usize) -> bool {
        self.full & (1 << self.phys(i)) == 0
    }

    /// Writes `st(i)` and marks it full.
    pub fn set_st(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.full |= 1 << p;
    }

    /// Marks `st(i)` empty.
    pub fn free(&mut self, i: usize) {
        self.full &= !(1 << self.phys(i));
    }

    /// Pushes `v` (the caller has checked for overflow).
    pub fn push(&mut self, v: F80) {
        self.top = (self.top + 7) & 7;
        self.set_st(0, v);
    }

    /// Marks `st(0)` empty and increments TOP.
    pub fn pop(&mut self) {
        self.free(0);
        self.top = (self.top + 1) & 7;
    }

    /// Sets C0-C3 to `cc` (bits in status-word positions), leaving the rest.
    pub fn set_cc(&mut self, cc: u16) {
        self.sw = (self.sw & !sw::CC) | (cc & sw::CC);
    }

    /// Sets or clears C1 alone.
    pub fn set_c1(&mut self, on: bool) {
        self.sw = (self.sw & !sw::C1) | if on { sw::C1 } else { 0 };
    }

    /// Records exceptions: sets their flags, and ES and B if any is unmasked.
    pub fn raise(&mut self, exceptions: u16) {
        self.sw |= exceptions & 0x7F;
        if exceptions & !self.cw & 0x3F != 0 {
            self.sw |= sw::ES | sw::B;
        }
    }

    /// Whether any of `exceptions` is unmasked in the control word.
    pub fn unmasked(&self, exceptions: u16) -> bool {
        exceptions & !self.cw & 0x3F != 0
    }

    /// The 2-bit tag of physical register `p`: 0 valid, 1 zero, 2 special, 3 empty.
    pub fn tag(&self, p: usize) -> u16 {
        if self.full & (1 << p) == 0 {
            return 3;
        }
        match self.regs[p].class() {
            Class::Normal => 0,
            Class::Zero => 1,
            _ => 2,
        }
    }

    /// The full tag word, physical register order.
    pub fn tag_word(&self) -> u16 {
        (0..8).map(|p| self.tag(p) << (2 * p)).sum()
    }

    /// Loads a tag word: 3 means empty; other tags are recomputed from contents, as on
    /// processors that keep abridged tags.
    pub fn set_tag_word(&mut self, tw: u16) {
        self.full = (0..8)
            .filter(|p| (tw >> (2 * p)) & 3 != 3)
            .map(|p| 1 << p)
            .sum();
    }

    /// The 28-byte protected-mode environment (`fnstenv` with 32-bit operand size).
    /// Reserved halves read as 0xFFFF, as Intel processors write them. The code and data
    /// selectors are the flat user-mode ones (0x23, 0x2b).
    pub fn env32(&self, fop: u16) -> [u8; 28] {
        let words: [u32; 7] = [
            0xFFFF_0000 | self.cw as u32,
            0xFFFF_0000 | self.status() as u32,
            0xFFFF_0000 | self.tag_word() as u32,
            self.fip,
            0x23 | ((fop as u32 & 0x7FF) << 16),
            self.fdp,
            0xFFFF_0000 | 0x2b,
        ];
        let mut out = [0u8; 28];
        for (i, w) in words.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The 14-byte environment (`fnstenv` with a 16-bit operand size).
    pub fn env16(&self) -> [u8; 14] {
        let words: [u16; 7] = [
            self.cw,
            self.status(),
            self.tag_word(),
            self.fip as u16,
            0x23,
            self.fdp as u16,
            0x2b,
        ];
        let mut out = [0u8; 14];
        for (i, w) in words.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Loads an environment image (`fldenv`, `frstor`): control, status and tag words and
    /// the pointers.
    pub fn load_env(&mut self, image: &[u8]) {
        let wide = image.len() >= 28;
        let field = |i: usize| -> u32 {
            if wide {
                u32::from_le_bytes([
                    image[4 * i],
                    image[4 * i + 1],
                    image[4 * i + 2],
                    image[4 * i + 3],
                ])
            } else {
                u16::from_le_bytes([image[2 * i], image[2 * i + 1]]) as u32
            }
        };
        self.cw = field(0) as u16 | 0x40;
        self.set_status(field(1) as u16);
        self.set_tag_word(field(2) as u16);
        self.fip = field(3);
        self.fop = if wide {
            ((field(4) >> 16) & 0x7FF) as u16
        } else {
            0
        };
        self.fdp = field(5);
        // A pending unmasked exception makes the next waiting instruction fault.
        if self.sw & !self.cw & 0x3F != 0 {
            self.sw |= sw::ES | sw::B;
        } else {
            self.sw &= !(sw::ES | sw::B);
        }
    }

    /// `st0`..`st7` for fault reports, with empty registers marked.
    pub fn format(&self) -> String {
        let mut out = format!(
            "  fpu: cw={:#06x} sw={:#06x} tw={:#06x}\n",
            self.cw,
            self.status(),
            self.tag_word()
        );
        for row in [0..4, 4..8] {
            let mut line = String::new();
            for i in row {
                let v = self.st(i);
                let text = if self.is_empty(i) {
                    "empty".to_string()
                } else {
                    format!("{:04x}:{:016x}", v.sign_exp, v.sig)
                };
                line.push_str(&format!("  st{i}={text:<21}"));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_wraps_and_tags_follow_contents() {
        let mut f = Fpu::new();
        f.push(F80::ONE);
        f.push(F80::ZERO);
        assert_eq!(f.top, 6);
        assert_eq!(f.st(1), F80::ONE);
        // R7 holds 1.0 (valid, 00), R6 holds 0.0 (zero, 01), the rest empty.
        assert_eq!(f.tag_word(), 0x1FFF);
        assert_eq!(f.status() >> 11 & 7, 6);
        f.pop();
        assert!(f.is_empty(7), "R6 is st(7) again, and empty");
        assert_eq!(f.st(0), F80::ONE);
    }

    #[test]
    fn environment_round_trips() {
        let mut f = Fpu::new();
        f.push(F80::INDEFINITE);
        f.cw = 0x027F;
        f.sw = 0x0001 | sw::C3;
        f.fip = 0x1234;
        f.fdp = 0x5678;
        let image = f.env32(0x1D9);
        let mut g = Fpu::new();
        g.regs = f.regs;
        g.load_env(&image);
        assert_eq!(
            (g.cw, g.status(), g.full, g.fip, g.fdp, g.fop),
            (f.cw, f.status(), f.full, 0x1234, 0x5678, 0x1D9)
        );
        assert_eq!(f.tag_word(), 0xBFFF, "R7 holds a NaN: special");
    }
}
