//! The decoded-code cache: guest code translated into fixed-width [`Record`]s, grouped in
//! blocks that end at a control transfer, and chained to each other.
//!
//! A block starts with an `Enter` record carrying its instruction count, so the step budget
//! is checked once per block instead of once per instruction. Direct branches hold the
//! record index of their target block once it has been looked up (chaining); indirect
//! branches and returns go through a small direct-mapped jump cache. Hot instruction forms
//! get specialised records; every other instruction becomes a `Generic` record that runs the
//! reference semantics in `exec.rs`.
//!
//! The records of all blocks live in one arena (`BlockCache::records`), so that the
//! dispatch loop follows plain indices. Which blocks exist, and which guest bytes each was
//! decoded from, is kept by vmkit-vm's [`CodeCache`] (shared with the x86 guest): a [`Block`]
//! there names its guest bytes and its records in the arena.
//!
//! Self-modifying code: translation marks the pages it read as code pages in [`Memory`]; a
//! store into such a page makes the interpreter leave the block, and the run loop calls
//! [`BlockCache::invalidate`] with the written range. Only the blocks whose bytes overlap it
//! are dropped (a page left without blocks loses its mark); the arena is then compacted,
//! every chain link is cleared and the jump cache emptied, so that no record index names a
//! dropped or moved block. The surviving blocks relink on their next run.

use crate::cpu::ZERO_REG;
use crate::fault::FaultKind;
use std::cell::Cell;
use std::ops::Range;
use vmkit_isa::{decode, Addr, DecodeError, Instr, Mem, Op, Operand, Size, MAX_INSTR_LEN};
use vmkit_mem::{Memory, PAGE_SIZE};
use vmkit_vm::code_cache::{CodeCache, CodeCacheStats, CodeSpan, CODE_PAGE_SIZE};

const _: () = assert!(CODE_PAGE_SIZE == PAGE_SIZE, "code pages are memory pages");

/// Longest block, in guest instructions.
const MAX_BLOCK: usize = 64;
/// Entries in the indirect-branch cache (a power of two).
const JC_SIZE: usize = 4096;
/// A link that has not been resolved yet.
pub(crate) const UNLINKED: u32 = u32::MAX;

/// What a record does. Names follow the operand forms: `R` register, `I` immediate, `M`
/// memory. Fast forms operate on 64-bit registers unless the name has a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Block header: `imm` = guest instructions in the block.
    Enter,
    /// Continue at `imm` (not a guest instruction): block split or after a generic exit.
    Goto,
    /// Raise `faults[link]` at `ip`.
    Fault,
    /// Run `instrs[link]` through the reference semantics.
    Generic,
    /// ip = imm.
    Jmp,
    /// if cond(c) goto imm (link) else fall through (disp as link).
    Jcc,
    /// `cmp a, b` + `jcc c`: if taken goto imm (link), else run the next record (a `Goto`).
    CmpRRJcc,
    /// `cmp a, disp` + `jcc c`: if taken goto imm (link), else run the next record.
    CmpRIJcc,
    /// push ip+len; ip = imm.
    Call,
    /// ip = pop.
    Ret,
    /// ip = reg a.
    JmpR,
    /// push ip+len; ip = reg a.
    CallR,
    /// a = b.
    MovRR,
    /// a = imm.
    MovRI,
    /// a += b.
    AddRR,
    /// a += imm.
    AddRI,
    /// a -= b.
    SubRR,
    /// a -= imm.
    SubRI,
    /// a &= b.
    AndRR,
    /// a &= imm.
    AndRI,
    /// a |= b.
    OrRR,
    /// a |= imm.
    OrRI,
    /// a ^= b.
    XorRR,
    /// a ^= imm.
    XorRI,
    /// flags of a - b.
    CmpRR,
    /// flags of a - imm.
    CmpRI,
    /// flags of a & b.
    TestRR,
    /// flags of a & imm.
    TestRI,
    /// a <<= imm (1..=63).
    ShlRI,
    /// a >>= imm (logical, 1..=63).
    ShrRI,
    /// a >>= imm (arithmetic, 1..=63).
    SarRI,
    /// a *= b (signed, flags on overflow).
    ImulRR,
    /// a += 1.
    IncR,
    /// a -= 1.
    DecR,
    /// a = effective address.
    Lea,
    /// a (low `c>>4` bytes) = mem.
    Load,
    /// a = zero-extended mem of size `size`.
    LoadZx,
    /// a = sign-extended mem of size `size`.
    LoadSx,
    /// mem = a (size `size`).
    Store,
    /// mem = imm (size `size`).
    StoreI,
    /// a += mem64.
    AddRM,
    /// flags of a - mem64.
    CmpRM,
    /// push reg a.
    PushR,
    /// pop into reg a.
    PopR,
}

