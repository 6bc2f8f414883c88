//! Micro-ops: the fast engine's compact form of an instruction.
//!
//! Each decoded [`Instruction`] is translated once into a 16-byte [`Uop`]. The forms that
//! dominate compiled code (32-bit moves, loads and stores, ALU operations on registers,
//! immediates and memory, `inc`/`dec`, `lea`, `push`/`pop`, branches, calls, `movzx`/`movsx`,
//! byte loads, stores and compares, `setcc`/`cmovcc`) get their own kind with operands
//! pre-decoded into register numbers and constants. Everything else becomes
//! [`K::Slow`]: the engine runs it through the reference semantics in `exec`, so the fast
//! path never has to be complete, only right where it applies.

use crate::cpu::alu::Width;
use crate::cpu::{condition_number, is_cmovcc, is_setcc, Seg};
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

/// No register (in [`Uop::b`] / [`Uop::x`]).
pub(crate) const NO_REG: u8 = 8;

/// The operation of a micro-op. `R` = 32-bit register, `I` = immediate, `M` = memory
/// (32-bit unless the name says 8 or 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum K {
    /// Run the instruction through the reference semantics.
    Slow,
    /// Nothing.
    Nop,
    /// `r = b`.
    MovRR,
    /// `r = imm`.
    MovRI,
    /// `r = [ea]`.
    MovRM,
    /// `[ea] = r`.
    MovMR,
    /// `[ea] = imm`.
    MovMI,
    /// `r = zero-extended byte [ea]`.
    MovzxRM8,
    /// `r = zero-extended word [ea]`.
    MovzxRM16,
    /// `r = sign-extended byte [ea]`.
    MovsxRM8,
    /// `r = sign-extended word [ea]`.
    MovsxRM16,
    /// `r = zero-extended reg8 b`.
    MovzxRR8,
    /// `r = sign-extended reg8 b`.
    MovsxRR8,
    /// reg8 `r` = byte `[ea]`.
    Mov8RM,
    /// byte `[ea]` = reg8 `r`.
    Mov8MR,
    /// byte `[ea]` = imm.
    Mov8MI,
    /// word `[ea]` = low 16 bits of `r`.
    Mov16MR,
    /// `r = ea` (no segment base).
    Lea,
    /// ALU `op` with register destination and register source: `r op= b`.
    AddRR,
    /// `r += b + CF`.
    AdcRR,
    /// `r -= b`.
    SubRR,
    /// `r -= b + CF`.
    SbbRR,
    /// `r &= b`.
    AndRR,
    /// `r |= b`.
    OrRR,
    /// `r ^= b`.
    XorRR,
    /// flags of `r - b`.
    CmpRR,
    /// flags of `r & b`.
    TestRR,
    /// `r += imm`.
    AddRI,
    /// `r += imm + CF`.
    AdcRI,
    /// `r -= imm`.
    SubRI,
    /// `r -= imm + CF`.
    SbbRI,
    /// `r &= imm`.
    AndRI,
    /// `r |= imm`.
    OrRI,
    /// `r ^= imm`.
    XorRI,
    /// flags of `r - imm`.
    CmpRI,
    /// flags of `r & imm`.
    TestRI,
    /// `r op= [ea]` with `op` an [`AluK`].
    AluRM,
    /// `[ea] op= r` with `op` an [`AluK`].
    AluMR,
    /// `[ea] op= imm` with `op` an [`AluK`].
    AluMI,
    /// flags of byte `[ea] op imm` (`cmp`/`test`).
    Alu8MI,
    /// byte: reg8 `r` op reg8 `b`, any [`AluK`].
    Alu8RR,
    /// byte: reg8 `r` op imm, any [`AluK`].
    Alu8RI,
    /// byte: reg8 `r` op byte `[ea]`, any [`AluK`].
    Alu8RM,
    /// byte: byte `[ea]` op reg8 `r`, any [`AluK`] (stored unless `cmp`/`test`).
    Alu8MR,
    /// word: low 16 bits of `r` op imm, any [`AluK`].
    Alu16RI,
    /// low 16 bits of `r` = word `[ea]`.
    Mov16RM,
    /// `r += 1`.
    IncR,
    /// `r -= 1`.
    DecR,
    /// `[ea] += 1`, `op` bytes wide (2 or 4).
    IncM,
    /// `[ea] -= 1`, `op` bytes wide (2 or 4).
    DecM,
    /// `r = -r`.
    NegR,
    /// `r = !r`.
    NotR,
    /// `r = r rol/ror/shl/shr/sar imm` with `op` 0 = rol, 1 = ror, 4 = shl, 5 = shr,
    /// 7 = sar (the `/digit` of the encoding).
    ShiftRI,
    /// [`K::ShiftRI`] by `cl` instead of an immediate.
    ShiftRC,
    /// `r = r * b` (truncating `imul`).
    ImulRR,
    /// `r = b * imm` (truncating `imul`).
    ImulRRI,
    /// push `r`.
    PushR,
    /// push `imm`.
    PushI,
    /// push `[ea]`.
    PushM,
    /// pop into `r`.
    PopR,
    /// `edx = sign of eax`.
    Cdq,
    /// swap `r` and `b`.
    XchgRR,
    /// reg8 `r` = condition `op`.
    Setcc,
    /// `r = b` if condition `op`.
    CmovRR,
    /// `r = [ea]` if condition `op` (the load happens either way).
    CmovRM,
    /// jump to `imm`.
    Jmp,
    /// jump to `imm` if condition `op`, else to `disp` (the next instruction).
    Jcc,
    /// push `disp` (the return address) and jump to `imm`.
    Call,
    /// jump to `r`.
    JmpR,
    /// jump to `[ea]`.
    JmpM,
    /// push `disp` and jump to `r`.
    CallR,
    /// push the return address and jump to `[ea]`.
    CallM,
    /// pop eip, then add `imm` to esp.
    Ret,
    /// Fused `cmp r, b ; jcc`: condition `op`, target `imm`, else the block's end. Counts
    /// as two instructions; sits at the `cmp`'s index.
    CmpRRJcc,
    /// Fused `cmp r, imm ; jcc`: condition `op`, target `disp`, else the block's end.
    CmpRIJcc,
    /// Fused `test r, b ; jcc`: condition `op`, target `imm`, else the block's end.
    TestRRJcc,
    /// Fused `dec r ; jcc`: condition `op`, target `imm`, else the block's end.
    DecRJcc,
    /// Fused `inc r ; jcc`: condition `op`, target `imm`, else the block's end.
    IncRJcc,
}

