//! Case generation for `insn_vs_cpu.rs`: every encoding (iced-x86 `Code`) of every integer
//! instruction the emulator implements, with edge and random operands, random flags, and
//! memory operands in every addressing form.
//!
//! A case is a few instructions at a unique address in the code area (so no decoded block is
//! ever reused for other bytes), the eight registers, EFLAGS, and byte patches on the base
//! pattern of the data region. The region's first page holds memory operands; its second
//! page is the stack (esp starts at [`STACK`], ebp for `enter`/`leave` at [`FRAME`]). fs is
//! based at the region, so `fs:` overrides reach it with small offsets, including through
//! 16-bit addressing, which otherwise could only address the unmapped first 64 KiB.

use iced_x86::{
    Code, ConditionCode, Encoder, EncodingKind, Instruction, MemoryOperand, Mnemonic,
    OpCodeOperandKind as K, Register, RepPrefixKind,
};
use std::rc::Rc;
use vmkit_x86::cpu::alu::{self, AluOp, Width};
use vmkit_x86::cpu::flags::{AF, CF, DF, OF, PF, SF, STATUS, ZF};

/// The data region: operands in its first page, the stack in its second.
pub const REGION: u32 = 0x1000_0000;
/// Its size.
pub const REGION_SIZE: u32 = 0x2000;
/// Where memory operands point (the first page).
const DATA_SIZE: u32 = 0x1000;
/// Initial esp for cases that use the stack.
const STACK: u32 = REGION + 0x1800;
/// Initial ebp for `enter`/`leave`: above the stack, so nesting levels read the region.
const FRAME: u32 = REGION + 0x1c00;
/// The code area; each case gets its own addresses in it.
pub const CODE_BASE: u32 = 0x2000_0000;
/// Nothing is mapped from here to 0x7fff_ffff, natively (the runner is linked at 0xa0000000)
/// or in vmkit.
const UNMAPPED: u32 = 0x4000_0000;
/// Every case ends at a `hlt` (a #GP in user mode, which both sides turn into "done").
pub const HLT: u8 = 0xF4;

const R8: [Register; 8] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
];
const R16: [Register; 8] = [
    Register::AX,
    Register::CX,
    Register::DX,
    Register::BX,
    Register::SP,
    Register::BP,
    Register::SI,
    Register::DI,
];
const R32: [Register; 8] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
];
const ESP: usize = 4;

/// One instruction-level test.
pub struct Case {
    /// What the report groups it under: the tested instruction's mnemonic.
    pub group: String,
    /// Address of the first instruction.
    pub start: u32,
    /// The instructions; a `hlt` follows at `start + code.len()`.
    pub code: Vec<u8>,
    /// eax ecx edx ebx esp ebp esi edi.
    pub regs: [u32; 8],
    /// EFLAGS (bit 1 and IF set).
    pub eflags: u32,
    /// (offset in the region, byte) applied to the base pattern, in order.
    pub patches: Vec<(u16, u8)>,
    /// Status flags the architecture leaves undefined here.
    pub undefined_flags: u32,
    /// Flags that differ by design whatever the host (vmkit is a Pentium II: `rep bsf` is
    /// `bsf` there, `tzcnt` on the host).
    pub ignored_flags: u32,
    /// Register bits whose final value the architecture leaves undefined here.
    pub undefined_reg_bits: [u32; 8],
    /// A region range (offset, length) whose final bytes are architecturally undefined.
    pub undefined_mem: Option<(u32, u32)>,
}

impl Case {
    /// Address of the terminating `hlt`.
    pub fn end(&self) -> u32 {
        self.start + self.code.len() as u32
    }
}

// ---- random numbers -------------------------------------------------------------------------

/// xorshift64*, fixed seed: the same cases on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * n as u64) >> 32) as u32
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u32) as usize]
    }

    /// An operand value of `bits` bits: mostly edge values (zero, one, sign boundaries,
    /// all-ones), small numbers and single bits, else random.
    fn value(&mut self, bits: u32) -> u32 {
        const EDGES: [u32; 16] = [
            0,
            1,
            2,
            0x7e,
            0x7f,
            0x80,
            0x81,
            0xfe,
            0xff,
            0x7fff,
            0x8000,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            0x8000_0001,
            0xffff_ffff,
        ];
        let v = match self.below(10) {
            0..=3 => self.pick(&EDGES),
            4 => self.below(16),
            5 => 1 << self.below(bits),
            6 => (1u32 << self.below(bits)).wrapping_neg(),
            _ => self.u32(),
        };
        v & mask(bits)
    }

    /// A whole register's initial value.
    fn reg_value(&mut self) -> u32 {
        match self.below(4) {
            0 => self.value(32),
            1 => {
                let bits = self.pick(&[8, 16]);
                let v = self.value(bits);
                if self.chance(50) {
                    v
                } else {
                    v | (self.u32() & !mask(bits))
                }
            }
            _ => self.u32(),
        }
    }

    /// EFLAGS: random status flags, sometimes DF.
    fn eflags(&mut self) -> u32 {
        0x202 | (self.u32() & STATUS) | if self.chance(25) { DF } else { 0 }
    }
}

fn mask(bits: u32) -> u32 {
    u32::MAX >> (32 - bits)
}

fn width_of(bits: u32) -> Width {
    match bits {
        8 => Width::B8,
        16 => Width::W16,
        _ => Width::D32,
    }
}

// ---- registers ------------------------------------------------------------------------------

/// (register index, shift, mask) of a general register of any size.
fn slot(r: Register) -> (usize, u32, u32) {
    if r.is_gpr32() {
        (r.number(), 0, u32::MAX)
    } else if r.is_gpr16() {
        (r.number(), 0, 0xffff)
    } else {
        let n = r.number();
        if n < 4 {
            (n, 0, 0xff)
        } else {
            (n - 4, 8, 0xff)
        }
    }
}

fn bits_of(r: Register) -> u32 {
    r.size() as u32 * 8
}

// ---- building one case ----------------------------------------------------------------------

/// A case under construction.
pub struct Builder {
    base: Rc<[u8]>,
    start: u32,
    ip: u32,
    code: Vec<u8>,
    regs: [u32; 8],
    eflags: u32,
    patches: Vec<(u16, u8)>,
    /// Registers the case has set on purpose (esp for stack cases, the string registers...):
    /// operand filling and address solving leave them alone.
    fixed: u8,
    undefined_flags: u32,
    ignored_flags: u32,
    undefined_reg_bits: [u32; 8],
    undefined_mem: Option<(u32, u32)>,
}

impl Builder {
    fn reg(&self, r: Register) -> u32 {
        let (n, shift, m) = slot(r);
        (self.regs[n] >> shift) & m
    }

    fn set_reg(&mut self, r: Register, v: u32) {
        let (n, shift, m) = slot(r);
        self.regs[n] = (self.regs[n] & !(m << shift)) | ((v & m) << shift);
    }

    fn is_fixed(&self, r: Register) -> bool {
        self.fixed & (1 << slot(r).0) != 0
    }

    fn fix(&mut self, r: Register, v: u32) {
        self.set_reg(r, v);
        self.fixed |= 1 << slot(r).0;
    }

    fn read_mem(&self, linear: u32, size: u32) -> u64 {
        let mut v = 0u64;
        for i in (0..size).rev() {
            let a = linear.wrapping_add(i).wrapping_sub(REGION);
            let byte = if a < REGION_SIZE {
                self.patches
                    .iter()
                    .rev()
                    .find(|p| p.0 as u32 == a)
                    .map_or(self.base[a as usize], |p| p.1)
            } else {
                0
            };
            v = (v << 8) | byte as u64;
        }
        v
    }

    fn write_mem(&mut self, linear: u32, size: u32, v: u64) {
        for i in 0..size {
            let a = linear.wrapping_add(i).wrapping_sub(REGION);
            if a < REGION_SIZE {
                self.patches.push((a as u16, (v >> (8 * i)) as u8));
            }
        }
    }

