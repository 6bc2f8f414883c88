//! Micro-ops: the fast engine's compact form of an instruction.
//!
//! Each decoded [`Instruction`] is translated once into a 16-byte [`Uop`]. The forms that
//! dominate compiled code (32-bit moves, loads and stores, ALU operations on registers,
//! immediates and memory, `inc`/`dec`, `lea`, `push`/`pop`, branches, calls, `movzx`/`movsx`,
//! byte loads, stores and compares, `setcc`/`cmovcc`) get their own kind with operands
//! pre-decoded into register numbers and constants. Everything else becomes
//! [`UopKind::Slow`]: the engine runs it through the reference semantics in `exec`, so the fast
//! path never has to be complete, only right where it applies.

use crate::alu::Width;
use crate::cpu::Seg;
use crate::exec::{condition_number, is_cmovcc, is_setcc};
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

/// No register (in [`Uop::b`] / [`Uop::x`]).
pub(crate) const NO_REG: u8 = 8;

/// Invokes `$m! { ... }` with the micro-op table: the single list of micro-op kinds.
///
/// Each line reads `/// what it does` then `Name, "group";`. `R` in a name is a 32-bit
/// register, `I` an immediate, `M` memory (32-bit unless the name says 8 or 16). From this
/// list come the [`UopKind`] enum, [`UopKind::ALL`] (what a translator must cover) and the
/// micro-op table in `docs/x86.md` ([`uop_table_markdown`]; a test keeps them equal).
macro_rules! for_each_uop {
    ($m:ident) => {
        $m! {
            /// Run the instruction through the reference semantics.
            Slow, "reference";
            /// Nothing (`nop`, `endbr32`, `pause`).
            Nop, "move";
            /// `r = b`.
            MovRR, "move";
            /// `r = imm`.
            MovRI, "move";
            /// `r = [ea]`.
            MovRM, "move";
            /// `[ea] = r`.
            MovMR, "move";
            /// `[ea] = imm`.
            MovMI, "move";
            /// `r = zero-extended byte [ea]`.
            MovzxRM8, "move";
            /// `r = zero-extended word [ea]`.
            MovzxRM16, "move";
            /// `r = sign-extended byte [ea]`.
            MovsxRM8, "move";
            /// `r = sign-extended word [ea]`.
            MovsxRM16, "move";
            /// `r = zero-extended reg8 b`.
            MovzxRR8, "move";
            /// `r = sign-extended reg8 b`.
            MovsxRR8, "move";
            /// reg8 `r` = byte `[ea]`.
            Mov8RM, "move";
            /// byte `[ea]` = reg8 `r`.
            Mov8MR, "move";
            /// byte `[ea]` = imm.
            Mov8MI, "move";
            /// word `[ea]` = low 16 bits of `r`.
            Mov16MR, "move";
            /// `r = ea` (no segment base).
            Lea, "move";
            /// `r += b`.
            AddRR, "alu";
            /// `r += b + CF`.
            AdcRR, "alu";
            /// `r -= b`.
            SubRR, "alu";
            /// `r -= b + CF`.
            SbbRR, "alu";
            /// `r &= b`.
            AndRR, "alu";
            /// `r |= b`.
            OrRR, "alu";
            /// `r ^= b`.
            XorRR, "alu";
            /// flags of `r - b`.
            CmpRR, "alu";
            /// flags of `r & b`.
            TestRR, "alu";
            /// `r += imm`.
            AddRI, "alu";
            /// `r += imm + CF`.
            AdcRI, "alu";
            /// `r -= imm`.
            SubRI, "alu";
            /// `r -= imm + CF`.
            SbbRI, "alu";
            /// `r &= imm`.
            AndRI, "alu";
            /// `r |= imm`.
            OrRI, "alu";
            /// `r ^= imm`.
            XorRI, "alu";
            /// flags of `r - imm`.
            CmpRI, "alu";
            /// flags of `r & imm`.
            TestRI, "alu";
            /// `r op= [ea]` with `op` an [`AluOp`].
            AluRM, "alu";
            /// `[ea] op= r` with `op` an [`AluOp`].
            AluMR, "alu";
            /// `[ea] op= imm` with `op` an [`AluOp`].
            AluMI, "alu";
            /// flags of byte `[ea] op imm` (`cmp`/`test`).
            Alu8MI, "alu";
            /// byte: reg8 `r` op reg8 `b`, any [`AluOp`].
            Alu8RR, "alu";
            /// byte: reg8 `r` op imm, any [`AluOp`].
            Alu8RI, "alu";
            /// byte: reg8 `r` op byte `[ea]`, any [`AluOp`].
            Alu8RM, "alu";
            /// byte: byte `[ea]` op reg8 `r`, any [`AluOp`] (stored unless `cmp`/`test`).
            Alu8MR, "alu";
            /// word: low 16 bits of `r` op imm, any [`AluOp`].
            Alu16RI, "alu";
            /// low 16 bits of `r` = word `[ea]`.
            Mov16RM, "move";
            /// `r += 1`.
            IncR, "arithmetic";
            /// `r -= 1`.
            DecR, "arithmetic";
            /// `[ea] += 1`, `op` bytes wide (2 or 4).
            IncM, "arithmetic";
            /// `[ea] -= 1`, `op` bytes wide (2 or 4).
            DecM, "arithmetic";
            /// `r = -r`.
            NegR, "arithmetic";
            /// `r = !r`.
            NotR, "arithmetic";
            /// `r = r rol/ror/shl/shr/sar imm` with `op` 0 = rol, 1 = ror, 4 = shl, 5 = shr,
            /// 7 = sar (the `/digit` of the encoding).
            ShiftRI, "arithmetic";
            /// [`UopKind::ShiftRI`] by `cl` instead of an immediate.
            ShiftRC, "arithmetic";
            /// `r = r * b` (truncating `imul`).
            ImulRR, "arithmetic";
            /// `r = b * imm` (truncating `imul`).
            ImulRRI, "arithmetic";
            /// push `r`.
            PushR, "stack";
            /// push `imm`.
            PushI, "stack";
            /// push `[ea]`.
            PushM, "stack";
            /// pop into `r`.
            PopR, "stack";
            /// `edx = sign of eax`.
            Cdq, "move";
            /// swap `r` and `b`.
            XchgRR, "move";
            /// reg8 `r` = condition `op`.
            Setcc, "condition";
            /// `r = b` if condition `op`.
            CmovRR, "condition";
            /// `r = [ea]` if condition `op` (the load happens either way).
            CmovRM, "condition";
            /// jump to `imm`.
            Jmp, "branch";
            /// jump to `imm` if condition `op`, else to `disp` (the next instruction).
            Jcc, "branch";
            /// push `disp` (the return address) and jump to `imm`.
            Call, "branch";
            /// jump to `r`.
            JmpR, "branch";
            /// jump to `[ea]`.
            JmpM, "branch";
            /// push `disp` and jump to `r`.
            CallR, "branch";
            /// push the return address and jump to `[ea]`.
            CallM, "branch";
            /// pop eip, then add `imm` to esp.
            Ret, "branch";
            /// Fused `cmp r, b ; jcc`: condition `op`, target `imm`, else the block's end. Counts
            /// as two instructions; sits at the `cmp`'s index.
            CmpRRJcc, "fused";
            /// Fused `cmp r, imm ; jcc`: condition `op`, target `disp`, else the block's end.
            CmpRIJcc, "fused";
            /// Fused `test r, b ; jcc`: condition `op`, target `imm`, else the block's end.
            TestRRJcc, "fused";
            /// Fused `dec r ; jcc`: condition `op`, target `imm`, else the block's end.
            DecRJcc, "fused";
            /// Fused `inc r ; jcc`: condition `op`, target `imm`, else the block's end.
            IncRJcc, "fused";
        }
    };
}

