//! The block translator: one decoded guest block becomes host code.
//!
//! The translator is a whitelist. An instruction it knows is re-encoded for the host from
//! its decoded form, with the guest registers replaced by their host registers (see
//! `ctx`) and a memory operand replaced by `[r15 + r9]` after the guest address has been
//! computed into `r9d` and checked. Anything else ends the translation: it runs in the
//! interpreter, never as copied bytes.
//!
//! Every translation starts with a budget check, and every memory access is checked
//! against guest memory's fast-access table; all checks branch with `jrcxz`, so the
//! guest's flags stay in the host's RFLAGS from block to block. A check that fails leaves
//! translated code *before* the instruction it guards ("bail"): nothing of the instruction
//! has happened, and the interpreter runs it, faults included, exactly.

use super::area::CodeArea;
use super::ctx::{reason, HOST32, LOOKUP, SEG_FS, SEG_GS, SPILL};
use super::emit::{Asm, Reject};
use iced_x86::{
    Code, ConditionCode, FlowControl, Instruction, InstructionInfoFactory, MemoryOperand, Mnemonic,
    OpAccess, OpKind, Register,
};

/// Addresses of the shared routines translations jump to.
#[derive(Clone, Copy)]
pub(super) struct Routines {
    /// The exit routine.
    pub exit: usize,
    /// `mov ecx, LOOKUP; jmp exit`: an indirect jump missed the lookup table.
    pub lookup_miss: usize,
}

/// A chain slot a translation jumps through, and the guest address it leads to.
pub(super) struct Edge {
    /// Host address of the slot.
    pub slot: usize,
    /// Host address of the slot's "not linked yet" stub (its first value).
    pub stub: usize,
    /// Guest address the slot leads to.
    pub target: u32,
}

/// A translated block.
pub(super) struct Translation {
    /// Guest bytes it was made from: `[start, end)`.
    pub start: u32,
    pub end: u32,
    /// Host address of its first instruction.
    pub entry: usize,
    /// Its chain slots.
    pub edges: Vec<Edge>,
    /// Guest instructions it runs.
    pub insns: usize,
    /// Bytes of host code.
    pub len: usize,
}

/// The fast-access table byte for loads and for stores (see `Memory::fast_access_table`).
const READ: i64 = 0;
const WRITE: i64 = 1;

/// A memory check's out-of-line part.
#[derive(Clone, Copy)]
struct Check {
    /// The hot path's `jmp rel32` field to the out-of-line part.
    pos: usize,
    /// Where the hot path goes on.
    back: usize,
    /// The instruction's index in the block and its address.
    i: usize,
    eip: u32,
    /// `READ` or `WRITE`, and the access's size in bytes.
    kind: i64,
    size: u32,
}

/// Accesses of one block through the same base register, with constant displacements, and
/// no write to the base between them: one check at the first covers them all (the range
/// `[base + lo, base + hi)`, at most `MAX_GROUP` bytes, so at most two pages).
#[derive(Clone, Copy, Debug)]
struct Group {
    /// Index of the first access: the check sits there and bails there.
    first: usize,
    base: Register,
    lo: i64,
    hi: i64,
    /// `WRITE` if any access of the group stores, else `READ`.
    kind: i64,
}

/// The widest range one check covers.
const MAX_GROUP: i64 = 2048;

/// The explicit memory access of `insn` on the generic path, if it is one a group may take:
/// a 32-bit base, no index, the default segment. (base, displacement, size, kind).
fn plain_access(
    info: &mut InstructionInfoFactory,
    insn: &Instruction,
) -> Option<(Register, i64, i64, i64)> {
    if !generic(insn.mnemonic()) || insn.mnemonic() == Mnemonic::Lea {
        return None;
    }
    let op = (0..insn.op_count()).find(|&op| insn.op_kind(op) == OpKind::Memory)?;
    let base = insn.memory_base();
    if !base.is_gpr32()
        || insn.memory_index() != Register::None
        || matches!(insn.memory_segment(), Register::FS | Register::GS)
        || (bit_test(insn.mnemonic()) && insn.op1_kind() == OpKind::Register)
    {
        return None;
    }
    let kind = access_kind(info.info(insn).op_access(op)).ok().flatten()?;
    let size = insn.memory_size().size() as i64;
    (size > 0).then_some((base, insn.memory_displacement32() as i32 as i64, size, kind))
}

/// The fast-access table byte an operand access is checked against (`None`: no access,
/// as for a hint `nop`); forms the translator does not know are refused.
fn access_kind(access: OpAccess) -> Result<Option<i64>, Reject> {
    match access {
        OpAccess::Read | OpAccess::CondRead => Ok(Some(READ)),
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite => {
            Ok(Some(WRITE))
        }
        OpAccess::NoMemAccess => Ok(None),
        _ => Err(Reject),
    }
}