/// The ALU operation of [`K::AluRM`], [`K::AluMR`], [`K::AluMI`] and the byte forms,
/// numbered as in the `/digit` of opcodes 0x80-0x83; 8 is `test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum AluK {
    Add = 0,
    Or = 1,
    Adc = 2,
    Sbb = 3,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
    Test = 8,
}

impl AluK {
    /// From the `op` byte of a micro-op.
    #[inline(always)]
    pub fn from_u8(v: u8) -> AluK {
        match v {
            0 => AluK::Add,
            1 => AluK::Or,
            2 => AluK::Adc,
            3 => AluK::Sbb,
            4 => AluK::And,
            5 => AluK::Sub,
            6 => AluK::Xor,
            7 => AluK::Cmp,
            _ => AluK::Test,
        }
    }

    fn of(m: Mnemonic) -> Option<AluK> {
        Some(match m {
            Mnemonic::Add => AluK::Add,
            Mnemonic::Or => AluK::Or,
            Mnemonic::Adc => AluK::Adc,
            Mnemonic::Sbb => AluK::Sbb,
            Mnemonic::And => AluK::And,
            Mnemonic::Sub => AluK::Sub,
            Mnemonic::Xor => AluK::Xor,
            Mnemonic::Cmp => AluK::Cmp,
            Mnemonic::Test => AluK::Test,
            _ => return None,
        })
    }
}

/// One translated instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uop {
    /// The operation.
    pub k: K,
    /// Register operand (destination, or the source of a store).
    pub r: u8,
    /// Second register, or the memory operand's base ([`NO_REG`] if none).
    pub b: u8,
    /// Memory index register ([`NO_REG`] if none).
    pub x: u8,
    /// Index scale as a shift (0..=3).
    pub s: u8,
    /// Segment whose base is added (`Seg::Fs`/`Seg::Gs`), or 0 for flat segments.
    pub seg: u8,
    /// [`AluK`], shift kind or condition code, by kind.
    pub op: u8,
    /// Unused; keeps the layout explicit.
    pub pad: u8,
    /// Immediate or branch target.
    pub imm: u32,
    /// Memory displacement, or the return address of a call.
    pub disp: u32,
}

impl Uop {
    fn new(k: K) -> Uop {
        Uop {
            k,
            r: 0,
            b: NO_REG,
            x: NO_REG,
            s: 0,
            seg: 0,
            op: 0,
            pad: 0,
            imm: 0,
            disp: 0,
        }
    }

    /// A micro-op that runs the instruction on the reference path.
    pub fn slow() -> Uop {
        Uop::new(K::Slow)
    }
}