    fn emit(&mut self, insn: Instruction) {
        let mut encoder = Encoder::new(32);
        match encoder.encode(&insn, self.ip as u64) {
            Ok(len) => {
                self.code.extend(encoder.take_buffer());
                self.ip += len as u32;
            }
            Err(e) => panic!("cannot encode {:?}: {e}", insn.code()),
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
        self.ip += bytes.len() as u32;
    }

    /// The length `insn` encodes to at the current address.
    fn len_of(&self, insn: &Instruction) -> u32 {
        let mut encoder = Encoder::new(32);
        encoder
            .encode(insn, self.ip as u64)
            .unwrap_or_else(|e| panic!("cannot encode {:?}: {e}", insn.code())) as u32
    }

    fn undefined_dest(&mut self, loc: Loc) {
        match loc {
            Loc::Reg(r) => {
                let (n, shift, m) = slot(r);
                self.undefined_reg_bits[n] |= m << shift;
            }
            Loc::Mem(Some(linear), size) => self.undefined_mem = Some((linear - REGION, size)),
            _ => {}
        }
    }
}

/// Where an operand lives.
#[derive(Clone, Copy, Debug)]
enum Loc {
    Reg(Register),
    /// Linear address (None if outside the region: the access faults) and size.
    Mem(Option<u32>, u32),
    Imm(u32),
}

/// An operand for `Instruction::withN`.
#[derive(Clone, Copy)]
enum Op {
    Reg(Register),
    Mem(MemoryOperand),
    Imm(u32),
}

fn make(code: Code, ops: &[Op]) -> Instruction {
    use Op::*;
    let r = match *ops {
        [] => Ok(Instruction::with(code)),
        [Reg(a)] => Instruction::with1(code, a),
        [Mem(a)] => Instruction::with1(code, a),
        [Imm(a)] => Instruction::with1(code, a),
        [Reg(a), Reg(b)] => Instruction::with2(code, a, b),
        [Reg(a), Mem(b)] => Instruction::with2(code, a, b),
        [Reg(a), Imm(b)] => Instruction::with2(code, a, b),
        [Mem(a), Reg(b)] => Instruction::with2(code, a, b),
        [Mem(a), Imm(b)] => Instruction::with2(code, a, b),
        [Imm(a), Imm(b)] => Instruction::with2(code, a, b),
        [Reg(a), Reg(b), Reg(c)] => Instruction::with3(code, a, b, c),
        [Reg(a), Reg(b), Imm(c)] => Instruction::with3(code, a, b, c),
        [Reg(a), Mem(b), Imm(c)] => Instruction::with3(code, a, b, c),
        [Mem(a), Reg(b), Reg(c)] => Instruction::with3(code, a, b, c),
        [Mem(a), Reg(b), Imm(c)] => Instruction::with3(code, a, b, c),
        _ => panic!("{code:?}: unsupported operand combination"),
    };
    r.unwrap_or_else(|e| panic!("{code:?}: {e}"))
}

// ---- the generator --------------------------------------------------------------------------

/// Generates every case.
pub struct Gen {
    rng: Rng,
    /// The region's base pattern.
    pub base: Rc<[u8]>,
    /// The cases so far.
    pub cases: Vec<Case>,
    next: u32,
}

/// Options for filling an instruction's operands.
#[derive(Default, Clone, Copy)]
struct Fill {
    /// Put the r/m operand in memory.
    mem: bool,
    /// The value of every immediate (shift counts).
    imm: Option<u32>,
    /// cl (shift counts).
    cl: Option<u32>,
}

impl Gen {
    /// A generator with the fixed seed, or `VMKIT_INSN_SEED` (to explore other cases).
    pub fn new() -> Gen {
        let seed = std::env::var("VMKIT_INSN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_1a32_0000_0001);
        let mut rng = Rng::new(seed);
        let base: Rc<[u8]> = (0..REGION_SIZE).map(|_| rng.u32() as u8).collect();
        Gen {
            rng,
            base,
            cases: Vec::new(),
            next: CODE_BASE,
        }
    }

    /// Size of the code image the cases need.
    pub fn code_size(&self) -> u32 {
        (self.next - CODE_BASE + 0xfff) & !0xfff
    }

    /// The code image: every case's code, `hlt` everywhere else.
    pub fn code_image(&self) -> Vec<u8> {
        let mut image = vec![HLT; self.code_size() as usize];
        for c in &self.cases {
            let at = (c.start - CODE_BASE) as usize;
            image[at..at + c.code.len()].copy_from_slice(&c.code);
        }
        image
    }

    fn builder(&mut self) -> Builder {
        let mut regs = [0; 8];
        for r in &mut regs {
            *r = self.rng.reg_value();
        }
        regs[ESP] = STACK;
        Builder {
            base: self.base.clone(),
            start: self.next,
            ip: self.next,
            code: Vec::new(),
            regs,
            eflags: self.rng.eflags(),
            patches: Vec::new(),
            fixed: 0,
            undefined_flags: 0,
            ignored_flags: 0,
            undefined_reg_bits: [0; 8],
            undefined_mem: None,
        }
    }

    fn finish(&mut self, b: Builder, group: impl Into<String>) {
        assert!(b.ip == b.start + b.code.len() as u32);
        self.next = (b.ip + 1 + 15) & !15;
        self.cases.push(Case {
            group: group.into(),
            start: b.start,
            code: b.code,
            regs: b.regs,
            eflags: b.eflags,
            patches: b.patches,
            undefined_flags: b.undefined_flags,
            ignored_flags: b.ignored_flags,
            undefined_reg_bits: b.undefined_reg_bits,
            undefined_mem: b.undefined_mem,
        });
    }

    // ---- memory operands ----

    /// A region offset for a `size`-byte operand: mostly inside the data page, sometimes
    /// across into the stack page.
    fn data_offset(&mut self, size: u32) -> u32 {
        if self.rng.chance(5) {
            DATA_SIZE - 1 - self.rng.below(size.max(2) - 1)
        } else {
            self.rng.below(DATA_SIZE - size + 1)
        }
    }

    /// A value for an index register: anything, since the displacement or base absorbs it.
    fn index_value(&mut self) -> u32 {
        match self.rng.below(4) {
            0 => self.rng.below(64),
            1 => self.rng.below(64).wrapping_neg(),
            2 => self.rng.value(32),
            _ => self.rng.u32(),
        }
    }

    /// A 32-bit-addressing memory operand whose linear address is `linear` (fs-relative
    /// when `seg` is FS), in one of the ModRM/SIB forms.
    fn mem32(&mut self, b: &mut Builder, linear: u32, seg: Register) -> MemoryOperand {
        let seg_base = if seg == Register::FS { REGION } else { 0 };
        let ea = linear.wrapping_sub(seg_base);
        let form = self.rng.below(7);
        let base = if form == 0 || form == 6 {
            Register::None
        } else {
            self.rng.pick(&R32)
        };
        let index = if form >= 4 {
            let choices: Vec<Register> = R32
                .iter()
                .copied()
                .filter(|&r| r != Register::ESP)
                .collect();
            self.rng.pick(&choices)
        } else {
            Register::None
        };
        let scale = if index == Register::None {
            1
        } else {
            self.rng.pick(&[1, 2, 4, 8])
        };
        let (mut disp, mut dsize) = match form {
            2 => (self.rng.u32() as i8 as i32 as u32, 1),
            3 => (self.rng.u32(), 4),
            4 | 5 => match self.rng.below(3) {
                0 => (0, 0),
                1 => (self.rng.u32() as i8 as i32 as u32, 1),
                _ => (self.rng.u32(), 4),
            },
            _ => (0, 0),
        };
        let index_value = if index == Register::None {
            0
        } else if b.is_fixed(index) {
            b.reg(index)
        } else {
            let v = self.index_value();
            b.set_reg(index, v);
            v
        };
        let scaled = index_value.wrapping_mul(scale);
        if base == Register::None {
            disp = ea.wrapping_sub(scaled);
            dsize = 4;
        } else if !b.is_fixed(base) && base != index {
            b.set_reg(base, ea.wrapping_sub(scaled).wrapping_sub(disp));
        } else {
            disp = ea.wrapping_sub(b.reg(base)).wrapping_sub(scaled);
            dsize = 4;
        }
        MemoryOperand::new(base, index, scale, disp as i32 as i64, dsize, false, seg)
    }

    /// A 16-bit-addressing memory operand (0x67) whose offset is `ea` (wrapping at 64 KiB);
    /// the upper halves of the registers are random, as the CPU ignores them.
    fn mem16(&mut self, b: &mut Builder, ea: u32, seg: Register) -> MemoryOperand {
        use Register::*;
        const FORMS: [(Register, Register); 9] = [
            (BX, SI),
            (BX, DI),
            (BP, SI),
            (BP, DI),
            (SI, None),
            (DI, None),
            (BP, None),
            (BX, None),
            (None, None),
        ];
        let (base, index) = self.rng.pick(&FORMS);
        let (mut disp, mut dsize) = match self.rng.below(3) {
            0 if base != BP || index != None => (0, 0),
            1 => (self.rng.u32() as i8 as i32 as u32, 1),
            _ => (self.rng.u32() & 0xffff, 2),
        };
        let mut sum = 0u32;
        if index != None {
            let v = if b.is_fixed(index) {
                b.reg(index)
            } else {
                let v = self.rng.u32();
                b.set_reg(index, v);
                v
            };
            sum = v;
        }
        if base == None {
            disp = ea.wrapping_sub(sum) & 0xffff;
            dsize = 2;
        } else if !b.is_fixed(base) {
            let full = base.full_register32();
            let v = (ea.wrapping_sub(sum).wrapping_sub(disp) & 0xffff) | (self.rng.u32() << 16);
            b.set_reg(full, v);
        } else {
            disp = ea.wrapping_sub(sum).wrapping_sub(b.reg(base)) & 0xffff;
            dsize = 2;
        }
        let disp = if dsize == 1 {
            disp as i8 as i64
        } else {
            disp as u16 as i64
        };
        MemoryOperand::new(base, index, 1, disp, dsize, false, seg)
    }

    /// A memory operand of `size` bytes: usually in the region (flat, fs-relative, or fs
    /// with 16-bit addressing), sometimes faulting (unmapped, straddling the region's end,
    /// or 16-bit addressing without an override, which can only reach the first 64 KiB).
    /// Returns the operand and its linear address when it is in the region.
    fn mem_operand(&mut self, b: &mut Builder, size: u32) -> (MemoryOperand, Option<u32>) {
        let roll = self.rng.below(100);
        if roll < 3 {
            let linear = match self.rng.below(4) {
                0 => REGION + REGION_SIZE - 1 - self.rng.below(size.max(2) - 1),
                1 => REGION + REGION_SIZE + self.rng.below(64),
                2 => REGION - 1 - self.rng.below(64),
                // Nothing is mapped there, natively or in vmkit.
                _ => UNMAPPED + self.rng.below(0x3000_0000),
            };
            let inside = linear.wrapping_sub(REGION) <= REGION_SIZE - size;
            let op = self.mem32(b, linear, Register::None);
            return (op, inside.then_some(linear));
        }
        if roll < 6 {
            let ea = self.rng.u32() & 0xffff;
            return (self.mem16(b, ea, Register::None), None);
        }
        let offset = self.data_offset(size);
        let linear = REGION + offset;
        let op = if roll < 20 {
            self.mem16(b, offset, Register::FS)
        } else if roll < 34 {
            self.mem32(b, linear, Register::FS)
        } else {
            self.mem32(b, linear, Register::None)
        };
        (op, Some(linear))
    }

    // ---- generic operand filling ----

    fn random_reg(&mut self, bits: u32) -> Register {
        match bits {
            8 => self.rng.pick(&R8),
            16 => self.rng.pick(&R16),
            _ => self.rng.pick(&R32),
        }
    }

    /// Fills `code`'s operands by kind: registers with values, memory operands with an
    /// address and a value, immediates. Returns the instruction and where each operand is.
    fn fill(&mut self, b: &mut Builder, code: Code, opts: Fill) -> (Instruction, Vec<Loc>) {
        let oc = code.op_code();
        if let Some(cl) = opts.cl {
            // The count stays: operands and addresses that use ecx work around it.
            b.fix(Register::CL, cl);
        }
        let mut ops = Vec::new();
        let mut locs = Vec::new();
        let mut mem_at: Option<(usize, u32)> = None;
        for i in 0..oc.op_count() {
            let kind = oc.op_kind(i);
            let reg = match kind {
                K::r8_or_mem | K::r16_or_mem | K::r32_or_mem if opts.mem => {
                    let size = match kind {
                        K::r8_or_mem => 1,
                        K::r16_or_mem => 2,
                        _ => 4,
                    };
                    mem_at = Some((ops.len(), size));
                    ops.push(Op::Imm(0));
                    locs.push(Loc::Imm(0));
                    continue;
                }
                K::mem | K::mem_offs => {
                    let size = oc.memory_size().size().max(1) as u32;
                    mem_at = Some((ops.len(), size));
                    ops.push(Op::Imm(0));
                    locs.push(Loc::Imm(0));
                    continue;
                }
                K::r8_or_mem | K::r8_reg | K::r8_opcode => self.random_reg(8),
                K::r16_or_mem | K::r16_reg | K::r16_opcode => self.random_reg(16),
                K::r32_or_mem | K::r32_reg | K::r32_opcode => self.random_reg(32),
                K::al => Register::AL,
                K::ax => Register::AX,
                K::eax => Register::EAX,
                K::cl => Register::CL,
                K::seg_reg => self.rng.pick(&[
                    Register::ES,
                    Register::CS,
                    Register::SS,
                    Register::DS,
                    Register::FS,
                ]),
                K::imm8 | K::imm16 | K::imm32 | K::imm8sex16 | K::imm8sex32 | K::imm8_const_1 => {
                    let v = match (kind, opts.imm) {
                        (K::imm8_const_1, _) => 1,
                        (_, Some(v)) => v,
                        (K::imm8, None) => self.rng.value(8),
                        (K::imm16, None) => self.rng.value(16),
                        (K::imm32, None) => self.rng.value(32),
                        (K::imm8sex16, None) => self.rng.value(8) as i8 as u16 as u32,
                        (_, None) => self.rng.value(8) as i8 as u32,
                    };
                    ops.push(Op::Imm(v));
                    locs.push(Loc::Imm(v));
                    continue;
                }
                k => panic!("{code:?}: operand kind {k:?} not supported"),
            };
            ops.push(Op::Reg(reg));
            locs.push(Loc::Reg(reg));
        }
        // Register values first; a memory operand's address registers override them.
        for loc in &locs {
            if let Loc::Reg(r) = *loc {
                if r.is_gpr() && !b.is_fixed(r) {
                    let v = self.rng.value(bits_of(r));
                    b.set_reg(r, v);
                }
            }
        }
        if let Some((i, size)) = mem_at {
            let (m, linear) = if oc.op_kind(i as u32) == K::mem_offs {
                // moffs: flat, or fs-relative with a 32- or (0x67) 16-bit offset.
                let offset = self.data_offset(size);
                let (seg, disp, dsize) = match self.rng.below(3) {
                    0 => (Register::None, REGION + offset, 4),
                    1 => (Register::FS, offset, 4),
                    _ => (Register::FS, offset, 2),
                };
                let m = MemoryOperand::new(
                    Register::None,
                    Register::None,
                    1,
                    disp as i64,
                    dsize,
                    false,
                    seg,
                );
                (m, Some(REGION + offset))
            } else if code == Code::Lea_r16_m || code == Code::Lea_r32_m {
                (self.lea_operand(b), None)
            } else {
                self.mem_operand(b, size)
            };
            if let Some(linear) = linear {
                let v = match size {
                    1 => self.rng.value(8) as u64,
                    2 => self.rng.value(16) as u64,
                    4 => self.rng.value(32) as u64,
                    _ => (self.rng.value(32) as u64) << 32 | self.rng.value(32) as u64,
                };
                b.write_mem(linear, size, v);
            }
            ops[i] = Op::Mem(m);
            locs[i] = Loc::Mem(linear, size);
        }
        (make(code, &ops), locs)
    }

    /// A `lea` operand: any addressing form, registers as they are (the address is only
    /// computed, so it need not be mapped), 16-bit addressing included.
    fn lea_operand(&mut self, b: &mut Builder) -> MemoryOperand {
        let ea = self.rng.u32();
        if self.rng.chance(30) {
            self.mem16(b, ea & 0xffff, Register::None)
        } else {
            self.mem32(b, ea, Register::None)
        }
    }
}

// ---- which codes -----------------------------------------------------------------------------

/// The legacy encodings valid in 32-bit mode, without decoder options (486-era aliases).
fn codes_32() -> impl Iterator<Item = Code> {
    Code::values().filter(|c| {
        let oc = c.op_code();
        oc.mode32() && oc.encoding() == EncodingKind::Legacy && oc.decoder_option() == 0
    })
}

fn is_shift(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Shl | Sal | Shr | Sar | Rol | Ror | Rcl | Rcr | Shld | Shrd
    )
}

/// Instructions tested operand by operand through [`Gen::fill`].
fn is_generic(code: Code) -> bool {
    use Mnemonic::*;
    let m = code.mnemonic();
    let plain = matches!(
        m,
        Add | Adc
            | Sub
            | Sbb
            | And
            | Or
            | Xor
            | Cmp
            | Test
            | Inc
            | Dec
            | Neg
            | Not
            | Mov
            | Movzx
            | Movsx
            | Lea
            | Xchg
            | Mul
            | Imul
            | Div
            | Idiv
            | Bt
            | Bts
            | Btr
            | Btc
            | Bsf
            | Bsr
            | Bswap
            | Xadd
            | Cmpxchg
            | Cmpxchg8b
            | Lahf
            | Sahf
            | Cbw
            | Cwde
            | Cwd
            | Cdq
            | Clc
            | Stc
            | Cmc
            | Cld
            | Std
            | Daa
            | Das
            | Aaa
            | Aas
            | Aam
            | Aad
            | Salc
            | Nop
    );
    let cc = code.condition_code() != ConditionCode::None
        && (format!("{m:?}").starts_with("Set") || format!("{m:?}").starts_with("Cmov"));
    // Loading segment registers and moving to control, debug or test registers are outside
    // a flat user-mode process (vmkit has no descriptor tables).
    let kinds = code.op_code().op_kinds();
    let special = kinds.iter().any(|k| {
        matches!(
            k,
            K::cr_reg | K::dr_reg | K::tr_reg | K::xmm_reg | K::xmm_or_mem
        )
    }) || (kinds.first() == Some(&K::seg_reg));
    (plain || cc) && !special
}

// ---- undefined flags and results ------------------------------------------------------------

fn alu_op(m: Mnemonic, op_count: u32) -> Option<AluOp> {
    use Mnemonic as M;
    Some(match m {
        M::Add => AluOp::Add,
        M::Adc => AluOp::Adc,
        M::Sub => AluOp::Sub,
        M::Sbb => AluOp::Sbb,
        M::Cmp => AluOp::Cmp,
        M::Neg => AluOp::Neg,
        M::Inc => AluOp::Inc,
        M::Dec => AluOp::Dec,
        M::And => AluOp::And,
        M::Or => AluOp::Or,
        M::Xor => AluOp::Xor,
        M::Test => AluOp::Test,
        M::Shl | M::Sal => AluOp::Shl,
        M::Shr => AluOp::Shr,
        M::Sar => AluOp::Sar,
        M::Rol => AluOp::Rol,
        M::Ror => AluOp::Ror,
        M::Rcl => AluOp::Rcl,
        M::Rcr => AluOp::Rcr,
        M::Shld => AluOp::Shld,
        M::Shrd => AluOp::Shrd,
        M::Mul => AluOp::Mul,
        M::Imul if op_count == 1 => AluOp::Imul,
        M::Imul => AluOp::ImulTrunc,
        M::Div => AluOp::Div,
        M::Idiv => AluOp::Idiv,
        M::Bt => AluOp::Bt,
        M::Bts => AluOp::Bts,
        M::Btr => AluOp::Btr,
        M::Btc => AluOp::Btc,
        M::Bsf => AluOp::Bsf,
        M::Bsr => AluOp::Bsr,
        M::Bswap => AluOp::Bswap,
        M::Daa => AluOp::Daa,
        M::Das => AluOp::Das,
        M::Aaa => AluOp::Aaa,
        M::Aas => AluOp::Aas,
        M::Aam => AluOp::Aam,
        M::Aad => AluOp::Aad,
        _ => return None,
    })
}

impl Gen {
    fn loc_value(&self, b: &Builder, loc: Loc) -> u32 {
        match loc {
            Loc::Reg(r) => b.reg(r),
            Loc::Mem(Some(a), size) => b.read_mem(a, size.min(4)) as u32,
            Loc::Mem(None, _) => 0,
            Loc::Imm(v) => v,
        }
    }