/// One pre-decoded instruction (or block control record). 32 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Record {
    pub(crate) kind: Kind,
    /// Destination / value register.
    pub(crate) a: u8,
    /// Source register, or memory base (`ZERO_REG` for none).
    pub(crate) b: u8,
    /// Memory index register (`ZERO_REG` for none).
    pub(crate) x: u8,
    /// Memory scale (log2), or condition code.
    pub(crate) c: u8,
    /// Operand size for sized memory records.
    pub(crate) size: Size,
    /// Encoded length of the instruction.
    pub(crate) len: u8,
    /// Guest instructions before this one in its block.
    pub(crate) seq: u8,
    /// Memory displacement; for `Jcc`, the fall-through link.
    pub(crate) disp: i32,
    /// Successor record index, or index into a side table.
    pub(crate) link: u32,
    /// Immediate or branch target.
    pub(crate) imm: u64,
    /// Address of the instruction.
    pub(crate) ip: u64,
}

const _: () = assert!(std::mem::size_of::<Record>() == 32);

impl Record {
    fn new(kind: Kind, ip: u64) -> Record {
        Record {
            kind,
            a: ZERO_REG as u8,
            b: ZERO_REG as u8,
            x: ZERO_REG as u8,
            c: 0,
            size: Size::Q,
            len: 0,
            seq: 0,
            disp: 0,
            link: UNLINKED,
            imm: 0,
            ip,
        }
    }
}

/// A translated block, as [`CodeCache`] keeps it: the guest bytes it was decoded from and
/// where its records are in the arena.
pub(crate) struct Block {
    /// Address of the first instruction.
    start: u64,
    /// Address just past the last decoded instruction (`start` if none decoded).
    end: u64,
    /// Index of the block's `Enter` record in [`BlockCache::records`]; moves when the arena
    /// is compacted.
    enter: Cell<u32>,
    /// Records of the block, `Enter` included; they follow each other in the arena.
    len: u32,
}

impl CodeSpan for Block {
    fn code_span(&self) -> Range<u64> {
        self.start..self.end
    }
}

/// The native machine's decoded code: the record arena and its side tables, the blocks
/// over them (in vmkit-vm's [`CodeCache`]), and the jump cache.
pub(crate) struct BlockCache {
    /// Every live block's records, each block's contiguous from its `Enter`.
    pub(crate) records: Vec<Record>,
    /// The instructions of `Generic` records, by their `link`.
    pub(crate) instrs: Vec<Instr>,
    /// The faults of `Fault` records, by their `link`.
    pub(crate) faults: Vec<FaultKind>,
    /// The blocks by start address and by the pages their bytes touch.
    blocks: CodeCache<Block>,
    /// The direct-mapped jump cache: `(address, Enter record index)`, or
    /// `(u64::MAX, UNLINKED)` when empty.
    jc: Box<[(u64, u32)]>,
    /// When false, every instruction is lowered to `Generic` (the reference backend).
    pub(crate) specialize: bool,
}

impl BlockCache {
    pub(crate) fn new() -> BlockCache {
        BlockCache {
            records: Vec::new(),
            instrs: Vec::new(),
            faults: Vec::new(),
            blocks: CodeCache::default(),
            jc: vec![(u64::MAX, UNLINKED); JC_SIZE].into_boxed_slice(),
            specialize: true,
        }
    }