/// The check group of each instruction of `insns`.
fn groups(info: &mut InstructionInfoFactory, insns: &[Instruction]) -> Vec<Option<Group>> {
    let mut out: Vec<Option<Group>> = vec![None; insns.len()];
    // The open group of each base register, as an index into `open`.
    let mut open: Vec<Group> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut current: [Option<usize>; 8] = [None; 8];
    for (i, insn) in insns.iter().enumerate() {
        if let Some((base, disp, size, kind)) = plain_access(info, insn) {
            let r = base.number();
            let fits = current[r].is_some_and(|g| {
                let g = &open[g];
                g.lo.min(disp) + MAX_GROUP >= g.hi.max(disp + size)
            });
            if fits {
                let g = current[r].unwrap_or_default();
                let grp = &mut open[g];
                grp.lo = grp.lo.min(disp);
                grp.hi = grp.hi.max(disp + size);
                grp.kind = grp.kind.max(kind);
                members[g].push(i);
            } else {
                current[r] = Some(open.len());
                open.push(Group {
                    first: i,
                    base,
                    lo: disp,
                    hi: disp + size,
                    kind,
                });
                members.push(vec![i]);
            }
        }
        // A write to a base register, or anything off the generic path (push, pop, call:
        // they move esp), ends the groups it may affect.
        if !generic(insn.mnemonic()) {
            current = [None; 8];
            continue;
        }
        for used in info.info(insn).used_registers() {
            let written = !matches!(
                used.access(),
                OpAccess::Read | OpAccess::CondRead | OpAccess::NoMemAccess
            );
            let full = used.register().full_register32();
            if written && full.is_gpr32() {
                current[full.number()] = None;
            }
        }
    }
    for (g, list) in members.iter().enumerate() {
        for &i in list {
            out[i] = Some(open[g]);
        }
    }
    out
}

/// The translator's reusable state.
pub(super) struct Translator {
    asm: Asm,
    info: InstructionInfoFactory,
    /// Checks whose fast test failed: they go to an exact test out of line, and bail if
    /// that fails too.
    bails: Vec<Check>,
    /// Chain slots: (slot address, guest target).
    slots: Vec<(usize, u32)>,
    /// The rel8 fields of the `jrcxz` of checks whose trampoline is not placed yet (they
    /// belong to the last `pending.len()` entries of `bails`).
    pending: Vec<usize>,
    /// An island could not be placed: the translation is abandoned.
    broken: bool,
    /// The check group of each instruction of the block being translated.
    groups: Vec<Option<Group>>,
    /// The shared routines (set by [`Translator::routines`]).
    routines: Routines,
}

impl Translator {
    pub(super) fn new() -> Translator {
        Translator {
            asm: Asm::new(0),
            info: InstructionInfoFactory::new(),
            bails: Vec::new(),
            slots: Vec::new(),
            pending: Vec::new(),
            broken: false,
            groups: Vec::new(),
            routines: Routines {
                exit: 0,
                lookup_miss: 0,
            },
        }
    }

    /// Emits the shared routines into `area` (which must be writable and empty).
    pub(super) fn routines(&mut self, area: &mut CodeArea) -> Result<(usize, Routines), Reject> {
        self.asm.reset(area.code_cursor());
        let entry = self.asm.here();
        super::ctx::emit_entry(&mut self.asm)?;
        let exit = self.asm.here();
        super::ctx::emit_exit(&mut self.asm)?;
        let lookup_miss = self.asm.here();
        self.asm.i(Instruction::with2(
            Code::Mov_r32_imm32,
            Register::ECX,
            reason::LOOKUP,
        ))?;
        self.asm.jmp(exit);
        area.append(&self.asm.buf).ok_or(Reject)?;
        area.reserve_written();
        self.routines = Routines { exit, lookup_miss };
        Ok((entry, self.routines))
    }