    /// Records what the architecture leaves undefined for the (single) instruction `insn`
    /// given the case's initial state.
    fn annotate(&self, b: &mut Builder, insn: &Instruction, locs: &[Loc]) {
        let m = insn.mnemonic();
        let Some(op) = alu_op(m, insn.op_count()) else {
            return;
        };
        let bits = match locs.first() {
            Some(Loc::Reg(r)) => bits_of(*r),
            Some(Loc::Mem(_, size)) => size * 8,
            _ => 8,
        };
        let w = width_of(bits.min(32));
        let count = match m {
            Mnemonic::Shld | Mnemonic::Shrd => self.loc_value(b, locs[2]),
            _ if is_shift(m) => locs.get(1).map_or(1, |&l| self.loc_value(b, l)),
            _ => 0,
        };
        b.undefined_flags |= alu::undefined_flags(op, w, count);
        if alu::undefined_result(op, w, count) {
            b.undefined_dest(locs[0]);
        }
        if matches!(m, Mnemonic::Bsf | Mnemonic::Bsr) && self.loc_value(b, locs[1]) & w.mask() == 0
        {
            b.undefined_dest(locs[0]);
        }
    }
}

// ---- the groups -----------------------------------------------------------------------------

impl Gen {
    /// Every case of every group.
    pub fn all() -> Gen {
        let mut g = Gen::new();
        g.generic();
        g.shifts();
        g.stack();
        g.strings();
        g.control();
        g.misc();
        g.prefixes();
        g.faults();
        g
    }