    /// Blocks translated, blocks dropped by writes, and whole-cache flushes so far.
    pub(crate) fn stats(&self) -> CodeCacheStats {
        self.blocks.stats()
    }

    /// Drops every decoded block.
    pub(crate) fn flush(&mut self, mem: &mut Memory) {
        self.records.clear();
        self.instrs.clear();
        self.faults.clear();
        self.blocks.flush();
        self.jc.fill((u64::MAX, UNLINKED));
        mem.clear_code_marks();
    }

    /// Drops the blocks whose bytes overlap `range` (the guest wrote there) and clears the
    /// code mark of the pages left without blocks. The other blocks survive, unlinked.
    pub(crate) fn invalidate(&mut self, mem: &mut Memory, range: Range<u64>) {
        let dropped = self.blocks.invalidate(range, |page| {
            mem.unmark_code(page, PAGE_SIZE);
        });
        if dropped > 0 {
            self.compact();
        }
    }

    /// Rebuilds the arena and its side tables from the live blocks only, with every chain
    /// link cleared, and empties the jump cache: afterwards no record index names a dropped
    /// block or a record that moved.
    #[cold]
    fn compact(&mut self) {
        let records = std::mem::take(&mut self.records);
        let instrs = std::mem::take(&mut self.instrs);
        let faults = std::mem::take(&mut self.faults);
        for block in self.blocks.blocks() {
            let from = block.enter.get() as usize;
            block.enter.set(self.records.len() as u32);
            for &r in &records[from..from + block.len as usize] {
                let mut r = r;
                match r.kind {
                    Kind::Generic => {
                        let instr = instrs[r.link as usize];
                        r.link = self.instrs.len() as u32;
                        self.instrs.push(instr);
                    }
                    Kind::Fault => {
                        let fault = faults[r.link as usize].clone();
                        r.link = self.faults.len() as u32;
                        self.faults.push(fault);
                    }
                    // The fall-through link; other kinds keep an operand in `disp`.
                    Kind::Jcc => {
                        r.link = UNLINKED;
                        r.disp = UNLINKED as i32;
                    }
                    _ => r.link = UNLINKED,
                }
                self.records.push(r);
            }
        }
        self.jc.fill((u64::MAX, UNLINKED));
    }

    /// Index of the `Enter` record of the block at `addr`, translating it if needed.
    #[inline]
    pub(crate) fn block_at(&mut self, mem: &mut Memory, const_base: u64, addr: u64) -> u32 {
        let slot = ((addr ^ (addr >> 12)) as usize) & (JC_SIZE - 1);
        let (tag, idx) = self.jc[slot];
        // Empty slots hold (u64::MAX, UNLINKED); u64::MAX is also a valid (wild) target.
        if tag == addr && idx != UNLINKED {
            return idx;
        }
        let idx = match self.blocks.find(addr) {
            Some(id) => self.blocks.get(id).enter.get(),
            None => self.translate(mem, const_base, addr),
        };
        self.jc[slot] = (addr, idx);
        idx
    }

    /// Fuses a `jcc` with the `cmp` record just before it in the same block, when that
    /// compares registers or a register with a 32-bit immediate: the pair becomes one
    /// compare-and-branch record followed by a `Goto` for the fall-through path. Returns
    /// whether it did (then the block is complete).
    fn fuse_compare(&mut self, enter: u32, jcc: Record) -> bool {
        let Some(prev) = self.records.last().copied() else {
            return false;
        };
        if self.records.len() as u32 <= enter + 1 {
            return false;
        }
        let kind = match prev.kind {
            Kind::CmpRR => Kind::CmpRRJcc,
            Kind::CmpRI if i32::try_from(prev.imm as i64).is_ok() => Kind::CmpRIJcc,
            _ => return false,
        };
        let mut fused = prev;
        fused.kind = kind;
        fused.disp = prev.imm as i64 as i32;
        fused.c = jcc.c;
        fused.imm = jcc.imm;
        fused.link = UNLINKED;
        fused.len = prev.len + jcc.len;
        let last = self.records.len() - 1;
        self.records[last] = fused;
        let fall = jcc.ip + jcc.len as u64;
        let mut goto = Record::new(Kind::Goto, fall);
        goto.imm = fall;
        self.records.push(goto);
        true
    }