fn reg32(r: Register) -> Option<u8> {
    r.is_gpr32().then(|| r.number() as u8)
}

/// An 8-bit register by encoding (0-3 al cl dl bl, 4-7 ah ch dh bh).
fn reg8(r: Register) -> Option<u8> {
    r.is_gpr8().then(|| r.number() as u8)
}

/// Fills the memory operand fields, if the instruction's addressing is 32-bit.
fn mem(insn: &Instruction, u: &mut Uop) -> Option<()> {
    let base = insn.memory_base();
    let index = insn.memory_index();
    if base != Register::None {
        u.b = reg32(base)?;
    }
    if index != Register::None {
        u.x = reg32(index)?;
        u.s = insn.memory_index_scale().trailing_zeros() as u8;
    }
    u.disp = insn.memory_displacement32();
    u.seg = match insn.memory_segment() {
        Register::FS => Seg::Fs as u8,
        Register::GS => Seg::Gs as u8,
        Register::DS | Register::SS | Register::ES => 0,
        _ => return None,
    };
    Some(())
}

/// Width of operand `i` when it is memory.
fn mem_width(insn: &Instruction) -> Option<Width> {
    match insn.memory_size().size() {
        1 => Some(Width::B8),
        2 => Some(Width::W16),
        4 => Some(Width::D32),
        _ => None,
    }
}

/// Fuses a block's final flag-setting instruction with the `jcc` that ends it.
pub(crate) fn fuse(uops: &mut [Uop]) {
    let n = uops.len();
    if n < 2 || uops[n - 1].k != K::Jcc {
        return;
    }
    let j = uops[n - 1];
    let u = &mut uops[n - 2];
    let k = match u.k {
        K::CmpRR => K::CmpRRJcc,
        K::CmpRI => {
            u.disp = j.imm;
            u.op = j.op;
            u.k = K::CmpRIJcc;
            return;
        }
        K::TestRR => K::TestRRJcc,
        K::DecR => K::DecRJcc,
        K::IncR => K::IncRJcc,
        _ => return,
    };
    u.k = k;
    u.op = j.op;
    u.imm = j.imm;
}

/// Translates `insn`; instructions without a fast form become [`K::Slow`].
pub(crate) fn translate(insn: &Instruction) -> Uop {
    fast(insn).unwrap_or_else(Uop::slow)
}