    /// One case of `code` with filled operands, after `tweak` shaped the initial state.
    fn one(
        &mut self,
        code: Code,
        opts: Fill,
        tweak: impl FnOnce(&mut Gen, &mut Builder, &Instruction, &[Loc]),
    ) {
        let mut b = self.builder();
        let (insn, locs) = self.fill(&mut b, code, opts);
        tweak(self, &mut b, &insn, &locs);
        self.annotate(&mut b, &insn, &locs);
        b.emit(insn);
        let group = format!("{:?}", code.mnemonic()).to_lowercase();
        self.finish(b, group);
    }

    /// Every generic encoding, register and memory forms.
    fn generic(&mut self) {
        let codes: Vec<Code> = codes_32().filter(|&c| is_generic(c)).collect();
        for code in codes {
            let m = code.mnemonic();
            let kinds = code.op_code().op_kinds();
            let has_rm = kinds
                .iter()
                .any(|k| matches!(k, K::r8_or_mem | K::r16_or_mem | K::r32_or_mem));
            let (n_reg, n_mem) = match m {
                Mnemonic::Daa | Mnemonic::Das | Mnemonic::Aaa | Mnemonic::Aas => (256, 0),
                Mnemonic::Div | Mnemonic::Idiv => (64, 32),
                Mnemonic::Bt | Mnemonic::Bts | Mnemonic::Btr | Mnemonic::Btc => (40, 64),
                Mnemonic::Cmpxchg8b => (0, 64),
                _ if code.condition_code() != ConditionCode::None => (64, 24),
                _ if has_rm => (48, 48),
                _ => (64, 0),
            };
            for k in 0..n_reg + n_mem {
                let opts = Fill {
                    mem: k >= n_reg,
                    ..Fill::default()
                };
                self.one(code, opts, |g, b, insn, locs| g.tweak(b, insn, locs, k));
            }
        }
    }