    #[cold]
    fn translate(&mut self, mem: &mut Memory, const_base: u64, start: u64) -> u32 {
        let enter = self.records.len() as u32;
        self.records.push(Record::new(Kind::Enter, start));
        let mut ip = start;
        let mut end = start;
        let mut count = 0usize;
        loop {
            if count == MAX_BLOCK {
                let mut goto = Record::new(Kind::Goto, ip);
                goto.imm = ip;
                self.records.push(goto);
                break;
            }
            let decoded = match mem.fetch_window(ip, MAX_INSTR_LEN) {
                Err(f) => Err(FaultKind::from(f)),
                Ok(window) => match decode(window) {
                    Ok(ok) => Ok(ok),
                    Err(DecodeError::Truncated { .. }) if window.len() < MAX_INSTR_LEN => Err(
                        FaultKind::from(mem.fetch_fault(ip + window.len() as u64, 1)),
                    ),
                    Err(e) => Err(FaultKind::InvalidInstruction(e)),
                },
            };
            let (instr, len) = match decoded {
                Ok(ok) => ok,
                Err(fault) => {
                    let mut r = Record::new(Kind::Fault, ip);
                    r.seq = count as u8;
                    r.link = self.faults.len() as u32;
                    self.faults.push(fault);
                    self.records.push(r);
                    break;
                }
            };
            mem.mark_code(ip, len as u64);
            end = ip + len as u64;
            let mut rec = if self.specialize {
                lower(&instr, ip, const_base)
            } else {
                None
            }
            .unwrap_or_else(|| {
                let mut r = Record::new(Kind::Generic, ip);
                r.link = self.instrs.len() as u32;
                self.instrs.push(instr);
                r
            });
            rec.ip = ip;
            rec.len = len as u8;
            rec.seq = count as u8;
            let generic = rec.kind == Kind::Generic;
            if rec.kind == Kind::Jcc && self.fuse_compare(enter, rec) {
                count += 1;
                break;
            }
            self.records.push(rec);
            count += 1;
            ip += len as u64;
            if instr.op.ends_block() {
                if generic {
                    // sys, hcall, halt, brk and indirect branches through memory fall
                    // through (or jump) via the generic path; continue at the next one.
                    let mut goto = Record::new(Kind::Goto, ip);
                    goto.imm = ip;
                    self.records.push(goto);
                }
                break;
            }
        }
        self.records[enter as usize].imm = count as u64;
        self.blocks.insert(Block {
            start,
            end,
            enter: Cell::new(enter),
            len: self.records.len() as u32 - enter,
        });
        enter
    }
}

/// Fills the memory-operand fields of `r` if `m` has a fast form.
fn lower_mem(r: &mut Record, m: &Mem, const_base: u64) -> bool {
    if m.depth != 0 {
        return false;
    }
    let fits = |v: u64| i32::try_from(v).ok();
    match m.addr {
        Addr::Reg(base) => r.b = base.code(),
        Addr::Based { base, disp } => {
            r.b = base.code();
            r.disp = disp;
        }
        Addr::Indexed {
            base,
            index,
            scale_log2,
            disp,
        } => {
            r.b = base.map_or(ZERO_REG as u8, |b| b.code());
            r.x = index.code();
            r.c = scale_log2;
            r.disp = disp;
        }
        Addr::Abs(a) => match fits(a as u64) {
            Some(d) => r.disp = d,
            None => return false,
        },
        Addr::Const(off) => match fits(const_base.wrapping_add(off as u64)) {
            Some(d) => r.disp = d,
            None => return false,
        },
    }
    true
}

