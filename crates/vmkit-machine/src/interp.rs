//! What a record does, written once ([`step`]), and the `match` dispatch backend
//! ([`run_blocks`]): a loop around [`step`], whose `match` on the record kind is the
//! dispatch.
//!
//! The dispatch backends (this one and `threaded.rs`) differ only in how they get from one
//! record to the next. Both inline [`step`]: this loop once, with the kind read from the
//! record; the call-threaded handlers once per kind, with the kind a constant so that each
//! keeps only its own arm. Hot state (the record index, the budget) travels as arguments
//! and locals; errors leave on cold paths as [`EngineStop`] values.

use crate::block::{BlockCache, Kind, UNLINKED};
use crate::cpu::{Cpu, FlagOp, SP};
use crate::env::Env;
use crate::exec::{exec, push_sp, write_reg, Flow};
use crate::fault::FaultKind;
use crate::Exit;
use vmkit_isa::{flag, Cond, Size};
use vmkit_mem::Memory;

/// Why a dispatch backend returned: vmkit-vm's engine stop, with the native machine's
/// fault ([`FaultKind`], `cpu.ip` the faulting instruction) and, as the event, the [`Exit`]
/// that halt, exit or a breakpoint produce (`cpu.ip` past the instruction). Produced by
/// [`step`] (and so by both backends' `run_blocks`); consumed by `Machine::run_for`, which
/// ends the run, drops the code written over after `CodeWritten`, or finishes the budget
/// one instruction at a time after `BudgetSpent` (`cpu.ip` is then the start of the block
/// that did not fit).
pub(crate) type EngineStop = vmkit_vm::stop::EngineStop<FaultKind, Exit>;

/// The step budget while blocks run.
pub(crate) struct Budget {
    /// Steps left; the current block's instructions are already taken from it.
    pub(crate) left: u64,
    /// Guest instructions in the current block.
    pub(crate) block_len: u64,
}

impl Budget {
    /// Takes a block of `len` instructions from the budget; `false` if fewer are left.
    #[inline(always)]
    fn enter_block(&mut self, len: u64) -> bool {
        if self.left < len {
            return false;
        }
        self.left -= len;
        self.block_len = len;
        true
    }
}

/// Runs blocks starting at `cpu.ip`, dispatching with a `match` on the record kind.
/// `budget` is decremented by the guest instructions executed.
#[inline]
pub(crate) fn run_blocks(
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    cache: &mut BlockCache,
    budget: &mut u64,
) -> EngineStop {
    let mut pc = cache.block_at(mem, env.const_base, cpu.ip) as usize;
    let mut acct = Budget {
        left: *budget,
        block_len: 0,
    };
    loop {
        // One inlined copy of `step`: its `match` on the kind is the dispatch.
        match step(cache.records[pc].kind, cpu, mem, env, cache, &mut acct, pc) {
            Ok(next) => pc = next,
            Err(why) => {
                *budget = acct.left;
                return why;
            }
        }
    }
}