    /// Shapes the initial state so that interesting outcomes are common.
    fn tweak(&mut self, b: &mut Builder, insn: &Instruction, locs: &[Loc], k: usize) {
        use Mnemonic as M;
        let m = insn.mnemonic();
        // Registers that form the memory operand's address keep their values.
        let has_memory = (0..insn.op_count()).any(|i| insn.op_kind(i) == iced_x86::OpKind::Memory);
        let addressing = |r: Register| {
            has_memory
                && [insn.memory_base(), insn.memory_index()]
                    .iter()
                    .any(|&a| a != Register::None && a.full_register32() == r.full_register32())
        };
        match m {
            M::Div | M::Idiv
                if self.rng.chance(60)
                    && !addressing(Register::EAX)
                    && !addressing(Register::EDX) =>
            {
                let bits = match locs[0] {
                    Loc::Reg(r) => bits_of(r),
                    Loc::Mem(_, s) => s * 8,
                    Loc::Imm(_) => 32,
                };
                let divisor = self.loc_value(b, locs[0]) & mask(bits);
                if divisor == 0 {
                    return;
                }
                let (lo, hi) = if m == M::Div {
                    let q = self.rng.value(bits) as u64;
                    let r = self.rng.u32() as u64 % divisor as u64;
                    let dividend = q * divisor as u64 + r;
                    (
                        dividend as u32 & mask(bits),
                        (dividend >> bits) as u32 & mask(bits),
                    )
                } else {
                    let d = width_of(bits).sign_extend(divisor) as i64;
                    let q = width_of(bits).sign_extend(self.rng.value(bits)) as i64;
                    let product = q * d;
                    let r = self.rng.u32() as i64 % d.abs();
                    // The remainder takes the dividend's sign.
                    let dividend = if product < 0 {
                        product - r
                    } else {
                        product + r
                    };
                    (
                        dividend as u32 & mask(bits),
                        (dividend >> bits) as u32 & mask(bits),
                    )
                };
                match bits {
                    8 => b.set_reg(Register::AX, lo | hi << 8),
                    16 => {
                        b.set_reg(Register::AX, lo);
                        b.set_reg(Register::DX, hi);
                    }
                    _ => {
                        b.set_reg(Register::EAX, lo);
                        b.set_reg(Register::EDX, hi);
                    }
                }
            }
            M::Cmpxchg if k % 2 == 0 && !addressing(Register::EAX) => {
                let (acc, v) = match locs[0] {
                    Loc::Reg(r) => (bits_of(r), b.reg(r)),
                    l @ Loc::Mem(_, s) => (s * 8, self.loc_value(b, l)),
                    Loc::Imm(_) => return,
                };
                let acc = match acc {
                    8 => Register::AL,
                    16 => Register::AX,
                    _ => Register::EAX,
                };
                b.set_reg(acc, v);
            }
            M::Cmpxchg8b
                if k % 2 == 0 && !addressing(Register::EAX) && !addressing(Register::EDX) =>
            {
                if let Loc::Mem(Some(a), _) = locs[0] {
                    let v = b.read_mem(a, 8);
                    b.set_reg(Register::EAX, v as u32);
                    b.set_reg(Register::EDX, (v >> 32) as u32);
                }
            }
            M::Bt | M::Bts | M::Btr | M::Btc => {
                // A register bit offset into memory addresses a bit string: offsets far
                // beyond the operand, negative ones included, reach other bytes.
                if let (Loc::Mem(Some(a), size), Loc::Reg(r)) = (locs[0], locs[1]) {
                    if b.is_fixed(r) || addressing(r) || self.rng.chance(10) {
                        return;
                    }
                    let bits = size * 8;
                    let lo = -((a - REGION) as i64) * 8;
                    let hi = (REGION_SIZE - (a - REGION) - size) as i64 * 8;
                    let (lo, hi) = if bits == 16 {
                        (lo.max(-0x8000), hi.min(0x7fff))
                    } else {
                        (lo, hi)
                    };
                    let offset = match self.rng.below(3) {
                        0 => self.rng.below(2 * bits) as i64,
                        _ => lo + (self.rng.u32() as i64 % (hi - lo + 1)),
                    };
                    b.set_reg(r, offset as u32);
                }
            }
            M::Bsf | M::Bsr if self.rng.chance(15) => match locs[1] {
                Loc::Reg(r) => b.set_reg(r, 0),
                Loc::Mem(Some(a), s) => b.write_mem(a, s, 0),
                _ => {}
            },
            M::Daa | M::Das | M::Aaa | M::Aas => b.set_reg(Register::AL, k as u32),
            _ => {}
        }
    }

    /// Shifts and rotates: every count 0..=33 and some above, by cl and by immediate, plus
    /// the by-one forms; shld/shrd likewise.
    fn shifts(&mut self) {
        const EXTRA: [u32; 6] = [0x3f, 0x40, 0x41, 0x7f, 0x80, 0xff];
        let codes: Vec<Code> = codes_32().filter(|&c| is_shift(c.mnemonic())).collect();
        for code in codes {
            let kinds = code.op_code().op_kinds();
            let count_kind = *kinds.last().unwrap();
            if count_kind == K::imm8_const_1 {
                for k in 0..32 {
                    let opts = Fill {
                        mem: k % 2 == 1,
                        ..Fill::default()
                    };
                    self.one(code, opts, |_, _, _, _| {});
                }
                continue;
            }
            for count in (0..=33).chain(EXTRA) {
                for k in 0..3 {
                    let mut opts = Fill {
                        mem: k == 2,
                        ..Fill::default()
                    };
                    if count_kind == K::cl {
                        opts.cl = Some(count);
                    } else {
                        opts.imm = Some(count);
                    }
                    self.one(code, opts, |_, _, _, _| {});
                }
            }
        }
    }
}

// ---- stack -----------------------------------------------------------------------------------

impl Gen {
    /// A builder with esp (and ebp) fixed in the stack page; `misalign` esp sometimes.
    fn stack_builder(&mut self) -> Builder {
        let mut b = self.builder();
        let esp = STACK
            - if self.rng.chance(10) {
                self.rng.below(4)
            } else {
                0
            };
        b.fix(Register::ESP, esp);
        // Something worth popping.
        for i in 0..4 {
            let v = self.rng.value(32);
            b.write_mem(esp + 4 * i, 4, v as u64);
        }
        b
    }