fn fast(insn: &Instruction) -> Option<Uop> {
    use Mnemonic as M;
    use OpKind::{Immediate32, Immediate8to32, Memory, Register as R};
    let n = insn.op_count();
    let kind = |i: u32| {
        if i < n {
            insn.op_kind(i)
        } else {
            OpKind::Register
        }
    };
    // `try_immediate`: an operand that is not an immediate leaves the instruction to the
    // reference path instead of panicking.
    let imm = |i: u32| insn.try_immediate(i).ok().map(|v| v as u32);
    let m = insn.mnemonic();
    let mut u = Uop::new(K::Nop);
    match m {
        M::Nop | M::Endbr32 | M::Pause => {}
        M::Mov => match (kind(0), kind(1)) {
            (R, R) => {
                if let (Some(d), Some(s)) = (reg32(insn.op0_register()), reg32(insn.op1_register()))
                {
                    u.k = K::MovRR;
                    u.r = d;
                    u.b = s;
                } else {
                    return None;
                }
            }
            (R, Immediate32) => {
                u.k = K::MovRI;
                u.r = reg32(insn.op0_register())?;
                u.imm = imm(1)?;
            }
            (R, Memory) => {
                mem(insn, &mut u)?;
                let dst = insn.op0_register();
                if let Some(d) = reg32(dst) {
                    u.k = K::MovRM;
                    u.r = d;
                } else if dst.is_gpr16() {
                    u.k = K::Mov16RM;
                    u.r = dst.number() as u8;
                } else {
                    u.k = K::Mov8RM;
                    u.r = reg8(dst)?;
                }
            }
            (Memory, R) => {
                mem(insn, &mut u)?;
                let src = insn.op1_register();
                if let Some(s) = reg32(src) {
                    u.k = K::MovMR;
                    u.r = s;
                } else if let Some(s) = reg8(src) {
                    u.k = K::Mov8MR;
                    u.r = s;
                } else if src.is_gpr16() {
                    u.k = K::Mov16MR;
                    u.r = src.number() as u8;
                } else {
                    return None;
                }
            }
            (Memory, Immediate32) => {
                mem(insn, &mut u)?;
                u.k = K::MovMI;
                u.imm = imm(1)?;
            }
            (Memory, OpKind::Immediate8) => {
                mem(insn, &mut u)?;
                u.k = K::Mov8MI;
                u.imm = imm(1)?;
            }
            _ => return None,
        },
        M::Movzx | M::Movsx => {
            u.r = reg32(insn.op0_register())?;
            let zx = m == M::Movzx;
            match kind(1) {
                Memory => {
                    mem(insn, &mut u)?;
                    u.k = match (mem_width(insn)?, zx) {
                        (Width::B8, true) => K::MovzxRM8,
                        (Width::B8, false) => K::MovsxRM8,
                        (Width::W16, true) => K::MovzxRM16,
                        (Width::W16, false) => K::MovsxRM16,
                        _ => return None,
                    };
                }
                R => {
                    u.b = reg8(insn.op1_register())?;
                    u.k = if zx { K::MovzxRR8 } else { K::MovsxRR8 };
                }
                _ => return None,
            }
        }
        M::Lea => {
            u.r = reg32(insn.op0_register())?;
            mem(insn, &mut u)?;
            // lea ignores segment bases.
            u.seg = 0;
            u.k = K::Lea;
        }
        M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test => {
            let op = AluK::of(m)?;
            u.op = op as u8;
            match (kind(0), kind(1)) {
                (R, R) => {
                    let (d, s) = (insn.op0_register(), insn.op1_register());
                    if let (Some(d), Some(s)) = (reg32(d), reg32(s)) {
                        u.r = d;
                        u.b = s;
                        u.k = match op {
                            AluK::Add => K::AddRR,
                            AluK::Adc => K::AdcRR,
                            AluK::Sub => K::SubRR,
                            AluK::Sbb => K::SbbRR,
                            AluK::And => K::AndRR,
                            AluK::Or => K::OrRR,
                            AluK::Xor => K::XorRR,
                            AluK::Cmp => K::CmpRR,
                            AluK::Test => K::TestRR,
                        };
                    } else {
                        u.r = reg8(d)?;
                        u.b = reg8(s)?;
                        u.k = K::Alu8RR;
                    }
                }
                (R, Immediate32 | Immediate8to32) => {
                    u.r = reg32(insn.op0_register())?;
                    u.imm = imm(1)?;
                    u.k = match op {
                        AluK::Add => K::AddRI,
                        AluK::Adc => K::AdcRI,
                        AluK::Sub => K::SubRI,
                        AluK::Sbb => K::SbbRI,
                        AluK::And => K::AndRI,
                        AluK::Or => K::OrRI,
                        AluK::Xor => K::XorRI,
                        AluK::Cmp => K::CmpRI,
                        AluK::Test => K::TestRI,
                    };
                }
                (R, OpKind::Immediate8) => {
                    u.r = reg8(insn.op0_register())?;
                    u.imm = imm(1)?;
                    u.k = K::Alu8RI;
                }
                (R, OpKind::Immediate16 | OpKind::Immediate8to16) => {
                    let dst = insn.op0_register();
                    if !dst.is_gpr16() {
                        return None;
                    }
                    u.r = dst.number() as u8;
                    u.imm = imm(1)? & 0xFFFF;
                    u.k = K::Alu16RI;
                }
                (R, Memory) => {
                    mem(insn, &mut u)?;
                    if let Some(d) = reg32(insn.op0_register()) {
                        u.r = d;
                        u.k = K::AluRM;
                    } else {
                        u.r = reg8(insn.op0_register())?;
                        u.k = K::Alu8RM;
                    }
                }
                (Memory, R) if insn.op1_register().is_gpr8() => {
                    mem(insn, &mut u)?;
                    u.r = reg8(insn.op1_register())?;
                    u.k = K::Alu8MR;
                }
                (Memory, R) => {
                    mem(insn, &mut u)?;
                    u.r = reg32(insn.op1_register())?;
                    u.k = K::AluMR;
                    if op == AluK::Test {
                        // `test [m], r` is symmetric: read-only, like `test r, [m]`.
                        u.k = K::AluRM;
                    }
                }
                (Memory, Immediate32 | Immediate8to32) => {
                    mem(insn, &mut u)?;
                    if mem_width(insn)? != Width::D32 {
                        return None;
                    }
                    u.imm = imm(1)?;
                    u.k = K::AluMI;
                }
                (Memory, OpKind::Immediate8) if matches!(op, AluK::Cmp | AluK::Test) => {
                    mem(insn, &mut u)?;
                    u.imm = imm(1)?;
                    u.k = K::Alu8MI;
                }
                _ => return None,
            }
        }
        M::Inc | M::Dec if kind(0) == Memory => {
            mem(insn, &mut u)?;
            u.op = match mem_width(insn)? {
                Width::W16 => 2,
                Width::D32 => 4,
                Width::B8 => return None,
            };
            u.k = if m == M::Inc { K::IncM } else { K::DecM };
        }
        M::Inc | M::Dec | M::Neg | M::Not if kind(0) == R => {
            u.r = reg32(insn.op0_register())?;
            u.k = match m {
                M::Inc => K::IncR,
                M::Dec => K::DecR,
                M::Neg => K::NegR,
                _ => K::NotR,
            };
        }
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror if kind(0) == R && n == 2 => {
            u.r = reg32(insn.op0_register())?;
            u.k = match kind(1) {
                OpKind::Immediate8 => K::ShiftRI,
                R if insn.op1_register() == Register::CL => K::ShiftRC,
                _ => return None,
            };
            if u.k == K::ShiftRI {
                u.imm = imm(1)? & 31;
            }
            u.op = match m {
                M::Rol => 0,
                M::Ror => 1,
                M::Shr => 5,
                M::Sar => 7,
                _ => 4,
            };
        }
        M::Imul if n >= 2 && kind(0) == R && kind(1) == R => {
            u.r = reg32(insn.op0_register())?;
            u.b = reg32(insn.op1_register())?;
            if n == 3 {
                u.imm = imm(2)?;
                u.k = K::ImulRRI;
            } else {
                u.k = K::ImulRR;
            }
        }
        M::Push => match kind(0) {
            R => {
                u.r = reg32(insn.op0_register())?;
                u.k = K::PushR;
            }
            Immediate32 | Immediate8to32 => {
                u.imm = imm(0)?;
                u.k = K::PushI;
            }
            Memory => {
                mem(insn, &mut u)?;
                if mem_width(insn)? != Width::D32 {
                    return None;
                }
                u.k = K::PushM;
            }
            _ => return None,
        },
        M::Pop if kind(0) == R => {
            u.r = reg32(insn.op0_register())?;
            u.k = K::PopR;
        }
        M::Cdq => u.k = K::Cdq,
        M::Xchg if kind(0) == R && kind(1) == R => {
            u.r = reg32(insn.op0_register())?;
            u.b = reg32(insn.op1_register())?;
            u.k = K::XchgRR;
        }
        M::Jmp => match kind(0) {
            OpKind::NearBranch32 => {
                u.imm = insn.near_branch32();
                u.k = K::Jmp;
            }
            R => {
                u.r = reg32(insn.op0_register())?;
                u.k = K::JmpR;
            }
            Memory if mem_width(insn)? == Width::D32 && !insn.is_jmp_far_indirect() => {
                mem(insn, &mut u)?;
                u.k = K::JmpM;
            }
            _ => return None,
        },
        M::Call => {
            u.disp = insn.next_ip32();
            match kind(0) {
                OpKind::NearBranch32 => {
                    u.imm = insn.near_branch32();
                    u.k = K::Call;
                }
                R => {
                    u.r = reg32(insn.op0_register())?;
                    u.k = K::CallR;
                }
                Memory if mem_width(insn)? == Width::D32 && !insn.is_call_far_indirect() => {
                    // `disp` holds the address's displacement here; the engine takes the
                    // return address from the instruction.
                    mem(insn, &mut u)?;
                    u.k = K::CallM;
                }
                _ => return None,
            }
        }
        M::Ret if matches!(insn.code(), Code::Retnd | Code::Retnd_imm16) => {
            u.imm = if n > 0 { insn.immediate16() as u32 } else { 0 };
            u.k = K::Ret;
        }
        _ => {
            let cc = condition_number(insn.condition_code())?;
            u.op = cc;
            if insn.is_jcc_short_or_near() && kind(0) == OpKind::NearBranch32 {
                u.imm = insn.near_branch32();
                u.disp = insn.next_ip32();
                u.k = K::Jcc;
            } else if is_setcc(m) && kind(0) == R {
                u.r = reg8(insn.op0_register())?;
                u.k = K::Setcc;
            } else if is_cmovcc(m) && kind(0) == R {
                u.r = reg32(insn.op0_register())?;
                match kind(1) {
                    R => {
                        u.b = reg32(insn.op1_register())?;
                        u.k = K::CmovRR;
                    }
                    Memory => {
                        mem(insn, &mut u)?;
                        u.k = K::CmovRM;
                    }
                    _ => return None,
                }
            } else {
                return None;
            }
        }
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uop_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Uop>(), 16);
    }
}