    /// Translates the decoded block `insns` (starting at guest `start`) into `area`, which
    /// must be writable with room for one block. `None` if its first instruction is not
    /// translated.
    pub(super) fn translate(
        &mut self,
        area: &mut CodeArea,
        start: u32,
        insns: &[Instruction],
    ) -> Option<Translation> {
        self.asm.reset(area.code_cursor());
        self.bails.clear();
        self.slots.clear();
        self.pending.clear();
        self.broken = false;
        self.groups = groups(&mut self.info, insns);
        // The budget exit sits before the entry, where the check's backward `jrcxz`
        // reaches it (not taken on the hot path).
        let budget_exit = self.asm.here();
        self.exit_with(start, reason::BUDGET).ok()?;
        let entry = self.asm.here();
        // lea r10, [r11 - N] (N patched below); ecx = high half of r10, plus 1: zero if
        // r10 went negative.
        self.asm.bytes(&[0x4d, 0x8d, 0x93, 0, 0, 0, 0]);
        let n_at = self.asm.buf.len() - 4;
        self.glue_budget_check(budget_exit).ok()?;
        let mut n = 0;
        let mut next = start;
        let mut terminated = false;
        for (i, insn) in insns.iter().enumerate() {
            if self.emit_checked(area, i, insn).is_err() {
                break;
            }
            n += 1;
            next = insn.next_ip32();
            if insn.flow_control() != FlowControl::Next {
                terminated = true;
                break;
            }
        }
        if n == 0 {
            return None;
        }
        if !terminated {
            // Falls through to `next` (a cut before an untranslated instruction, or the
            // block's size limit).
            let slot = self.slot(area, next);
            self.asm.jmp_slot(slot);
        }
        // Control never falls past the end: the last island needs no jump over it.
        self.island(false).ok()?;
        if self.broken {
            return None;
        }
        let neg = (-(n as i64) as i32).to_le_bytes();
        self.asm.buf[n_at..n_at + 4].copy_from_slice(&neg);
        // Out-of-line stubs.
        for k in 0..self.bails.len() {
            let Check { i, eip, .. } = self.bails[k];
            self.exact_check(self.bails[k]).ok()?;
            // The instructions from `i` on did not run.
            self.asm
                .i(Instruction::with2(
                    Code::Lea_r64_m,
                    Register::R11,
                    MemoryOperand::with_base_displ(Register::R11, (n - i) as i64),
                ))
                .ok()?;
            self.exit_with(eip, reason::INTERP).ok()?;
        }
        let mut edges = Vec::with_capacity(self.slots.len());
        for k in 0..self.slots.len() {
            let (slot, target) = self.slots[k];
            let stub = self.asm.here();
            self.asm
                .i(Instruction::with2(
                    Code::Mov_r64_imm64,
                    Register::R9,
                    slot as u64,
                ))
                .ok()?;
            self.exit_with(target, reason::LINK).ok()?;
            super::area::set_slot(slot, stub as u64);
            edges.push(Edge { slot, stub, target });
        }
        area.append(&self.asm.buf)?;
        Some(Translation {
            start,
            end: next,
            entry,
            edges,
            insns: n,
            len: self.asm.buf.len() - (entry - self.asm.origin()),
        })
    }

    fn glue_budget_check(&mut self, budget_exit: usize) -> Result<(), Reject> {
        use Register::*;
        self.asm.i(Instruction::with3(
            Code::VEX_Rorx_r64_rm64_imm8,
            RCX,
            R10,
            32,
        ))?;
        self.asm.i(Instruction::with2(
            Code::Lea_r32_m,
            ECX,
            MemoryOperand::with_base_displ(RCX, 1),
        ))?;
        self.asm.jrcxz_to(budget_exit)?;
        self.asm
            .i(Instruction::with2(Code::Mov_r64_rm64, R11, R10))?;
        Ok(())
    }

    /// Emits instruction `i`; if an island placed after it could not reach every pending
    /// check, emits the island first and the instruction again after it. Nothing is left
    /// of an instruction that is not translated.
    fn emit_checked(
        &mut self,
        area: &mut CodeArea,
        i: usize,
        insn: &Instruction,
    ) -> Result<(), Reject> {
        for attempt in 0..2 {
            let mark = (
                self.asm.buf.len(),
                self.bails.len(),
                self.slots.len(),
                self.pending.len(),
            );
            let done = if insn.flow_control() == FlowControl::Next {
                self.body(area, i, insn)
            } else {
                self.terminator(area, i, insn)
            };
            if done.is_ok() && self.island_fits() {
                return Ok(());
            }
            self.asm.buf.truncate(mark.0);
            self.bails.truncate(mark.1);
            self.slots.truncate(mark.2);
            self.pending.truncate(mark.3);
            if done.is_err() || attempt == 1 {
                return Err(Reject);
            }
            if self.island(true).is_err() {
                // Checks were left without a trampoline: nothing of this block may run.
                self.broken = true;
                return Err(Reject);
            }
        }
        Err(Reject)
    }

    /// Whether an island placed here reaches every pending check's `jrcxz`, with room for
    /// what may come before it: a 2-byte jump over it, or the 6-byte jump of a block that
    /// ends in a fall-through.
    fn island_fits(&self) -> bool {
        let base = self.asm.buf.len() + 6;
        self.pending
            .iter()
            .enumerate()
            .all(|(k, &pos)| base + 5 * k - (pos + 1) <= 127)
    }