    fn stack(&mut self) {
        use Code as C;
        let codes: Vec<Code> = codes_32()
            .filter(|c| {
                matches!(
                    c.mnemonic(),
                    Mnemonic::Push
                        | Mnemonic::Pop
                        | Mnemonic::Pusha
                        | Mnemonic::Pushad
                        | Mnemonic::Popa
                        | Mnemonic::Popad
                        | Mnemonic::Pushf
                        | Mnemonic::Pushfd
                        | Mnemonic::Popf
                        | Mnemonic::Popfd
                )
            })
            .collect();
        for code in codes {
            let kinds = code.op_code().op_kinds();
            // Popping segment registers loads descriptors (outside a flat user process);
            // gs holds the host's TLS selector, which differs from vmkit's.
            if matches!(
                kinds.first(),
                Some(K::es | K::cs | K::ss | K::ds | K::fs | K::gs)
            ) {
                let seg_ok = !matches!(kinds[0], K::gs);
                if code.mnemonic() != Mnemonic::Push || !seg_ok {
                    continue;
                }
                let reg = match kinds[0] {
                    K::es => Register::ES,
                    K::cs => Register::CS,
                    K::ss => Register::SS,
                    K::ds => Register::DS,
                    _ => Register::FS,
                };
                for _ in 0..4 {
                    let mut b = self.stack_builder();
                    b.emit(make(code, &[Op::Reg(reg)]));
                    self.finish(b, "push");
                }
                continue;
            }
            let has_rm = kinds
                .iter()
                .any(|k| matches!(k, K::r16_or_mem | K::r32_or_mem));
            let n = if has_rm { 64 } else { 48 };
            for k in 0..n {
                let mut b = self.stack_builder();
                let (insn, _) = self.fill(
                    &mut b,
                    code,
                    Fill {
                        mem: k % 2 == 1,
                        ..Fill::default()
                    },
                );
                if matches!(code, C::Popfd | C::Popfw) {
                    // Any value but TF (single steps the runner); AC, NT and ID included.
                    let v = self.rng.u32() & !0x100;
                    let esp = b.reg(Register::ESP);
                    b.write_mem(esp, 4, v as u64);
                }
                b.emit(insn);
                self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
            }
        }
        // push esp / pop esp / memory operands addressed through esp, in both sizes.
        for k in 0..64 {
            let mut b = self.stack_builder();
            let disp = (self.rng.below(24) as i32 - 8) & !1;
            let m = MemoryOperand::new(
                Register::ESP,
                Register::None,
                1,
                disp as i64,
                1,
                false,
                Register::None,
            );
            let (code, ops) = match k % 8 {
                0 => (C::Push_r32, vec![Op::Reg(Register::ESP)]),
                1 => (C::Pop_r32, vec![Op::Reg(Register::ESP)]),
                2 => (C::Push_r16, vec![Op::Reg(Register::SP)]),
                3 => (C::Pop_r16, vec![Op::Reg(Register::SP)]),
                4 => (C::Push_rm32, vec![Op::Mem(m)]),
                5 => (C::Pop_rm32, vec![Op::Mem(m)]),
                6 => (C::Push_rm16, vec![Op::Mem(m)]),
                _ => (C::Pop_rm16, vec![Op::Mem(m)]),
            };
            b.emit(make(code, &ops));
            self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
        }
        // enter (every nesting level up to 31 reads the enclosing frames) and leave.
        for code in [C::Enterd_imm16_imm8, C::Enterw_imm16_imm8] {
            for k in 0..96u32 {
                let mut b = self.stack_builder();
                let ebp = if k % 4 == 3 {
                    self.rng.u32()
                } else {
                    FRAME - 4 * self.rng.below(8)
                };
                b.fix(Register::EBP, ebp);
                let level = match k % 4 {
                    3 => 0,
                    _ if k < 64 => k % 8,
                    _ => self.rng.below(256),
                };
                let level = if ebp.wrapping_sub(REGION) >= REGION_SIZE {
                    level.min(1)
                } else {
                    level
                };
                let any = self.rng.below(0x400);
                let size = self.rng.pick(&[0, 4, 8, 0x10, 0x102, any]);
                b.emit(make(code, &[Op::Imm(size), Op::Imm(level)]));
                self.finish(b, "enter");
            }
        }
        for code in [C::Leaved, C::Leavew] {
            for k in 0..32 {
                let mut b = self.stack_builder();
                let ebp = if k % 8 == 7 {
                    // ebp's upper half with a 16-bit leave, or an unmapped frame.
                    ((UNMAPPED + self.rng.below(0x3000_0000)) & 0xffff_0000) | (FRAME & 0xffff)
                } else {
                    FRAME - 2 * self.rng.below(32)
                };
                b.fix(Register::EBP, ebp);
                let v = self.rng.value(32);
                b.write_mem(ebp, 4, v as u64);
                b.emit(Instruction::with(code));
                self.finish(b, "leave");
            }
        }
    }
}

// ---- string instructions ---------------------------------------------------------------------

impl Gen {
    fn strings(&mut self) {
        use Mnemonic as M;
        let ops: [(M, u32); 15] = [
            (M::Movsb, 1),
            (M::Movsw, 2),
            (M::Movsd, 4),
            (M::Cmpsb, 1),
            (M::Cmpsw, 2),
            (M::Cmpsd, 4),
            (M::Stosb, 1),
            (M::Stosw, 2),
            (M::Stosd, 4),
            (M::Lodsb, 1),
            (M::Lodsw, 2),
            (M::Lodsd, 4),
            (M::Scasb, 1),
            (M::Scasw, 2),
            (M::Scasd, 4),
        ];
        for (m, size) in ops {
            for rep in [
                RepPrefixKind::None,
                RepPrefixKind::Repe,
                RepPrefixKind::Repne,
            ] {
                for k in 0..48 {
                    self.string_case(m, size, rep, k);
                }
            }
        }
    }