/// Runs record `pc`, of kind `kind`: returns the index of the next record, or why the run
/// stops (with `cpu.ip` and `budget` already set for the caller).
///
/// `kind` must be `cache.records[pc].kind`; a caller that knows it as a constant passes the
/// constant, so that inlining keeps only its arm.
// The large `Err` never exists in memory: `step` is always inlined, and stops are cold.
#[allow(clippy::result_large_err)]
#[inline(always)]
pub(crate) fn step(
    kind: Kind,
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    cache: &mut BlockCache,
    budget: &mut Budget,
    pc: usize,
) -> Result<usize, EngineStop> {
    // A reference, not a copy: each kind loads only the fields it uses.
    let r = &cache.records[pc];
    debug_assert_eq!(r.kind, kind);

    // Leaves from inside a block: gives back the budget for the instructions of the block
    // that did not run. `$done` is how many of this record's instructions completed.
    macro_rules! leave {
        ($done:expr, $ip:expr, $why:expr) => {{
            budget.left += budget.block_len - (r.seq as u64 + $done);
            cpu.ip = $ip;
            return Err($why);
        }};
    }
    macro_rules! fault {
        ($e:expr) => {
            leave!(0, r.ip, EngineStop::Fault(FaultKind::from($e)))
        };
    }
    // Follows this record's link, resolving and patching it on first use.
    macro_rules! follow {
        ($target:expr) => {{
            let target = $target;
            let l = r.link;
            if l != UNLINKED {
                l as usize
            } else {
                let t = cache.block_at(mem, env.const_base, target);
                cache.records[pc].link = t;
                t as usize
            }
        }};
    }
    macro_rules! reg {
        ($n:expr) => {
            cpu.regs[$n as usize & 31]
        };
    }
    macro_rules! addr {
        () => {
            reg!(r.b)
                .wrapping_add(reg!(r.x) << (r.c & 3))
                .wrapping_add(r.disp as i64 as u64)
        };
    }
    // Every store may have hit decoded code: leave so the cache can check.
    macro_rules! after_store {
        () => {
            if mem.code_written() {
                leave!(1, r.ip + r.len as u64, EngineStop::CodeWritten);
            }
        };
    }

    let next = pc + 1;
    Ok(match kind {
        Kind::Enter => {
            if !budget.enter_block(r.imm) {
                cpu.ip = r.ip;
                return Err(EngineStop::BudgetSpent);
            }
            next
        }
        Kind::Goto | Kind::Jmp => follow!(r.imm),
        Kind::Fault => fault!(cache.faults[r.link as usize].clone()),
        Kind::Generic => {
            let after = r.ip + r.len as u64;
            match exec(cpu, mem, env, &cache.instrs[r.link as usize], after) {
                Ok(Flow::Next) => {
                    after_store!();
                    next
                }
                Ok(Flow::Jump(t)) => {
                    if mem.code_written() {
                        leave!(1, t, EngineStop::CodeWritten);
                    }
                    cache.block_at(mem, env.const_base, t) as usize
                }
                Ok(Flow::Stop(e)) => leave!(1, after, EngineStop::Event(e)),
                Err(e) => fault!(e),
            }
        }
        Kind::Jcc => {
            // r.c was written from a Cond when the record was built.
            let c = Cond::from_code(r.c).unwrap_or(Cond::O);
            if cpu.cond(c) {
                follow!(r.imm)
            } else {
                let l = r.disp as u32;
                if l != UNLINKED {
                    l as usize
                } else {
                    let t = cache.block_at(mem, env.const_base, r.ip + r.len as u64);
                    cache.records[pc].disp = t as i32;
                    t as usize
                }
            }
        }
        Kind::CmpRRJcc | Kind::CmpRIJcc => {
            // `cmp` + `jcc` in one record: flags are recorded as `cmp` would, and the branch
            // decides on the operands directly. Not taken: the next record is the `Goto` to
            // the fall-through block.
            let a = reg!(r.a);
            let b = if kind == Kind::CmpRRJcc {
                reg!(r.b)
            } else {
                r.disp as i64 as u64
            };
            let res = a.wrapping_sub(b);
            cpu.set_lazy(FlagOp::Sub, Size::Q, a, b, res);
            let cond = Cond::from_code(r.c).unwrap_or(Cond::O);
            if compare_holds(cpu, cond, a, b) {
                follow!(r.imm)
            } else {
                pc + 1
            }
        }
        Kind::Call | Kind::CallR => {
            let target = if kind == Kind::Call { r.imm } else { reg!(r.a) };
            let sp = match push_sp(cpu, env, 8) {
                Ok(sp) => sp,
                Err(e) => fault!(e),
            };
            if let Err(e) = mem.write(sp, 8, r.ip + r.len as u64) {
                fault!(e);
            }
            cpu.regs[SP] = sp;
            if mem.code_written() {
                leave!(1, target, EngineStop::CodeWritten);
            }
            if kind == Kind::Call {
                follow!(target)
            } else {
                cache.block_at(mem, env.const_base, target) as usize
            }
        }
        Kind::Ret => {
            let target = match mem.read(cpu.regs[SP], 8) {
                Ok(t) => t,
                Err(e) => fault!(e),
            };
            cpu.regs[SP] = cpu.regs[SP].wrapping_add(8);
            cache.block_at(mem, env.const_base, target) as usize
        }
        Kind::JmpR => cache.block_at(mem, env.const_base, reg!(r.a)) as usize,
        Kind::MovRR => {
            reg!(r.a) = reg!(r.b);
            next
        }
        Kind::MovRI => {
            reg!(r.a) = r.imm;
            next
        }
        Kind::AddRR | Kind::AddRI => {
            let a = reg!(r.a);
            let b = if kind == Kind::AddRR {
                reg!(r.b)
            } else {
                r.imm
            };
            let res = a.wrapping_add(b);
            reg!(r.a) = res;
            cpu.set_lazy(FlagOp::Add, Size::Q, a, b, res);
            next
        }
        Kind::SubRR | Kind::SubRI | Kind::CmpRR | Kind::CmpRI => {
            let a = reg!(r.a);
            let b = if matches!(kind, Kind::SubRR | Kind::CmpRR) {
                reg!(r.b)
            } else {
                r.imm
            };
            let res = a.wrapping_sub(b);
            if matches!(kind, Kind::SubRR | Kind::SubRI) {
                reg!(r.a) = res;
            }
            cpu.set_lazy(FlagOp::Sub, Size::Q, a, b, res);
            next
        }
        Kind::AndRR
        | Kind::AndRI
        | Kind::OrRR
        | Kind::OrRI
        | Kind::XorRR
        | Kind::XorRI
        | Kind::TestRR
        | Kind::TestRI => {
            let a = reg!(r.a);
            let b = if matches!(kind, Kind::AndRR | Kind::OrRR | Kind::XorRR | Kind::TestRR) {
                reg!(r.b)
            } else {
                r.imm
            };
            let res = logic(kind, a, b);
            if !matches!(kind, Kind::TestRR | Kind::TestRI) {
                reg!(r.a) = res;
            }
            cpu.set_lazy(FlagOp::Logic, Size::Q, a, b, res);
            next
        }
        Kind::ShlRI | Kind::ShrRI | Kind::SarRI => {
            let (res, flags) = shift_by_immediate(kind, reg!(r.a), r.imm as u32);
            reg!(r.a) = res;
            cpu.set_flags(flags);
            next
        }
        Kind::ImulRR => {
            let (res, over) = (reg!(r.a) as i64).overflowing_mul(reg!(r.b) as i64);
            reg!(r.a) = res as u64;
            let carry = if over { flag::CF | flag::OF } else { 0 };
            cpu.set_flags(carry | zero_sign_flags(res as u64));
            next
        }
        Kind::IncR | Kind::DecR => {
            let a = reg!(r.a);
            let c = cpu.carry();
            let (res, op) = if kind == Kind::IncR {
                (a.wrapping_add(1), FlagOp::Inc)
            } else {
                (a.wrapping_sub(1), FlagOp::Dec)
            };
            reg!(r.a) = res;
            cpu.set_lazy(op, Size::Q, a, c, res);
            next
        }
        Kind::Lea => {
            reg!(r.a) = addr!();
            next
        }
        Kind::Load | Kind::LoadZx | Kind::LoadSx => {
            let v = match mem.read(addr!(), r.size.bytes()) {
                Ok(v) => v,
                Err(e) => fault!(e),
            };
            match kind {
                Kind::Load => write_reg(cpu, r.a as usize & 31, r.size, v),
                Kind::LoadZx => reg!(r.a) = v,
                _ => reg!(r.a) = r.size.sign_extend(v),
            }
            next
        }
        Kind::Store | Kind::StoreI => {
            let v = if kind == Kind::Store {
                reg!(r.a)
            } else {
                r.imm
            };
            if let Err(e) = mem.write(addr!(), r.size.bytes(), v) {
                fault!(e);
            }
            after_store!();
            next
        }
        Kind::AddRM | Kind::CmpRM => {
            let b = match mem.read(addr!(), 8) {
                Ok(v) => v,
                Err(e) => fault!(e),
            };
            let a = reg!(r.a);
            if kind == Kind::AddRM {
                let res = a.wrapping_add(b);
                reg!(r.a) = res;
                cpu.set_lazy(FlagOp::Add, Size::Q, a, b, res);
            } else {
                cpu.set_lazy(FlagOp::Sub, Size::Q, a, b, a.wrapping_sub(b));
            }
            next
        }
        Kind::PushR => {
            let sp = match push_sp(cpu, env, 8) {
                Ok(sp) => sp,
                Err(e) => fault!(e),
            };
            if let Err(e) = mem.write(sp, 8, reg!(r.a)) {
                fault!(e);
            }
            cpu.regs[SP] = sp;
            after_store!();
            next
        }
        Kind::PopR => {
            let v = match mem.read(cpu.regs[SP], 8) {
                Ok(v) => v,
                Err(e) => fault!(e),
            };
            cpu.regs[SP] = cpu.regs[SP].wrapping_add(8);
            reg!(r.a) = v;
            next
        }
    })
}

