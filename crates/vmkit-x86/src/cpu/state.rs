//! IA-32 architectural state visible to user-mode code.

use super::alu;
use super::flags::{AF, CF, DF, OF, PF, SF, ZF};

/// General registers in encoding order.
pub const EAX: usize = 0;
/// ECX.
pub const ECX: usize = 1;
/// EDX.
pub const EDX: usize = 2;
/// EBX.
pub const EBX: usize = 3;
/// ESP.
pub const ESP: usize = 4;
/// EBP.
pub const EBP: usize = 5;
/// ESI.
pub const ESI: usize = 6;
/// EDI.
pub const EDI: usize = 7;

/// Register names in encoding order.
pub const REG_NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// Segment registers in encoding order (ES CS SS DS FS GS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    /// ES.
    Es = 0,
    /// CS.
    Cs = 1,
    /// SS.
    Ss = 2,
    /// DS.
    Ds = 3,
    /// FS.
    Fs = 4,
    /// GS.
    Gs = 5,
}

/// Why loading a segment selector faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentFault {
    /// The selector is out of the tables, null where that is not allowed, or names a
    /// descriptor of the wrong kind or privilege (#GP: SIGSEGV); the error code (the
    /// selector without its privilege bits).
    GeneralProtection(u32),
    /// The descriptor is not present (#NP: SIGBUS); the error code.
    NotPresent(u32),
}

/// The base address of a segment descriptor.
pub(crate) fn descriptor_base(d: u64) -> u32 {
    (((d >> 16) & 0xff_ffff) | ((d >> 32) & 0xff00_0000)) as u32
}

/// A segment descriptor's limit in bytes (the granularity applied).
pub(crate) fn descriptor_limit(d: u64) -> u32 {
    let raw = ((d & 0xffff) | ((d >> 32) & 0xf_0000)) as u32;
    if d & (1 << 55) != 0 {
        (raw << 12) | 0xfff
    } else {
        raw
    }
}

/// A descriptor's type (4 bits), whether it is a code or data segment (S), its privilege
/// level and whether it is present.
pub(crate) fn descriptor_access(d: u64) -> (u32, bool, u32, bool) {
    let hi = (d >> 32) as u32;
    (
        (hi >> 8) & 0xf,
        hi & (1 << 12) != 0,
        (hi >> 13) & 3,
        hi & (1 << 15) != 0,
    )
}

/// Registers, eip, eflags and the segment state user code can observe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// eax, ecx, edx, ebx, esp, ebp, esi, edi.
    pub regs: [u32; 8],
    /// Address of the next instruction.
    pub eip: u32,
    /// EFLAGS (status flags, DF; IF reads as set, as in user mode).
    pub eflags: u32,
    /// Segment selectors (ES CS SS DS FS GS).
    pub selectors: [u16; 6],
    /// Segment bases; only FS and GS are non-zero in a flat user-mode process.
    pub seg_base: [u32; 6],
    /// Bases of the three TLS descriptors (GDT entries 6, 7, 8) set by `set_thread_area`.
    pub tls_bases: [Option<u32>; 3],
    /// The local descriptor table `modify_ldt` writes: raw 8-byte descriptors, as the
    /// kernel keeps them (empty until a program writes one).
    pub ldt: Vec<u64>,
    /// Set by `mov ss`/`pop ss`: the trap flag's trace trap is not taken after the next
    /// instruction boundary (the CPU holds it for one instruction, so that a stack switch
    /// is not interrupted between ss and esp). The run loop clears it.
    pub trap_shadow: bool,
    /// The x87 FPU.
    pub fpu: super::x87::Fpu,
    /// The virtual time-stamp counter `rdtsc` reads (see `cpuid::virtual_tsc`).
    pub tsc: u64,
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu {
            regs: [0; 8],
            eip: 0,
            // Bit 1 always reads as 1; IF is set in user mode.
            eflags: 0x202,
            selectors: [0x2b, 0x23, 0x2b, 0x2b, 0, 0],
            seg_base: [0; 6],
            tls_bases: [None; 3],
            ldt: Vec::new(),
            trap_shadow: false,
            fpu: super::x87::Fpu::new(),
            tsc: 0,
        }
    }
}

impl Cpu {
    /// Reads an 8-bit register by encoding (0-3: AL CL DL BL, 4-7: AH CH DH BH).
    #[inline]
    pub fn reg8(&self, n: usize) -> u32 {
        if n < 4 {
            self.regs[n] & 0xFF
        } else {
            (self.regs[n - 4] >> 8) & 0xFF
        }
    }

    /// Writes an 8-bit register by encoding.
    #[inline]
    pub fn set_reg8(&mut self, n: usize, v: u32) {
        if n < 4 {
            self.regs[n] = (self.regs[n] & !0xFF) | (v & 0xFF);
        } else {
            self.regs[n - 4] = (self.regs[n - 4] & !0xFF00) | ((v & 0xFF) << 8);
        }
    }

    /// Reads a 16-bit register by encoding.
    #[inline]
    pub fn reg16(&self, n: usize) -> u32 {
        self.regs[n] & 0xFFFF
    }

    /// Writes a 16-bit register by encoding (upper half kept).
    #[inline]
    pub fn set_reg16(&mut self, n: usize, v: u32) {
        self.regs[n] = (self.regs[n] & !0xFFFF) | (v & 0xFFFF);
    }

    /// The accumulator at width `w`: al, ax or eax.
    #[inline]
    pub(crate) fn acc(&self, w: alu::Width) -> u32 {
        self.regs[EAX] & w.mask()
    }