    fn string_case(&mut self, m: Mnemonic, size: u32, rep: RepPrefixKind, k: u32) {
        use Mnemonic as M;
        let mut b = self.builder();
        let a16 = k % 8 == 7;
        let reads_source = matches!(
            m,
            M::Movsb
                | M::Movsw
                | M::Movsd
                | M::Cmpsb
                | M::Cmpsw
                | M::Cmpsd
                | M::Lodsb
                | M::Lodsw
                | M::Lodsd
        );
        let seg = if reads_source && (a16 || self.rng.chance(20)) {
            Register::FS
        } else {
            Register::None
        };
        if k % 4 == 0 {
            b.eflags |= DF;
        } else if k % 4 == 1 {
            b.eflags &= !DF;
        }
        let count = match k % 6 {
            0 => 0,
            1 => 1,
            2 => self.rng.below(8),
            3 => self.rng.below(40),
            4 => self.rng.below(4) | (self.rng.u32() << 16),
            _ => self.rng.below(300),
        };
        // Sometimes run off the end of the region: a fault in the middle of a rep.
        let runs_off = k % 16 == 5;
        let span = count.min(300) * size + 8;
        let place = |g: &mut Gen| {
            if runs_off {
                REGION_SIZE - g.rng.below(3 * size)
            } else {
                span + g.rng.below(REGION_SIZE - 2 * span)
            }
        };
        let src = place(self);
        let mut dst = place(self);
        if self.rng.chance(15) {
            // Overlapping copies are defined element by element.
            dst =
                (src as i32 + self.rng.below(9) as i32 - 4).clamp(0, REGION_SIZE as i32 - 4) as u32;
        }
        let (esi, edi, ecx) = if a16 {
            (
                src | (self.rng.u32() << 16),
                self.rng.u32(),
                count & 0xffff | (self.rng.u32() << 16),
            )
        } else {
            let src_base = if seg == Register::FS { 0 } else { REGION };
            (src_base + src, REGION + dst, count)
        };
        b.fix(Register::ESI, esi);
        b.fix(Register::EDI, edi);
        b.fix(Register::ECX, ecx);
        let value = self.rng.value(size * 8);
        let acc = match size {
            1 => Register::AL,
            2 => Register::AX,
            _ => Register::EAX,
        };
        b.set_reg(acc, value);
        // Make compares match for a while: copy the source (or the accumulator) to the
        // destination up to a random point.
        if !a16
            && matches!(
                m,
                M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Scasb | M::Scasw | M::Scasd
            )
        {
            let equal = self.rng.below(count.min(64) + 2);
            let down = b.eflags & DF != 0;
            for i in 0..equal {
                let step = (i * size) as i32 * if down { -1 } else { 1 };
                let d = (REGION + dst).wrapping_add(step as u32);
                let v = if matches!(m, M::Scasb | M::Scasw | M::Scasd) {
                    value as u64
                } else {
                    b.read_mem((REGION + src).wrapping_add(step as u32), size)
                };
                b.write_mem(d, size, v);
            }
        }
        let asz = if a16 { 16 } else { 32 };
        let insn = match m {
            M::Movsb => Instruction::with_movsb(asz, seg, rep),
            M::Movsw => Instruction::with_movsw(asz, seg, rep),
            M::Movsd => Instruction::with_movsd(asz, seg, rep),
            M::Cmpsb => Instruction::with_cmpsb(asz, seg, rep),
            M::Cmpsw => Instruction::with_cmpsw(asz, seg, rep),
            M::Cmpsd => Instruction::with_cmpsd(asz, seg, rep),
            M::Lodsb => Instruction::with_lodsb(asz, seg, rep),
            M::Lodsw => Instruction::with_lodsw(asz, seg, rep),
            M::Lodsd => Instruction::with_lodsd(asz, seg, rep),
            M::Stosb => Instruction::with_stosb(asz, rep),
            M::Stosw => Instruction::with_stosw(asz, rep),
            M::Stosd => Instruction::with_stosd(asz, rep),
            M::Scasb => Instruction::with_scasb(asz, rep),
            M::Scasw => Instruction::with_scasw(asz, rep),
            _ => Instruction::with_scasd(asz, rep),
        }
        .unwrap();
        b.emit(insn);
        self.finish(b, format!("{m:?}").to_lowercase());
    }
}

// ---- control transfers -----------------------------------------------------------------------

impl Gen {
    /// `mov esi, imm32`: marks the path not taken.
    fn marker(&mut self, b: &mut Builder) {
        let v = self.rng.u32();
        b.emit(make(
            Code::Mov_r32_imm32,
            &[Op::Reg(Register::ESI), Op::Imm(v)],
        ));
    }

    /// `branch` over a marker to the end.
    fn over_marker(&mut self, b: &mut Builder, code: Code) {
        let probe = Instruction::with_branch(code, (b.ip + 16) as u64).unwrap();
        let len = b.len_of(&probe);
        b.emit(Instruction::with_branch(code, (b.ip + len + 5) as u64).unwrap());
        self.marker(b);
    }

    fn control(&mut self) {
        use Code as C;
        // Conditional jumps: every condition under all 32 combinations of CF PF ZF SF OF,
        // short and near, and with a 16-bit operand size (eip truncated to 16 bits).
        let flag_bits = [CF, PF, ZF, SF, OF];
        let jcc: Vec<Code> = codes_32()
            .filter(|c| {
                c.condition_code() != ConditionCode::None
                    && format!("{:?}", c.mnemonic()).starts_with('J')
            })
            .collect();
        for code in jcc {
            let op16 = matches!(code.op_code().op_kinds()[0], K::br16_1 | K::br16_2);
            let combos = if op16 { 8 } else { 32 };
            for combo in 0..combos {
                let mut b = self.builder();
                let mut flags = if op16 { self.rng.u32() } else { 0 };
                if !op16 {
                    for (i, f) in flag_bits.iter().enumerate() {
                        if combo & (1 << i) != 0 {
                            flags |= f;
                        }
                    }
                }
                b.eflags = (b.eflags & !STATUS) | (flags & STATUS) | (self.rng.u32() & AF);
                self.over_marker(&mut b, code);
                self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
            }
        }
        // loop/loope/loopne/jecxz/jcxz, counting in ecx or (0x67) cx.
        let loops: Vec<Code> = codes_32()
            .filter(|c| {
                matches!(
                    c.mnemonic(),
                    Mnemonic::Loop
                        | Mnemonic::Loope
                        | Mnemonic::Loopne
                        | Mnemonic::Jecxz
                        | Mnemonic::Jcxz
                )
            })
            .collect();
        for code in loops {
            for k in 0..48 {
                let mut b = self.builder();
                let ecx = match k % 8 {
                    0 => 0,
                    1 => 1,
                    2 => 2,
                    3 => 0x10000,
                    4 => 0x10001,
                    5 => u32::MAX,
                    _ => self.rng.reg_value(),
                };
                b.fix(Register::ECX, ecx);
                if k % 2 == 0 {
                    b.eflags ^= ZF;
                }
                self.over_marker(&mut b, code);
                self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
            }
        }
        // Backward loops that iterate: `L: dec edx ; loop/loope/loopne L`.
        for code in [
            C::Loop_rel8_32_ECX,
            C::Loope_rel8_32_ECX,
            C::Loopne_rel8_32_ECX,
            C::Loop_rel8_32_CX,
        ] {
            for k in 0..24 {
                let mut b = self.builder();
                b.fix(
                    Register::ECX,
                    1 + k % 6
                        + (self.rng.u32() & 0xffff_0000) * (code == C::Loop_rel8_32_CX) as u32,
                );
                let edx = self.rng.below(8);
                b.fix(Register::EDX, edx);
                let top = b.ip;
                b.emit(make(C::Dec_r32, &[Op::Reg(Register::EDX)]));
                b.emit(Instruction::with_branch(code, top as u64).unwrap());
                self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
            }
        }
        // Direct jumps and calls over a marker.
        for code in [
            C::Jmp_rel8_32,
            C::Jmp_rel32_32,
            C::Jmp_rel8_16,
            C::Jmp_rel16,
            C::Call_rel32_32,
            C::Call_rel16,
        ] {
            for _ in 0..8 {
                let mut b = self.stack_builder();
                self.over_marker(&mut b, code);
                self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
            }
        }
        // A call to the next instruction, which pops the return address.
        for k in 0..8 {
            let mut b = self.stack_builder();
            let next = b.ip + 5;
            b.emit(Instruction::with_branch(C::Call_rel32_32, next as u64).unwrap());
            let r = self.rng.pick(&R32);
            if r != Register::ESP || k % 2 == 0 {
                b.emit(make(C::Pop_r32, &[Op::Reg(r)]));
            }
            self.finish(b, "call");
        }
        // Indirect jumps and calls through a register or memory, to the end (or, with a
        // 16-bit operand size, to the target truncated to 16 bits).
        for code in [C::Jmp_rm32, C::Call_rm32, C::Jmp_rm16, C::Call_rm16] {
            for k in 0..32 {
                let mut b = self.stack_builder();
                let (insn, locs) = self.fill(
                    &mut b,
                    code,
                    Fill {
                        mem: k % 2 == 1,
                        ..Fill::default()
                    },
                );
                let len = b.len_of(&insn);
                let target = if k % 8 == 7 {
                    self.rng.u32() & 0xffff
                } else {
                    b.ip + len + 5
                };
                match locs[0] {
                    Loc::Reg(r) if !b.is_fixed(r) => b.set_reg(r, target),
                    Loc::Mem(Some(a), s) => b.write_mem(a, s, target as u64),
                    _ => {}
                }
                b.emit(insn);
                self.marker(&mut b);
                self.finish(b, format!("{:?}", code.mnemonic()).to_lowercase());
            }
        }
        // Returns, with and without an immediate, to the end.
        for code in [C::Retnd, C::Retnd_imm16, C::Retnw, C::Retnw_imm16] {
            for k in 0..24 {
                let mut b = self.stack_builder();
                let any = self.rng.u32() & 0xffff;
                let imm = self.rng.pick(&[0, 2, 4, 8, 0x100, 0xfffc, 0xffff, any]);
                let insn = if code.op_code().op_count() == 1 {
                    make(code, &[Op::Imm(imm)])
                } else {
                    Instruction::with(code)
                };
                let len = b.len_of(&insn);
                let esp = b.reg(Register::ESP);
                let target = if k % 8 == 7 {
                    UNMAPPED + self.rng.below(0x3000_0000)
                } else {
                    b.ip + len + 5
                };
                let size = if matches!(code, C::Retnw | C::Retnw_imm16) {
                    2
                } else {
                    4
                };
                b.write_mem(esp, size, target as u64);
                b.emit(insn);
                self.marker(&mut b);
                self.finish(b, "ret");
            }
        }
    }