    /// Emits the trampolines of the pending checks (`jmp rel32` to their out-of-line part,
    /// patched later), jumped over if control can fall into them.
    fn island(&mut self, jump_over: bool) -> Result<(), Reject> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let len = 5 * self.pending.len();
        if jump_over {
            if len <= 127 {
                self.asm.bytes(&[0xeb, len as u8]);
            } else {
                let here = self.asm.here();
                self.asm.jmp(here + 5 + len);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let first = self.bails.len() - pending.len();
        for (k, pos) in pending.into_iter().enumerate() {
            let disp = self.asm.buf.len() - (pos + 1);
            self.asm.buf[pos] = u8::try_from(disp)
                .ok()
                .filter(|&d| d <= 127)
                .ok_or(Reject)?;
            self.bails[first + k].pos = self.asm.jmp_later();
        }
        Ok(())
    }

    /// `mov r10d, eip; mov ecx, why; jmp exit`.
    fn exit_with(&mut self, eip: u32, why: u32) -> Result<(), Reject> {
        self.asm
            .i(Instruction::with2(Code::Mov_r32_imm32, Register::R10D, eip))?;
        self.asm
            .i(Instruction::with2(Code::Mov_r32_imm32, Register::ECX, why))?;
        self.asm.jmp(self.routines.exit);
        Ok(())
    }

    /// A new chain slot to guest `target` (linked to its stub when the block is done).
    fn slot(&mut self, area: &mut CodeArea, target: u32) -> usize {
        let slot = area.new_slot(0);
        self.slots.push((slot, target));
        slot
    }

    /// Checks a `size`-byte access at `r9d` against the fast-access table's `kind` byte for
    /// its page (leaves the page number in `r10`); an access not certainly allowed goes to
    /// the exact test out of line, which bails before instruction `i` if the access is
    /// refused or crosses into a page that refuses it.
    fn check(&mut self, i: usize, insn: &Instruction, kind: i64, size: u32) -> Result<(), Reject> {
        use Register::*;
        if size == 0 || size > 2048 {
            return Err(Reject);
        }
        self.asm.i(Instruction::with3(
            Code::VEX_Rorx_r64_rm64_imm8,
            R10,
            R9,
            12,
        ))?;
        self.asm
            .i(Instruction::with2(Code::Mov_r32_rm32, R10D, R10D))?;
        self.asm.i(Instruction::with2(
            Code::Movzx_r32_rm8,
            ECX,
            MemoryOperand::new(R14, R10, 4, kind, displ_size(kind), false, None),
        ))?;
        // Zero: not certainly allowed, to the island's trampoline (patched by `island`).
        self.asm.bytes(&[0xe3, 0]);
        self.pending.push(self.asm.buf.len() - 1);
        let back = self.asm.here();
        self.bails.push(Check {
            pos: 0,
            back,
            i,
            eip: insn.ip32(),
            kind,
            size,
        });
        Ok(())
    }

    /// The out-of-line part of `c`: if page `r10` alone allows the access and the access
    /// stays in it, back to the hot path; otherwise falls into the bail that follows.
    fn exact_check(&mut self, c: Check) -> Result<(), Reject> {
        use Register::*;
        let here = self.asm.here();
        self.asm.patch(c.pos, here);
        self.asm.i(Instruction::with2(
            Code::Movzx_r32_rm8,
            ECX,
            MemoryOperand::new(R14, R10, 4, c.kind + 2, 1, false, None),
        ))?;
        // Not allowed: to the bail (patched below).
        self.asm.bytes(&[0xe3, 0x00]);
        let to_bail = self.asm.buf.len() - 1;
        // ecx = page | offset << 20; adding (size - 1) << 20 carries into bit 32 if the
        // access crosses the page's end.
        self.asm.i(Instruction::with3(
            Code::VEX_Rorx_r32_rm32_imm8,
            ECX,
            R9D,
            12,
        ))?;
        self.asm.i(Instruction::with2(
            Code::Lea_r64_m,
            RCX,
            MemoryOperand::with_base_displ(RCX, i64::from(c.size - 1) << 20),
        ))?;
        self.asm.i(Instruction::with3(
            Code::VEX_Rorx_r64_rm64_imm8,
            RCX,
            RCX,
            32,
        ))?;
        self.asm
            .i(Instruction::with2(Code::Mov_r32_rm32, ECX, ECX))?;
        self.asm.bytes(&[0xe3, 0x02, 0xeb, 0x05]);
        self.asm.jmp(c.back);
        // The bail follows: patch the first skip to land here.
        let bail = self.asm.buf.len();
        self.asm.buf[to_bail] = (bail - to_bail - 1) as u8;
        Ok(())
    }

    /// Computes the guest address of `insn`'s memory operand into `r9d`.
    fn address(&mut self, insn: &Instruction) -> Result<(), Reject> {
        let base = map_base(insn.memory_base())?;
        let index = map_base(insn.memory_index())?;
        let disp = insn.memory_displacement32() as i32 as i64;
        if base == Register::None && index == Register::None {
            self.asm.i(Instruction::with2(
                Code::Mov_r32_imm32,
                Register::R9D,
                disp as u32,
            ))?;
        } else {
            self.asm.i(Instruction::with2(
                Code::Lea_r32_m,
                Register::R9D,
                MemoryOperand::new(
                    base,
                    index,
                    insn.memory_index_scale(),
                    disp,
                    displ_size(disp),
                    false,
                    Register::None,
                ),
            ))?;
        }
        let seg = match insn.memory_segment() {
            Register::FS => Some(SEG_FS),
            Register::GS => Some(SEG_GS),
            _ => None,
        };
        if let Some(off) = seg {
            self.asm.i(Instruction::with2(
                Code::Mov_r32_rm32,
                Register::R10D,
                MemoryOperand::with_base_displ(Register::R13, off),
            ))?;
            self.asm.i(Instruction::with2(
                Code::Lea_r32_m,
                Register::R9D,
                MemoryOperand::with_base_index(Register::R9D, Register::R10D),
            ))?;
        }
        Ok(())
    }

    /// Loads the 32-bit guest word at `r9d` into `dst`, checked (bails before instruction
    /// `i` if the load is not certainly allowed).
    fn load(&mut self, i: usize, insn: &Instruction, dst: Register) -> Result<(), Reject> {
        self.check(i, insn, READ, 4)?;
        self.asm.i(Instruction::with2(
            Code::Mov_r32_rm32,
            dst,
            Self::host_mem(),
        ))
    }

    /// `[r15 + r9]`: the checked guest address in host memory.
    fn host_mem() -> MemoryOperand {
        MemoryOperand::with_base_index(Register::R15, Register::R9)
    }

    /// `lea r9d, [r12d + disp]`: guest esp moved by `disp`, wrapping at 4 GiB.
    fn esp_plus(&mut self, dst: Register, disp: i64) -> Result<(), Reject> {
        self.asm.i(Instruction::with2(
            Code::Lea_r32_m,
            dst,
            MemoryOperand::new(
                Register::R12D,
                Register::None,
                1,
                disp,
                displ_size(disp),
                false,
                Register::None,
            ),
        ))?;
        Ok(())
    }

    /// Pushes the 32-bit value `store` writes to `[r15 + r9]`: checks, stores, moves esp.
    fn push_with(
        &mut self,
        i: usize,
        insn: &Instruction,
        store: Instruction,
    ) -> Result<(), Reject> {
        self.esp_plus(Register::R9D, -4)?;
        self.check(i, insn, WRITE, 4)?;
        self.asm.i(store)?;
        self.asm.i(Instruction::with2(
            Code::Mov_r32_rm32,
            Register::R12D,
            Register::R9D,
        ))?;
        Ok(())
    }

    /// An instruction that does not end the block.
    fn body(&mut self, _area: &mut CodeArea, i: usize, insn: &Instruction) -> Result<(), Reject> {
        match insn.mnemonic() {
            // Translated code runs only with DF clear (see `JitEngine::run`).
            Mnemonic::Nop | Mnemonic::Cld => Ok(()),
            Mnemonic::Push => self.push(i, insn),
            Mnemonic::Pop => self.pop(i, insn),
            Mnemonic::Leave if insn.code() == Code::Leaved => {
                use Register::*;
                self.asm
                    .i(Instruction::with2(Code::Mov_r32_rm32, R9D, EBP))?;
                self.load(i, insn, EBP)?;
                self.asm.i(Instruction::with2(
                    Code::Lea_r32_m,
                    R12D,
                    MemoryOperand::with_base_displ(R9D, 4),
                ))?;
                Ok(())
            }
            m if generic(m) => self.generic(i, insn),
            _ => Err(Reject),
        }
    }

    fn push(&mut self, i: usize, insn: &Instruction) -> Result<(), Reject> {
        let mem = Self::host_mem();
        match (insn.code(), insn.op0_kind()) {
            (Code::Push_r32 | Code::Push_rm32, OpKind::Register) => {
                let src = map_reg(insn.op0_register()).ok_or(Reject)?;
                self.push_with(i, insn, Instruction::with2(Code::Mov_rm32_r32, mem, src)?)
            }
            (Code::Pushd_imm8 | Code::Pushd_imm32, _) => {
                // Sign-extended for the imm8 form.
                let v = insn.immediate(0) as u32;
                self.push_with(i, insn, Instruction::with2(Code::Mov_rm32_imm32, mem, v)?)
            }
            (Code::Push_rm32, OpKind::Memory) => {
                use Register::*;
                // The destination first (its address is spilled), then the source.
                self.esp_plus(R9D, -4)?;
                self.check(i, insn, WRITE, 4)?;
                let spill = MemoryOperand::with_base_displ(R13, SPILL);
                self.asm
                    .i(Instruction::with2(Code::Mov_rm64_r64, spill, R9))?;
                self.address(insn)?;
                self.load(i, insn, ECX)?;
                self.asm
                    .i(Instruction::with2(Code::Mov_r64_rm64, R9, spill))?;
                self.asm
                    .i(Instruction::with2(Code::Mov_rm32_r32, mem, ECX))?;
                self.asm
                    .i(Instruction::with2(Code::Mov_r32_rm32, R12D, R9D))?;
                Ok(())
            }
            _ => Err(Reject),
        }
    }

    fn pop(&mut self, i: usize, insn: &Instruction) -> Result<(), Reject> {
        use Register::*;
        match (insn.code(), insn.op0_kind()) {
            (Code::Pop_r32 | Code::Pop_rm32, OpKind::Register) if insn.op0_register() != ESP => {
                let dst = map_reg(insn.op0_register()).ok_or(Reject)?;
                self.asm
                    .i(Instruction::with2(Code::Mov_r32_rm32, R9D, R12D))?;
                self.load(i, insn, dst)?;
                self.esp_plus(R12D, 4)
            }
            _ => Err(Reject),
        }
    }

    /// A whitelisted instruction re-encoded with host registers and a checked memory
    /// operand.
    fn generic(&mut self, i: usize, insn: &Instruction) -> Result<(), Reject> {
        let m = insn.mnemonic();
        let mut h = *insn;
        if let Some(code) = host_form(insn.code()) {
            h.set_code(code);
        }
        let mut count_in_cl = false;
        let mut mem_op = None;
        // Guest `ch` has no host register of its own (guest ecx is in r8): an instruction
        // that names it runs with a copy of guest ecx in rcx, written back if it changed.
        let ecx_in_rcx = (0..insn.op_count())
            .any(|op| insn.op_kind(op) == OpKind::Register && insn.op_register(op) == Register::CH);
        for op in 0..insn.op_count() {
            match insn.op_kind(op) {
                OpKind::Register => {
                    let r = insn.op_register(op);
                    if ecx_in_rcx && r.full_register32() == Register::ECX {
                        // Stays the guest register's own name, now in rcx.
                    } else if r == Register::CL && op > 0 && shift_like(m) {
                        count_in_cl = true;
                    } else {
                        h.set_op_register(op, map_reg(r).ok_or(Reject)?);
                    }
                }
                OpKind::Memory => mem_op = Some(op),
                OpKind::Immediate8
                | OpKind::Immediate8_2nd
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate8to16
                | OpKind::Immediate8to32 => {}
                _ => return Err(Reject),
            }
        }
        if let Some(op) = mem_op {
            if m == Mnemonic::Lea {
                h.set_memory_base(map_base(insn.memory_base())?);
                h.set_memory_index(map_base(insn.memory_index())?);
                h.set_segment_prefix(Register::None);
            } else {
                // A register bit offset reaches beyond the operand.
                if bit_test(m) && insn.op1_kind() == OpKind::Register {
                    return Err(Reject);
                }
                let access = self.info.info(insn).op_access(op);
                let kind = access_kind(access)?;
                match (kind, self.groups.get(i).copied().flatten()) {
                    (Some(_), Some(g)) => {
                        if g.first == i {
                            // One check for the group's whole range.
                            let base = map_base(g.base)?;
                            self.asm.i(Instruction::with2(
                                Code::Lea_r32_m,
                                Register::R9D,
                                MemoryOperand::new(
                                    base,
                                    Register::None,
                                    1,
                                    g.lo,
                                    displ_size(g.lo),
                                    false,
                                    Register::None,
                                ),
                            ))?;
                            self.check(i, insn, g.kind, (g.hi - g.lo) as u32)?;
                        }
                        self.address(insn)?;
                    }
                    (Some(kind), None) => {
                        self.address(insn)?;
                        self.check(i, insn, kind, insn.memory_size().size() as u32)?;
                    }
                    (None, _) => self.address(insn)?,
                }
                h.set_memory_base(Register::R15);
                h.set_memory_index(Register::R9);
                h.set_memory_index_scale(1);
                h.set_memory_displacement64(0);
                h.set_memory_displ_size(0);
                h.set_segment_prefix(Register::None);
            }
        }
        if count_in_cl || ecx_in_rcx {
            self.asm.i(Instruction::with2(
                Code::Mov_r32_rm32,
                Register::ECX,
                Register::R8D,
            ))?;
        }
        self.asm.i(h)?;
        if ecx_in_rcx {
            let writes_ecx = self.info.info(insn).used_registers().iter().any(|u| {
                u.register().full_register32() == Register::ECX
                    && !matches!(u.access(), OpAccess::Read | OpAccess::CondRead)
            });
            if writes_ecx {
                self.asm.i(Instruction::with2(
                    Code::Mov_r32_rm32,
                    Register::R8D,
                    Register::ECX,
                ))?;
            }
        }
        Ok(())
    }

    /// The control transfer that ends a block.
    fn terminator(
        &mut self,
        area: &mut CodeArea,
        i: usize,
        insn: &Instruction,
    ) -> Result<(), Reject> {
        use Register::*;
        let mem = Self::host_mem();
        match insn.code() {
            Code::Jmp_rel8_32 | Code::Jmp_rel32_32 => {
                let slot = self.slot(area, insn.near_branch32());
                self.asm.jmp_slot(slot);
                Ok(())
            }
            Code::Call_rel32_32 => {
                let ret = insn.next_ip32();
                self.push_with(i, insn, Instruction::with2(Code::Mov_rm32_imm32, mem, ret)?)?;
                let slot = self.slot(area, insn.near_branch32());
                self.asm.jmp_slot(slot);
                Ok(())
            }
            Code::Retnd | Code::Retnd_imm16 => {
                let extra = if insn.code() == Code::Retnd_imm16 {
                    i64::from(insn.immediate16())
                } else {
                    0
                };
                self.asm
                    .i(Instruction::with2(Code::Mov_r32_rm32, R9D, R12D))?;
                self.load(i, insn, R10D)?;
                self.esp_plus(R12D, 4 + extra)?;
                self.lookup()
            }
            Code::Jmp_rm32 => {
                if insn.op0_kind() == OpKind::Register {
                    let r = map_reg(insn.op0_register()).ok_or(Reject)?;
                    self.asm
                        .i(Instruction::with2(Code::Mov_r32_rm32, R10D, r))?;
                } else {
                    self.address(insn)?;
                    self.load(i, insn, R10D)?;
                }
                self.lookup()
            }
            Code::Call_rm32 => {
                let ret = insn.next_ip32();
                let spill = MemoryOperand::with_base_displ(R13, SPILL);
                if insn.op0_kind() == OpKind::Register {
                    if insn.op0_register() == ESP {
                        return Err(Reject);
                    }
                    let r = map_reg(insn.op0_register()).ok_or(Reject)?;
                    self.asm
                        .i(Instruction::with2(Code::Mov_rm32_r32, spill, r))?;
                } else {
                    self.address(insn)?;
                    self.load(i, insn, ECX)?;
                    self.asm
                        .i(Instruction::with2(Code::Mov_rm32_r32, spill, ECX))?;
                }
                self.push_with(i, insn, Instruction::with2(Code::Mov_rm32_imm32, mem, ret)?)?;
                self.asm
                    .i(Instruction::with2(Code::Mov_r32_rm32, R10D, spill))?;
                self.lookup()
            }
            _ if insn.flow_control() == FlowControl::ConditionalBranch
                && insn.is_jcc_short_or_near()
                && insn.condition_code() != ConditionCode::None
                && insn.op0_kind() == OpKind::NearBranch32 =>
            {
                let cc = insn.condition_code() as u8 - 1;
                let taken = self.asm.jcc_later(cc);
                let fall = self.slot(area, insn.next_ip32());
                self.asm.jmp_slot(fall);
                let here = self.asm.here();
                self.asm.patch(taken, here);
                let slot = self.slot(area, insn.near_branch32());
                self.asm.jmp_slot(slot);
                Ok(())
            }
            _ => Err(Reject),
        }
    }

    /// Jumps to the translation of guest `r10d` through the lookup table, flag-free; a miss
    /// exits to the runtime.
    fn lookup(&mut self) -> Result<(), Reject> {
        use Register::*;
        self.asm
            .i(Instruction::with2(Code::Movzx_r32_rm16, R9D, R10W))?;
        self.asm.i(Instruction::with2(
            Code::Lea_r64_m,
            R9,
            MemoryOperand::with_base_index(R9, R9),
        ))?;
        self.asm.i(Instruction::with2(
            Code::Mov_r32_rm32,
            ECX,
            MemoryOperand::new(R13, R9, 8, LOOKUP, 8, false, None),
        ))?;
        self.asm.i(Instruction::with2(
            Code::Lea_r32_m,
            ECX,
            MemoryOperand::with_base_index(ECX, R10D),
        ))?;
        self.asm.jrcxz_skip5();
        self.asm.jmp(self.routines.lookup_miss);
        self.asm.i(Instruction::with1(
            Code::Jmp_rm64,
            MemoryOperand::new(R13, R9, 8, LOOKUP + 8, 8, false, None),
        ))?;
        Ok(())
    }
}

/// The displacement size iced-x86 should encode for `disp`.
fn displ_size(disp: i64) -> u32 {
    if disp == 0 {
        0
    } else if i8::try_from(disp).is_ok() {
        1
    } else {
        4
    }
}

/// The host register holding guest register `r` (8, 16 or 32 bits); `None` for guest `ch`
/// (guest ecx lives in r8, which has no high byte) and for anything not a guest GPR.
fn map_reg(r: Register) -> Option<Register> {
    use Register::*;
    Some(match r {
        EAX | EDX | EBX | EBP | ESI | EDI => r,
        ECX => R8D,
        ESP => R12D,
        AX | DX | BX | BP | SI | DI => r,
        CX => R8W,
        SP => R12W,
        AL | DL | BL | AH | DH | BH => r,
        CL => R8L,
        _ => return Option::None,
    })
}

/// The host register for a guest base or index register (32-bit only: 16-bit addressing
/// is not translated).
fn map_base(r: Register) -> Result<Register, Reject> {
    if r == Register::None {
        return Ok(r);
    }
    if !r.is_gpr32() {
        return Err(Reject);
    }
    Ok(HOST32[r.number()])
}

/// The form of `code` that also exists in 64-bit mode, where it differs.
fn host_form(code: Code) -> Option<Code> {
    Some(match code {
        Code::Inc_r16 => Code::Inc_rm16,
        Code::Inc_r32 => Code::Inc_rm32,
        Code::Dec_r16 => Code::Dec_rm16,
        Code::Dec_r32 => Code::Dec_rm32,
        Code::Mov_AL_moffs8 => Code::Mov_r8_rm8,
        Code::Mov_AX_moffs16 => Code::Mov_r16_rm16,
        Code::Mov_EAX_moffs32 => Code::Mov_r32_rm32,
        Code::Mov_moffs8_AL => Code::Mov_rm8_r8,
        Code::Mov_moffs16_AX => Code::Mov_rm16_r16,
        Code::Mov_moffs32_EAX => Code::Mov_rm32_r32,
        _ => return None,
    })
}

/// Shifts and rotates, whose count operand `cl` must stay `cl`.
fn shift_like(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Shl | Sal | Shr | Sar | Rol | Ror | Rcl | Rcr | Shld | Shrd
    )
}