macro_rules! define_uop_kinds {
    ($( $(#[doc = $doc:literal])+ $name:ident, $group:literal; )*) => {
        /// The operation of a micro-op (generated from [`for_each_uop!`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum UopKind {
            $( $(#[doc = $doc])+ $name, )*
        }

        // `ALL`, `name`, `group` and `doc` serve the docs check today and a translator's
        // coverage check later; nothing else in the build reads them yet.
        impl UopKind {
            /// Every kind, in table order.
            #[allow(dead_code)]
            pub(crate) const ALL: &'static [UopKind] = &[$(UopKind::$name),*];

            /// The kind's name in the table.
            #[allow(dead_code)]
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(UopKind::$name => stringify!($name),)*
                }
            }

            /// The family the kind belongs to (`move`, `alu`, `branch`, ...).
            #[allow(dead_code)]
            pub(crate) fn group(self) -> &'static str {
                match self {
                    $(UopKind::$name => $group,)*
                }
            }

            /// What the kind does: its doc comment, lines joined.
            #[allow(dead_code)]
            pub(crate) fn doc(self) -> &'static [&'static str] {
                match self {
                    $(UopKind::$name => &[$($doc),+],)*
                }
            }
        }
    };
}

for_each_uop!(define_uop_kinds);

/// The micro-op table as Markdown, one row per [`UopKind`]: the table in `docs/x86.md`.
#[allow(dead_code)]
pub(crate) fn uop_table_markdown() -> String {
    let mut out = String::from("| micro-op | group | does |\n|---|---|---|\n");
    for &kind in UopKind::ALL {
        let doc: Vec<&str> = kind.doc().iter().map(|l| l.trim()).collect();
        // Intra-doc links read as plain code in Markdown.
        let doc = doc
            .join(" ")
            .replace("[`UopKind::", "`")
            .replace("[`", "`")
            .replace("`]", "`")
            .replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            kind.name(),
            kind.group(),
            doc
        ));
    }
    out
}
/// The ALU operation of [`UopKind::AluRM`], [`UopKind::AluMR`], [`UopKind::AluMI`] and the byte forms,
/// numbered as in the `/digit` of opcodes 0x80-0x83; 8 is `test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum AluOp {
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