    // ---- everything else ----

    fn misc(&mut self) {
        // xlat: al = [ebx + al], through ds or fs, with 32- or 16-bit addressing.
        for k in 0..96u32 {
            let mut b = self.builder();
            let al = self.rng.u32() & 0xff;
            b.set_reg(Register::AL, al);
            let offset = self.rng.below(DATA_SIZE - 256);
            let mut bytes = Vec::new();
            match k % 3 {
                0 => b.set_reg(Register::EBX, REGION + offset),
                1 => {
                    bytes.push(0x64);
                    b.set_reg(Register::EBX, offset);
                }
                _ => {
                    bytes.extend([0x64, 0x67]);
                    // bx + al wraps at 64 KiB (when the target is below al); ebx's upper
                    // half is ignored.
                    let target = self.rng.below(512);
                    let bx = target.wrapping_sub(al) & 0xffff;
                    b.set_reg(Register::EBX, bx | (self.rng.u32() << 16));
                }
            }
            bytes.push(0xd7);
            b.raw(&bytes);
            self.finish(b, "xlatb");
        }
    }
}

// ---- prefixes, hints and instructions that must fault -------------------------------------

/// Instructions with a memory destination that take a `lock` prefix.
fn lockable(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Add | Adc
            | And
            | Btc
            | Btr
            | Bts
            | Cmpxchg
            | Cmpxchg8b
            | Dec
            | Inc
            | Neg
            | Not
            | Or
            | Sbb
            | Sub
            | Xadd
            | Xchg
            | Xor
    )
}

impl Gen {
    fn prefixes(&mut self) {
        // `rep bsf` (what gcc emits for ctz): the host runs it as tzcnt, vmkit (a Pentium II
        // without BMI1) as bsf, as such a CPU does; with a non-zero source the results agree,
        // the flags differ by design.
        for code in [Code::Tzcnt_r16_rm16, Code::Tzcnt_r32_rm32] {
            for k in 0..64 {
                let opts = Fill {
                    mem: k % 2 == 1,
                    ..Fill::default()
                };
                self.one(code, opts, |g, b, _, locs| {
                    let (bits, v) = match locs[1] {
                        Loc::Reg(r) => (bits_of(r), b.reg(r)),
                        l @ Loc::Mem(_, s) => (s * 8, g.loc_value(b, l)),
                        Loc::Imm(_) => (32, 1),
                    };
                    if v & mask(bits) == 0 {
                        let v = 1 << g.rng.below(bits);
                        match locs[1] {
                            Loc::Reg(r) => b.set_reg(r, v),
                            Loc::Mem(Some(a), s) => b.write_mem(a, s, v as u64),
                            _ => {}
                        }
                    }
                    b.ignored_flags = STATUS;
                });
            }
        }
        // lock on every lockable memory form.
        let codes: Vec<Code> = codes_32()
            .filter(|&c| is_generic(c) && lockable(c.mnemonic()))
            .filter(|c| {
                matches!(
                    c.op_code().op_kinds().first(),
                    Some(K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::mem)
                )
            })
            .collect();
        for code in codes {
            for k in 0..8 {
                let mut b = self.builder();
                let (mut insn, locs) = self.fill(
                    &mut b,
                    code,
                    Fill {
                        mem: true,
                        ..Fill::default()
                    },
                );
                self.tweak(&mut b, &insn, &locs, k);
                self.annotate(&mut b, &insn, &locs);
                insn.set_has_lock_prefix(true);
                b.emit(insn);
                self.finish(b, "lock");
            }
        }
        // Prefixes that change nothing: `repz ret`, branch hints, segment overrides and
        // rep on instructions without memory operands.
        for k in 0..32 {
            let mut b = self.stack_builder();
            let esp = b.reg(Register::ESP);
            let target = b.ip + 2 + 5;
            b.write_mem(esp, 4, target as u64);
            b.raw(&[0xf3, 0xc3]);
            self.marker(&mut b);
            self.finish(b, "ret");
            let mut b = self.builder();
            let cc = self.rng.below(16) as u8;
            b.raw(&[if k % 2 == 0 { 0x2e } else { 0x3e }, 0x70 | cc, 5]);
            self.marker(&mut b);
            self.finish(b, "jcc (hinted)");
            let mut b = self.builder();
            let prefix = self.rng.pick(&[0x26u8, 0x2e, 0x36, 0x3e, 0x64, 0xf3]);
            b.raw(&[prefix, 0x01, 0xc8 | (k as u8 & 7)]); // add r32, ecx
            self.finish(b, "add");
        }
        // Hints with no architectural effect: pause, fences, endbr32, prefetches of any
        // address (they never fault).
        for k in 0..16 {
            for bytes in [
                &[0xf3, 0x90][..],
                &[0x0f, 0xae, 0xe8],
                &[0x0f, 0xae, 0xf0],
                &[0x0f, 0xae, 0xf8],
                &[0xf3, 0x0f, 0x1e, 0xfb],
            ] {
                let mut b = self.builder();
                b.raw(bytes);
                self.finish(b, "hint");
            }
            for code in [
                Code::Prefetchnta_m8,
                Code::Prefetcht0_m8,
                Code::Prefetcht1_m8,
                Code::Prefetcht2_m8,
                Code::Prefetchw_m8,
            ] {
                let mut b = self.builder();
                let (insn, _) = self.fill(&mut b, code, Fill::default());
                if k % 2 == 1 {
                    // Unmapped: still no fault.
                    b.set_reg(Register::EAX, UNMAPPED + self.rng.below(0x1000_0000));
                }
                b.emit(insn);
                self.finish(b, "prefetch");
            }
        }
    }

    /// Instructions that fault in user mode: I/O and interrupt-flag instructions (#GP, as
    /// IOPL is 0), `int n` through a kernel-only gate (#GP), `ud2` and `lock` on a register
    /// destination (#UD).
    fn faults(&mut self) {
        let cases: [&[u8]; 17] = [
            &[0xfa],             // cli
            &[0xfb],             // sti
            &[0xec],             // in al, dx
            &[0xed],             // in eax, dx
            &[0xee],             // out dx, al
            &[0xe4, 0x80],       // in al, 0x80
            &[0xe6, 0x80],       // out 0x80, al
            &[0x6c],             // insb
            &[0x6d],             // insd
            &[0x6e],             // outsb
            &[0x66, 0x6f],       // outsw
            &[0xf3, 0x6c],       // rep insb
            &[0xcd, 0x81],       // int 0x81
            &[0xcd, 0x10],       // int 0x10
            &[0x0f, 0x0b],       // ud2
            &[0xf0, 0x01, 0xc8], // lock add eax, ecx
            &[0xf0, 0x90],       // lock nop
        ];
        for bytes in cases {
            for _ in 0..4 {
                let mut b = self.builder();
                b.fix(Register::ESI, REGION + self.rng.below(DATA_SIZE));
                b.fix(Register::EDI, REGION + self.rng.below(DATA_SIZE));
                b.raw(bytes);
                self.finish(b, "faulting");
            }
        }
    }
}