fn bit_test(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(m, Bt | Bts | Btr | Btc)
}

/// The instructions re-encoded as they are: the host executes them with the guest's
/// semantics, flags included (the same instruction set, in 32-bit operand sizes).
fn generic(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Add | Or
            | Adc
            | Sbb
            | And
            | Sub
            | Xor
            | Cmp
            | Test
            | Mov
            | Movzx
            | Movsx
            | Lea
            | Inc
            | Dec
            | Neg
            | Not
            | Shl
            | Sal
            | Shr
            | Sar
            | Rol
            | Ror
            | Rcl
            | Rcr
            | Shld
            | Shrd
            | Imul
            | Mul
            | Bt
            | Bts
            | Btr
            | Btc
            | Bsf
            | Bsr
            | Bswap
            | Xchg
            | Xadd
            | Cmpxchg
            | Cdq
            | Cwde
            | Cbw
            | Cwd
            | Lahf
            | Sahf
            | Clc
            | Stc
            | Cmc
            | Cmovo
            | Cmovno
            | Cmovb
            | Cmovae
            | Cmove
            | Cmovne
            | Cmovbe
            | Cmova
            | Cmovs
            | Cmovns
            | Cmovp
            | Cmovnp
            | Cmovl
            | Cmovge
            | Cmovle
            | Cmovg
            | Seto
            | Setno
            | Setb
            | Setae
            | Sete
            | Setne
            | Setbe
            | Seta
            | Sets
            | Setns
            | Setp
            | Setnp
            | Setl
            | Setge
            | Setle
            | Setg
    )
}