impl AluOp {
    /// From the `op` byte of a micro-op.
    #[inline(always)]
    pub fn from_u8(v: u8) -> AluOp {
        match v {
            0 => AluOp::Add,
            1 => AluOp::Or,
            2 => AluOp::Adc,
            3 => AluOp::Sbb,
            4 => AluOp::And,
            5 => AluOp::Sub,
            6 => AluOp::Xor,
            7 => AluOp::Cmp,
            _ => AluOp::Test,
        }
    }

    fn of(m: Mnemonic) -> Option<AluOp> {
        Some(match m {
            Mnemonic::Add => AluOp::Add,
            Mnemonic::Or => AluOp::Or,
            Mnemonic::Adc => AluOp::Adc,
            Mnemonic::Sbb => AluOp::Sbb,
            Mnemonic::And => AluOp::And,
            Mnemonic::Sub => AluOp::Sub,
            Mnemonic::Xor => AluOp::Xor,
            Mnemonic::Cmp => AluOp::Cmp,
            Mnemonic::Test => AluOp::Test,
            _ => return None,
        })
    }
}

/// One translated instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uop {
    /// The operation.
    pub kind: UopKind,
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
    /// [`AluOp`], shift kind or condition code, by kind.
    pub op: u8,
    /// Unused; keeps the layout explicit.
    pub pad: u8,
    /// Immediate or branch target.
    pub imm: u32,
    /// Memory displacement, or the return address of a call.
    pub disp: u32,
}

