//! The CPU state as an embedder or debugger sees it: registers by name, and a context to
//! save and restore (Unicorn's `context_save` / `context_restore`).

use super::X86Machine;
use crate::cpu::Cpu;

/// A snapshot of the CPU state for [`X86Machine::restore_context`]: the general registers,
/// eip, eflags, the segment selectors and bases (TLS descriptors included), the x87 state
/// and the virtual time-stamp counter. Memory is not part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Context {
    cpu: Cpu,
}

impl X86Context {
    /// The saved state.
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }
}

/// A register an embedder can name.
#[derive(Clone, Copy)]
enum Register {
    /// eax..edi, in encoding order.
    Gpr32(usize),
    /// ax..di: the low 16 bits.
    Gpr16(usize),
    /// al, cl, dl, bl, ah, ch, dh, bh (the encoding of `Cpu::reg8`).
    Gpr8(usize),
    Eip,
    Eflags,
    /// es, cs, ss, ds, fs, gs.
    Selector(usize),
    /// fs_base, gs_base.
    SegmentBase(usize),
    /// The x87 control, status and tag words.
    X87Control,
    X87Status,
    X87Tag,
}

/// The names [`X86Machine::read_register`] knows, in GDB's spelling.
pub const REGISTER_NAMES: [&str; 37] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "ax", "cx", "dx", "bx", "sp", "bp",
    "si", "di", "al", "cl", "dl", "bl", "ah", "ch", "dh", "bh", "eip", "eflags", "es", "cs", "ss",
    "ds", "fs", "gs", "fs_base", "gs_base", "fctrl", "fstat", "ftag",
];

impl Register {
    fn named(name: &str) -> Option<Register> {
        let i = REGISTER_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        Some(match i {
            0..=7 => Register::Gpr32(i),
            8..=15 => Register::Gpr16(i - 8),
            16..=23 => Register::Gpr8(i - 16),
            24 => Register::Eip,
            25 => Register::Eflags,
            26..=31 => Register::Selector(i - 26),
            32 => Register::SegmentBase(4),
            33 => Register::SegmentBase(5),
            34 => Register::X87Control,
            35 => Register::X87Status,
            _ => Register::X87Tag,
        })
    }

    /// Its width in bits.
    fn bits(self) -> u32 {
        match self {
            Register::Gpr32(_) | Register::Eip | Register::Eflags | Register::SegmentBase(_) => 32,
            Register::Gpr16(_)
            | Register::Selector(_)
            | Register::X87Control
            | Register::X87Status
            | Register::X87Tag => 16,
            Register::Gpr8(_) => 8,
        }
    }
}

/// The width in bits of the register called `name` (as [`REGISTER_NAMES`] spells it,
/// case-insensitive), or `None` for a name it does not know.
pub(super) fn register_bits(name: &str) -> Option<u32> {
    Register::named(name).map(Register::bits)
}

impl X86Machine {
    /// Saves the CPU state (not memory) for [`X86Machine::restore_context`].
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // inc eax ; inc eax
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &[0x40, 0x40]).unwrap();
    /// let start = vm.save_context();
    /// assert_eq!(vm.run_for(2), X86Exit::StepLimit);
    /// assert_eq!(vm.read_register("eax"), Some(2));
    /// vm.restore_context(&start);
    /// assert_eq!((vm.read_register("eax"), vm.cpu().eip), (Some(0), 0x1000));
    /// ```
    pub fn save_context(&self) -> X86Context {
        X86Context {
            cpu: self.cpu.clone(),
        }
    }

    /// Puts back the CPU state saved by [`X86Machine::save_context`] (of this machine or
    /// another); the run goes on from its eip.
    pub fn restore_context(&mut self, context: &X86Context) {
        self.cpu = context.cpu.clone();
    }

    /// The register called `name` (any of [`REGISTER_NAMES`], case-insensitive), or `None`
    /// for a name it does not know. Segment registers read as their selectors; `fs_base`
    /// and `gs_base` as the bases in use.
    ///
    /// ```
    /// let mut vm = vmkit_x86::X86Machine::new();
    /// vm.write_register("eax", 0x1234_5678);
    /// assert_eq!(vm.read_register("AH"), Some(0x56));
    /// assert_eq!(vm.read_register("ax"), Some(0x5678));
    /// assert_eq!(vm.read_register("cs"), Some(0x23));
    /// assert_eq!(vm.read_register("xmm0"), None);
    /// ```
    pub fn read_register(&self, name: &str) -> Option<u32> {
        let cpu = &self.cpu;
        Some(match Register::named(name)? {
            Register::Gpr32(i) => cpu.regs[i],
            Register::Gpr16(i) => cpu.regs[i] & 0xFFFF,
            Register::Gpr8(i) => cpu.reg8(i),
            Register::Eip => cpu.eip,
            Register::Eflags => cpu.eflags,
            Register::Selector(i) => cpu.selectors[i] as u32,
            Register::SegmentBase(i) => cpu.seg_base[i],
            Register::X87Control => cpu.fpu.cw as u32,
            Register::X87Status => cpu.fpu.status() as u32,
            Register::X87Tag => cpu.fpu.tag_word() as u32,
        })
    }

    /// Sets the register called `name` (as [`X86Machine::read_register`] names them) to
    /// `value`, truncated to its width; false for a name it does not know. A segment
    /// register's selector changes alone (its base is `fs_base`/`gs_base`).
    pub fn write_register(&mut self, name: &str, value: u32) -> bool {
        let Some(reg) = Register::named(name) else {
            return false;
        };
        let cpu = &mut self.cpu;
        match reg {
            Register::Gpr32(i) => cpu.regs[i] = value,
            Register::Gpr16(i) => cpu.regs[i] = (cpu.regs[i] & !0xFFFF) | (value & 0xFFFF),
            Register::Gpr8(i) => cpu.set_reg8(i, value),
            Register::Eip => cpu.eip = value,
            Register::Eflags => cpu.eflags = value,
            Register::Selector(i) => cpu.selectors[i] = value as u16,
            Register::SegmentBase(i) => cpu.seg_base[i] = value,
            Register::X87Control => cpu.fpu.cw = value as u16,
            Register::X87Status => cpu.fpu.set_status(value as u16),
            Register::X87Tag => cpu.fpu.set_tag_word(value as u16),
        }
        true
    }
}