    /// Writes the accumulator at width `w`, keeping the bits above it.
    #[inline]
    pub(crate) fn set_acc(&mut self, w: alu::Width, v: u32) {
        match w {
            alu::Width::B8 => self.set_reg8(0, v),
            alu::Width::W16 => self.set_reg16(EAX, v),
            alu::Width::D32 => self.regs[EAX] = v,
        }
    }

    /// The double-width accumulator pair that `mul`/`div` use: (al, ah), (ax, dx) or
    /// (eax, edx).
    #[inline]
    pub(crate) fn acc_pair(&self, w: alu::Width) -> (u32, u32) {
        match w {
            alu::Width::B8 => (self.reg8(0), self.reg8(4)),
            alu::Width::W16 => (self.reg16(EAX), self.reg16(EDX)),
            alu::Width::D32 => (self.regs[EAX], self.regs[EDX]),
        }
    }

    /// Writes the accumulator pair (see [`Cpu::acc_pair`]).
    #[inline]
    pub(crate) fn set_acc_pair(&mut self, w: alu::Width, lo: u32, hi: u32) {
        match w {
            alu::Width::B8 => self.set_reg16(EAX, (lo & 0xFF) | ((hi & 0xFF) << 8)),
            alu::Width::W16 => {
                self.set_reg16(EAX, lo);
                self.set_reg16(EDX, hi);
            }
            alu::Width::D32 => {
                self.regs[EAX] = lo;
                self.regs[EDX] = hi;
            }
        }
    }

    /// Loads a segment register with `selector`: TLS selectors (entries 6..8 in the GDT)
    /// take the base set by `set_thread_area`, LDT selectors (TI set) the base of their
    /// `modify_ldt` descriptor; every other segment is flat (base 0). The selector is not
    /// checked: [`Cpu::check_segment_load`] does that for the instructions that load one.
    pub fn load_segment(&mut self, seg: Seg, selector: u16) {
        let index = (selector >> 3) as usize;
        let base = if selector & 4 != 0 {
            self.ldt.get(index).map_or(0, |&d| descriptor_base(d))
        } else if (6..=8).contains(&index) {
            self.tls_bases[index - 6].unwrap_or(0)
        } else {
            0
        };
        self.selectors[seg as usize] = selector;
        self.seg_base[seg as usize] = base;
    }

    /// Whether loading `selector` into data or stack segment `seg` is allowed in user mode
    /// (privilege level 3), as the CPU checks it: a null selector (data segments only), the
    /// flat user data or code segment, a TLS entry, or a present LDT data segment or
    /// readable code segment (for SS: a writable data segment). `Err` is the fault.
    pub(crate) fn check_segment_load(&self, seg: Seg, selector: u16) -> Result<(), SegmentFault> {
        let index = (selector >> 3) as usize;
        let rpl = selector & 3;
        let gp = SegmentFault::GeneralProtection(selector as u32 & 0xfffc);
        if selector & 4 == 0 {
            return match index {
                0 if seg != Seg::Ss => Ok(()),
                // The flat user code (0x23, readable) and data (0x2b) segments, and the TLS
                // entries.
                4 if seg != Seg::Ss && rpl == 3 => Ok(()),
                5..=8 if rpl == 3 => Ok(()),
                _ => Err(gp),
            };
        }
        let Some(&d) = self.ldt.get(index) else {
            return Err(gp);
        };
        let (ty, s, dpl, present) = descriptor_access(d);
        let code = ty & 8 != 0;
        let allowed = s
            && rpl == 3
            && dpl == 3
            && if seg == Seg::Ss {
                !code && ty & 2 != 0
            } else {
                !code || ty & 2 != 0
            };
        if !allowed {
            Err(gp)
        } else if !present {
            Err(SegmentFault::NotPresent(selector as u32 & 0xfffc))
        } else {
            Ok(())
        }
    }

    /// Whether a segment other than FS and GS has a base, or cs is an LDT code segment:
    /// memory operands must then go through the reference semantics, which add every
    /// segment's base (the fast engine adds only FS's and GS's), and LDT code runs apart.
    #[inline]
    pub(crate) fn segmented(&self) -> bool {
        self.seg_base[..4].iter().any(|&b| b != 0) || self.selectors[Seg::Cs as usize] & 4 != 0
    }

    /// Whether a flag bit (from [`super::flags`]) is set.
    #[inline]
    pub fn flag(&self, bit: u32) -> bool {
        self.eflags & bit != 0
    }

    /// Registers and flags for fault reports.
    pub fn format(&self) -> String {
        let mut out = String::new();
        for (i, name) in REG_NAMES.iter().enumerate() {
            out.push_str(&format!("  {name}={:#010x}", self.regs[i]));
            if i % 4 == 3 {
                out.push('\n');
            }
        }
        let f = |bit: u32, c: char| if self.eflags & bit != 0 { c } else { '-' };
        out.push_str(&format!(
            "  eip={:#010x}  eflags={:#010x} [{}{}{}{}{}{}{}]  gs.base={:#x}\n",
            self.eip,
            self.eflags,
            f(OF, 'O'),
            f(DF, 'D'),
            f(SF, 'S'),
            f(ZF, 'Z'),
            f(AF, 'A'),
            f(PF, 'P'),
            f(CF, 'C'),
            self.seg_base[Seg::Gs as usize]
        ));
        if self.fpu.used {
            out.push_str(&self.fpu.format());
        }
        out
    }
}