/// The specialised record for `instr`, if it has a fast form.
fn lower(instr: &Instr, ip: u64, const_base: u64) -> Option<Record> {
    use Operand::{Imm, Mem as M, Reg as R};
    let mut r = Record::new(Kind::Generic, ip);
    let ops = &instr.operands;
    let q = instr.size == Size::Q;
    let next = ip + instr.len() as u64;
    let kind = match (instr.op, ops[0], ops[1]) {
        (Op::Jmp, Operand::Rel(rel), _) => {
            r.imm = next.wrapping_add(rel as i64 as u64);
            Kind::Jmp
        }
        (Op::Call, Operand::Rel(rel), _) => {
            r.imm = next.wrapping_add(rel as i64 as u64);
            Kind::Call
        }
        (Op::Jcc, Operand::Cond(c), Operand::Rel(rel)) => {
            r.imm = next.wrapping_add(rel as i64 as u64);
            r.c = c as u8;
            r.disp = UNLINKED as i32;
            Kind::Jcc
        }
        (Op::Ret, _, _) => Kind::Ret,
        (Op::JmpInd, R(a), _) => {
            r.a = a.code();
            Kind::JmpR
        }
        (Op::CallInd, R(a), _) => {
            r.a = a.code();
            Kind::CallR
        }
        (Op::Push, R(a), _) if q => {
            r.a = a.code();
            Kind::PushR
        }
        (Op::Pop, R(a), _) if q => {
            r.a = a.code();
            Kind::PopR
        }
        (Op::Inc, R(a), _) if q => {
            r.a = a.code();
            Kind::IncR
        }
        (Op::Dec, R(a), _) if q => {
            r.a = a.code();
            Kind::DecR
        }
        (Op::Lea, R(a), M(m)) => {
            r.a = a.code();
            if !lower_mem(&mut r, &m, const_base) {
                return None;
            }
            Kind::Lea
        }
        (Op::Mov | Op::Movzx | Op::Movsx, R(a), M(m)) => {
            r.a = a.code();
            r.size = instr.size;
            if !lower_mem(&mut r, &m, const_base) {
                return None;
            }
            match instr.op {
                Op::Mov => Kind::Load,
                Op::Movzx => Kind::LoadZx,
                _ => Kind::LoadSx,
            }
        }
        (Op::Mov, M(m), R(v)) => {
            r.a = v.code();
            r.size = instr.size;
            if !lower_mem(&mut r, &m, const_base) {
                return None;
            }
            Kind::Store
        }
        (Op::Mov, M(m), Imm { value, .. }) => {
            r.imm = value as u64;
            r.size = instr.size;
            if !lower_mem(&mut r, &m, const_base) {
                return None;
            }
            Kind::StoreI
        }
        (Op::Add | Op::Cmp, R(a), M(m)) if q => {
            r.a = a.code();
            if !lower_mem(&mut r, &m, const_base) {
                return None;
            }
            if instr.op == Op::Add {
                Kind::AddRM
            } else {
                Kind::CmpRM
            }
        }
        (op, R(a), R(b)) if q => {
            r.a = a.code();
            r.b = b.code();
            match op {
                Op::Mov => Kind::MovRR,
                Op::Add => Kind::AddRR,
                Op::Sub => Kind::SubRR,
                Op::And => Kind::AndRR,
                Op::Or => Kind::OrRR,
                Op::Xor => Kind::XorRR,
                Op::Cmp => Kind::CmpRR,
                Op::Test => Kind::TestRR,
                Op::Imul => Kind::ImulRR,
                _ => return None,
            }
        }
        (op, R(a), Imm { value, .. }) if q => {
            r.a = a.code();
            r.imm = value as u64;
            match op {
                Op::Mov => Kind::MovRI,
                Op::Add => Kind::AddRI,
                Op::Sub => Kind::SubRI,
                Op::And => Kind::AndRI,
                Op::Or => Kind::OrRI,
                Op::Xor => Kind::XorRI,
                Op::Cmp => Kind::CmpRI,
                Op::Test => Kind::TestRI,
                Op::Shl | Op::Shr | Op::Sar => {
                    r.imm &= 63;
                    if r.imm == 0 {
                        return None;
                    }
                    match op {
                        Op::Shl => Kind::ShlRI,
                        Op::Shr => Kind::ShrRI,
                        _ => Kind::SarRI,
                    }
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    r.kind = kind;
    Some(r)
}