/// Whether `cond` holds after `cmp a, b`, decided on the operands (the flags `cmp` records
/// are only read for the conditions that have no direct comparison).
#[inline(always)]
fn compare_holds(cpu: &Cpu, cond: Cond, a: u64, b: u64) -> bool {
    match cond {
        Cond::Z => a == b,
        Cond::Nz => a != b,
        Cond::B => a < b,
        Cond::Ae => a >= b,
        Cond::Be => a <= b,
        Cond::A => a > b,
        Cond::L => (a as i64) < (b as i64),
        Cond::Ge => (a as i64) >= (b as i64),
        Cond::Le => (a as i64) <= (b as i64),
        Cond::G => (a as i64) > (b as i64),
        c => cpu.cond(c),
    }
}

/// The result of the bitwise record `kind` (`and`, `or`, `xor`, `test`) on `a` and `b`.
#[inline(always)]
fn logic(kind: Kind, a: u64, b: u64) -> u64 {
    match kind {
        Kind::AndRR | Kind::AndRI | Kind::TestRR | Kind::TestRI => a & b,
        Kind::OrRR | Kind::OrRI => a | b,
        _ => a ^ b,
    }
}

/// `shl`, `shr` or `sar` of `a` by `n` (1 to 63, checked when the record was built): the
/// result and the flags (CF the last bit shifted out, ZF, SF).
#[inline(always)]
fn shift_by_immediate(kind: Kind, a: u64, n: u32) -> (u64, u64) {
    let (res, cf) = match kind {
        Kind::ShlRI => (a << n, (a >> (64 - n)) & 1),
        Kind::ShrRI => (a >> n, (a >> (n - 1)) & 1),
        _ => (((a as i64) >> n) as u64, ((a as i64 >> (n - 1)) & 1) as u64),
    };
    let carry = if cf != 0 { flag::CF } else { 0 };
    (res, carry | zero_sign_flags(res))
}

/// ZF and SF for the 64-bit result `res`.
#[inline(always)]
fn zero_sign_flags(res: u64) -> u64 {
    let mut f = 0;
    if res == 0 {
        f |= flag::ZF;
    }
    if (res as i64) < 0 {
        f |= flag::SF;
    }
    f
}