impl Uop {
    fn new(kind: UopKind) -> Uop {
        Uop {
            kind,
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
        Uop::new(UopKind::Slow)
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
    if n < 2 || uops[n - 1].kind != UopKind::Jcc {
        return;
    }
    let j = uops[n - 1];
    let u = &mut uops[n - 2];
    let k = match u.kind {
        UopKind::CmpRR => UopKind::CmpRRJcc,
        UopKind::CmpRI => {
            u.disp = j.imm;
            u.op = j.op;
            u.kind = UopKind::CmpRIJcc;
            return;
        }
        UopKind::TestRR => UopKind::TestRRJcc,
        UopKind::DecR => UopKind::DecRJcc,
        UopKind::IncR => UopKind::IncRJcc,
        _ => return,
    };
    u.kind = k;
    u.op = j.op;
    u.imm = j.imm;
}

/// Translates `insn`; instructions without a fast form become [`UopKind::Slow`].
pub(crate) fn translate(insn: &Instruction) -> Uop {
    fast_form(insn).unwrap_or_else(Uop::slow)
}

/// Operand `i`'s kind; operands past the last read as registers (so a one-operand form
/// never matches a two-operand pattern by accident).
fn operand_kind(insn: &Instruction, i: u32) -> OpKind {
    if i < insn.op_count() {
        insn.op_kind(i)
    } else {
        OpKind::Register
    }
}

/// Operand `i` as an immediate. `try_immediate`: an operand that is not an immediate
/// leaves the instruction to the reference path instead of panicking.
fn immediate(insn: &Instruction, i: u32) -> Option<u32> {
    insn.try_immediate(i).ok().map(|v| v as u32)
}

/// The micro-op of `insn`'s fast form, by instruction family; `None` if it has none.
fn fast_form(insn: &Instruction) -> Option<Uop> {
    use Mnemonic as M;
    let m = insn.mnemonic();
    let mut u = Uop::new(UopKind::Nop);
    match m {
        M::Nop | M::Endbr32 | M::Pause => {}
        M::Mov => translate_mov(insn, &mut u)?,
        M::Movzx | M::Movsx => translate_extend(insn, &mut u)?,
        M::Lea => {
            u.r = reg32(insn.op0_register())?;
            mem(insn, &mut u)?;
            // lea ignores segment bases.
            u.seg = 0;
            u.kind = UopKind::Lea;
        }
        M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test => {
            translate_alu(insn, &mut u)?
        }
        M::Inc
        | M::Dec
        | M::Neg
        | M::Not
        | M::Shl
        | M::Sal
        | M::Shr
        | M::Sar
        | M::Rol
        | M::Ror
        | M::Imul => translate_arithmetic(insn, &mut u)?,
        M::Push | M::Pop => translate_stack(insn, &mut u)?,
        M::Cdq => u.kind = UopKind::Cdq,
        M::Xchg
            if operand_kind(insn, 0) == OpKind::Register
                && operand_kind(insn, 1) == OpKind::Register =>
        {
            u.r = reg32(insn.op0_register())?;
            u.b = reg32(insn.op1_register())?;
            u.kind = UopKind::XchgRR;
        }
        M::Jmp | M::Call | M::Ret => translate_jump(insn, &mut u)?,
        _ => translate_conditional(insn, &mut u)?,
    }
    Some(u)
}

/// `mov` between registers, immediates and memory at 8, 16 and 32 bits.
fn translate_mov(insn: &Instruction, u: &mut Uop) -> Option<()> {
    use OpKind::{Immediate32, Memory, Register as R};
    match (operand_kind(insn, 0), operand_kind(insn, 1)) {
        (R, R) => {
            u.r = reg32(insn.op0_register())?;
            u.b = reg32(insn.op1_register())?;
            u.kind = UopKind::MovRR;
        }
        (R, Immediate32) => {
            u.kind = UopKind::MovRI;
            u.r = reg32(insn.op0_register())?;
            u.imm = immediate(insn, 1)?;
        }
        (R, Memory) => {
            mem(insn, u)?;
            let dst = insn.op0_register();
            if let Some(d) = reg32(dst) {
                u.kind = UopKind::MovRM;
                u.r = d;
            } else if dst.is_gpr16() {
                u.kind = UopKind::Mov16RM;
                u.r = dst.number() as u8;
            } else {
                u.kind = UopKind::Mov8RM;
                u.r = reg8(dst)?;
            }
        }
        (Memory, R) => {
            mem(insn, u)?;
            let src = insn.op1_register();
            if let Some(s) = reg32(src) {
                u.kind = UopKind::MovMR;
                u.r = s;
            } else if let Some(s) = reg8(src) {
                u.kind = UopKind::Mov8MR;
                u.r = s;
            } else if src.is_gpr16() {
                u.kind = UopKind::Mov16MR;
                u.r = src.number() as u8;
            } else {
                return None;
            }
        }
        (Memory, Immediate32) => {
            mem(insn, u)?;
            u.kind = UopKind::MovMI;
            u.imm = immediate(insn, 1)?;
        }
        (Memory, OpKind::Immediate8) => {
            mem(insn, u)?;
            u.kind = UopKind::Mov8MI;
            u.imm = immediate(insn, 1)?;
        }
        _ => return None,
    }
    Some(())
}

/// `movzx`/`movsx` into a 32-bit register.
fn translate_extend(insn: &Instruction, u: &mut Uop) -> Option<()> {
    u.r = reg32(insn.op0_register())?;
    let zx = insn.mnemonic() == Mnemonic::Movzx;
    match operand_kind(insn, 1) {
        OpKind::Memory => {
            mem(insn, u)?;
            u.kind = match (mem_width(insn)?, zx) {
                (Width::B8, true) => UopKind::MovzxRM8,
                (Width::B8, false) => UopKind::MovsxRM8,
                (Width::W16, true) => UopKind::MovzxRM16,
                (Width::W16, false) => UopKind::MovsxRM16,
                _ => return None,
            };
        }
        OpKind::Register => {
            u.b = reg8(insn.op1_register())?;
            u.kind = if zx {
                UopKind::MovzxRR8
            } else {
                UopKind::MovsxRR8
            };
        }
        _ => return None,
    }
    Some(())
}

/// The two-operand ALU instructions (`add`, `or`, `adc`, `sbb`, `and`, `sub`, `xor`,
/// `cmp`, `test`).
fn translate_alu(insn: &Instruction, u: &mut Uop) -> Option<()> {
    use OpKind::{Immediate32, Immediate8to32, Memory, Register as R};
    let op = AluOp::of(insn.mnemonic())?;
    u.op = op as u8;
    match (operand_kind(insn, 0), operand_kind(insn, 1)) {
        (R, R) => {
            let (d, s) = (insn.op0_register(), insn.op1_register());
            if let (Some(d), Some(s)) = (reg32(d), reg32(s)) {
                u.r = d;
                u.b = s;
                u.kind = match op {
                    AluOp::Add => UopKind::AddRR,
                    AluOp::Adc => UopKind::AdcRR,
                    AluOp::Sub => UopKind::SubRR,
                    AluOp::Sbb => UopKind::SbbRR,
                    AluOp::And => UopKind::AndRR,
                    AluOp::Or => UopKind::OrRR,
                    AluOp::Xor => UopKind::XorRR,
                    AluOp::Cmp => UopKind::CmpRR,
                    AluOp::Test => UopKind::TestRR,
                };
            } else {
                u.r = reg8(d)?;
                u.b = reg8(s)?;
                u.kind = UopKind::Alu8RR;
            }
        }
        (R, Immediate32 | Immediate8to32) => {
            u.r = reg32(insn.op0_register())?;
            u.imm = immediate(insn, 1)?;
            u.kind = match op {
                AluOp::Add => UopKind::AddRI,
                AluOp::Adc => UopKind::AdcRI,
                AluOp::Sub => UopKind::SubRI,
                AluOp::Sbb => UopKind::SbbRI,
                AluOp::And => UopKind::AndRI,
                AluOp::Or => UopKind::OrRI,
                AluOp::Xor => UopKind::XorRI,
                AluOp::Cmp => UopKind::CmpRI,
                AluOp::Test => UopKind::TestRI,
            };
        }
        (R, OpKind::Immediate8) => {
            u.r = reg8(insn.op0_register())?;
            u.imm = immediate(insn, 1)?;
            u.kind = UopKind::Alu8RI;
        }
        (R, OpKind::Immediate16 | OpKind::Immediate8to16) => {
            let dst = insn.op0_register();
            if !dst.is_gpr16() {
                return None;
            }
            u.r = dst.number() as u8;
            u.imm = immediate(insn, 1)? & 0xFFFF;
            u.kind = UopKind::Alu16RI;
        }
        (R, Memory) => {
            mem(insn, u)?;
            if let Some(d) = reg32(insn.op0_register()) {
                u.r = d;
                u.kind = UopKind::AluRM;
            } else {
                u.r = reg8(insn.op0_register())?;
                u.kind = UopKind::Alu8RM;
            }
        }
        (Memory, R) if insn.op1_register().is_gpr8() => {
            mem(insn, u)?;
            u.r = reg8(insn.op1_register())?;
            u.kind = UopKind::Alu8MR;
        }
        (Memory, R) => {
            mem(insn, u)?;
            u.r = reg32(insn.op1_register())?;
            u.kind = UopKind::AluMR;
            if op == AluOp::Test {
                // `test [m], r` is symmetric: read-only, like `test r, [m]`.
                u.kind = UopKind::AluRM;
            }
        }
        (Memory, Immediate32 | Immediate8to32) => {
            mem(insn, u)?;
            if mem_width(insn)? != Width::D32 {
                return None;
            }
            u.imm = immediate(insn, 1)?;
            u.kind = UopKind::AluMI;
        }
        (Memory, OpKind::Immediate8) if matches!(op, AluOp::Cmp | AluOp::Test) => {
            mem(insn, u)?;
            u.imm = immediate(insn, 1)?;
            u.kind = UopKind::Alu8MI;
        }
        _ => return None,
    }
    Some(())
}

/// The one-operand and shift forms: `inc`, `dec`, `neg`, `not`, shifts and rotates by a
/// constant or `cl`, and truncating `imul`.
fn translate_arithmetic(insn: &Instruction, u: &mut Uop) -> Option<()> {
    use Mnemonic as M;
    use OpKind::{Memory, Register as R};
    let m = insn.mnemonic();
    let n = insn.op_count();
    let kind0 = operand_kind(insn, 0);
    match m {
        M::Inc | M::Dec if kind0 == Memory => {
            mem(insn, u)?;
            u.op = match mem_width(insn)? {
                Width::W16 => 2,
                Width::D32 => 4,
                Width::B8 => return None,
            };
            u.kind = if m == M::Inc {
                UopKind::IncM
            } else {
                UopKind::DecM
            };
        }
        M::Inc | M::Dec | M::Neg | M::Not if kind0 == R => {
            u.r = reg32(insn.op0_register())?;
            u.kind = match m {
                M::Inc => UopKind::IncR,
                M::Dec => UopKind::DecR,
                M::Neg => UopKind::NegR,
                _ => UopKind::NotR,
            };
        }
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror if kind0 == R && n == 2 => {
            u.r = reg32(insn.op0_register())?;
            u.kind = match operand_kind(insn, 1) {
                OpKind::Immediate8 => UopKind::ShiftRI,
                R if insn.op1_register() == Register::CL => UopKind::ShiftRC,
                _ => return None,
            };
            if u.kind == UopKind::ShiftRI {
                u.imm = immediate(insn, 1)? & 31;
            }
            u.op = match m {
                M::Rol => 0,
                M::Ror => 1,
                M::Shr => 5,
                M::Sar => 7,
                _ => 4,
            };
        }
        M::Imul if n >= 2 && kind0 == R && operand_kind(insn, 1) == R => {
            u.r = reg32(insn.op0_register())?;
            u.b = reg32(insn.op1_register())?;
            if n == 3 {
                u.imm = immediate(insn, 2)?;
                u.kind = UopKind::ImulRRI;
            } else {
                u.kind = UopKind::ImulRR;
            }
        }
        _ => translate_conditional(insn, u)?,
    }
    Some(())
}

/// `push` of a register, immediate or memory dword; `pop` into a register.
fn translate_stack(insn: &Instruction, u: &mut Uop) -> Option<()> {
    use OpKind::{Immediate32, Immediate8to32, Memory, Register as R};
    match (insn.mnemonic(), operand_kind(insn, 0)) {
        (Mnemonic::Push, R) => {
            u.r = reg32(insn.op0_register())?;
            u.kind = UopKind::PushR;
        }
        (Mnemonic::Push, Immediate32 | Immediate8to32) => {
            u.imm = immediate(insn, 0)?;
            u.kind = UopKind::PushI;
        }
        (Mnemonic::Push, Memory) => {
            mem(insn, u)?;
            if mem_width(insn)? != Width::D32 {
                return None;
            }
            u.kind = UopKind::PushM;
        }
        (Mnemonic::Push, _) => return None,
        (_, R) => {
            u.r = reg32(insn.op0_register())?;
            u.kind = UopKind::PopR;
        }
        _ => translate_conditional(insn, u)?,
    }
    Some(())
}

/// Near `jmp`, `call` and `ret`: direct, through a register, through memory.
fn translate_jump(insn: &Instruction, u: &mut Uop) -> Option<()> {
    use OpKind::{Memory, NearBranch32, Register as R};
    match insn.mnemonic() {
        Mnemonic::Jmp => match operand_kind(insn, 0) {
            NearBranch32 => {
                u.imm = insn.near_branch32();
                u.kind = UopKind::Jmp;
            }
            R => {
                u.r = reg32(insn.op0_register())?;
                u.kind = UopKind::JmpR;
            }
            Memory if mem_width(insn)? == Width::D32 && !insn.is_jmp_far_indirect() => {
                mem(insn, u)?;
                u.kind = UopKind::JmpM;
            }
            _ => return None,
        },
        Mnemonic::Call => {
            u.disp = insn.next_ip32();
            match operand_kind(insn, 0) {
                NearBranch32 => {
                    u.imm = insn.near_branch32();
                    u.kind = UopKind::Call;
                }
                R => {
                    u.r = reg32(insn.op0_register())?;
                    u.kind = UopKind::CallR;
                }
                Memory if mem_width(insn)? == Width::D32 && !insn.is_call_far_indirect() => {
                    // `disp` holds the address's displacement here; the engine takes the
                    // return address from the instruction.
                    mem(insn, u)?;
                    u.kind = UopKind::CallM;
                }
                _ => return None,
            }
        }
        _ if matches!(insn.code(), Code::Retnd | Code::Retnd_imm16) => {
            u.imm = if insn.op_count() > 0 {
                insn.immediate16() as u32
            } else {
                0
            };
            u.kind = UopKind::Ret;
        }
        _ => translate_conditional(insn, u)?,
    }
    Some(())
}

/// The instructions that read a condition: `jcc`, `setcc`, `cmovcc`.
fn translate_conditional(insn: &Instruction, u: &mut Uop) -> Option<()> {
    use OpKind::{Memory, Register as R};
    let m = insn.mnemonic();
    let cc = condition_number(insn.condition_code())?;
    u.op = cc;
    if insn.is_jcc_short_or_near() && operand_kind(insn, 0) == OpKind::NearBranch32 {
        u.imm = insn.near_branch32();
        u.disp = insn.next_ip32();
        u.kind = UopKind::Jcc;
    } else if is_setcc(m) && operand_kind(insn, 0) == R {
        u.r = reg8(insn.op0_register())?;
        u.kind = UopKind::Setcc;
    } else if is_cmovcc(m) && operand_kind(insn, 0) == R {
        u.r = reg32(insn.op0_register())?;
        match operand_kind(insn, 1) {
            R => {
                u.b = reg32(insn.op1_register())?;
                u.kind = UopKind::CmovRR;
            }
            Memory => {
                mem(insn, u)?;
                u.kind = UopKind::CmovRM;
            }
            _ => return None,
        }
    } else {
        return None;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uop_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Uop>(), 16);
    }

    #[test]
    fn uop_table_is_indexed_by_kind() {
        for (i, &kind) in UopKind::ALL.iter().enumerate() {
            assert_eq!(kind as usize, i, "{}", kind.name());
        }
    }

    #[test]
    fn docs_show_the_uop_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/x86.md");
        let docs = std::fs::read_to_string(path).expect("docs/x86.md");
        let table = uop_table_markdown();
        assert!(
            docs.contains(&table),
            "docs/x86.md must hold the micro-op table generated by for_each_uop!; replace \
             it with:\n\n{table}"
        );
    }
}
