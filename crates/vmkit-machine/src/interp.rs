//! The dispatch loop: runs pre-decoded records until the machine stops, the step budget
//! cannot cover the next block, or a store hits decoded code.
//!
//! Dispatch is a `match` on the record kind inside one loop (see `docs/performance.md` for
//! the measurements behind this choice). Hot state (the record index, the current block's
//! instruction count) lives in locals; errors leave the loop on cold paths.

use crate::block::{CodeCache, Kind, UNLINKED};
use crate::cpu::{Cpu, FlagOp, SP};
use crate::env::Env;
use crate::exec::{exec, push_sp, write_reg, Flow};
use crate::fault::FaultKind;
use crate::memory::Memory;
use crate::Exit;
use vmkit_isa::{Cond, Size};

/// Why the loop returned.
pub(crate) enum Inner {
    /// The machine stopped (halt, exit, breakpoint).
    Stop(Exit),
    /// A fault; `cpu.ip` is the faulting instruction.
    Fault(FaultKind),
    /// The next block has more instructions than the budget left; `cpu.ip` is its start.
    Budget,
    /// A store hit a code page; `cpu.ip` is the next instruction to run.
    CodeWritten,
}

/// Runs blocks starting at `cpu.ip`. `budget` is decremented by the guest instructions
/// executed.
pub(crate) fn run_blocks(
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    cache: &mut CodeCache,
    budget: &mut u64,
) -> Inner {
    let cb = env.const_base;
    let mut pc = cache.block_at(mem, cb, cpu.ip) as usize;
    // Guest instructions in the current block, already taken from the budget.
    let mut block_len: u64 = 0;

    // Leaves the loop from inside a block: gives back the budget for the instructions of the
    // block that did not run. `$done` is how many of this record's instructions completed.
    macro_rules! leave {
        ($r:expr, $done:expr, $ip:expr, $why:expr) => {{
            *budget += block_len - ($r.seq as u64 + $done);
            cpu.ip = $ip;
            return $why;
        }};
    }
    macro_rules! fault {
        ($r:expr, $e:expr) => {
            leave!($r, 0, $r.ip, Inner::Fault($e))
        };
    }
    // Follows a record's link, resolving and patching it on first use.
    macro_rules! follow {
        ($idx:expr, $target:expr) => {{
            let target = $target;
            let l = cache.recs[$idx].link;
            pc = if l != UNLINKED {
                l as usize
            } else {
                let t = cache.block_at(mem, cb, target);
                cache.recs[$idx].link = t;
                t as usize
            };
        }};
    }
    macro_rules! addr {
        ($r:expr) => {
            cpu.regs[$r.b as usize & 31]
                .wrapping_add(cpu.regs[$r.x as usize & 31] << ($r.c & 3))
                .wrapping_add($r.disp as i64 as u64)
        };
    }
    macro_rules! after_store {
        ($r:expr) => {
            if mem.code_written {
                leave!($r, 1, $r.ip + $r.len as u64, Inner::CodeWritten);
            }
        };
    }

    loop {
        // A reference, not a copy: each handler loads only the fields it uses.
        let r = &cache.recs[pc];
        match r.kind {
            Kind::Enter => {
                if *budget < r.imm {
                    cpu.ip = r.ip;
                    return Inner::Budget;
                }
                *budget -= r.imm;
                block_len = r.imm;
                pc += 1;
            }
            Kind::Goto => follow!(pc, r.imm),
            Kind::Fault => {
                let f = cache.faults[r.link as usize].clone();
                fault!(r, f)
            }
            Kind::Generic => {
                let instr = cache.instrs[r.link as usize];
                let next = r.ip + r.len as u64;
                match exec(cpu, mem, env, &instr, next) {
                    Ok(Flow::Next) => {
                        after_store!(r);
                        pc += 1;
                    }
                    Ok(Flow::Jump(t)) => {
                        if mem.code_written {
                            leave!(r, 1, t, Inner::CodeWritten);
                        }
                        pc = cache.block_at(mem, cb, t) as usize;
                    }
                    Ok(Flow::Stop(e)) => leave!(r, 1, next, Inner::Stop(e)),
                    Err(e) => fault!(r, e),
                }
            }
            Kind::Jmp => follow!(pc, r.imm),
            Kind::Jcc => {
                // r.c was written from a Cond when the record was built.
                let c = Cond::from_code(r.c).unwrap_or(Cond::O);
                if cpu.cond(c) {
                    follow!(pc, r.imm);
                } else {
                    let l = r.disp as u32;
                    pc = if l != UNLINKED {
                        l as usize
                    } else {
                        let t = cache.block_at(mem, cb, r.ip + r.len as u64);
                        cache.recs[pc].disp = t as i32;
                        t as usize
                    };
                }
            }
            Kind::Call | Kind::CallR => {
                let target = if r.kind == Kind::Call {
                    r.imm
                } else {
                    cpu.regs[r.a as usize & 31]
                };
                let sp = match push_sp(cpu, env, 8) {
                    Ok(sp) => sp,
                    Err(e) => fault!(r, e),
                };
                if let Err(e) = mem.write(sp, 8, r.ip + r.len as u64) {
                    fault!(r, e);
                }
                cpu.regs[SP] = sp;
                if mem.code_written {
                    leave!(r, 1, target, Inner::CodeWritten);
                }
                if r.kind == Kind::Call {
                    follow!(pc, target);
                } else {
                    pc = cache.block_at(mem, cb, target) as usize;
                }
            }
            Kind::Ret => {
                let target = match mem.read(cpu.regs[SP], 8) {
                    Ok(t) => t,
                    Err(e) => fault!(r, e),
                };
                cpu.regs[SP] = cpu.regs[SP].wrapping_add(8);
                pc = cache.block_at(mem, cb, target) as usize;
            }
            Kind::JmpR => pc = cache.block_at(mem, cb, cpu.regs[r.a as usize & 31]) as usize,
            Kind::MovRR => {
                cpu.regs[r.a as usize & 31] = cpu.regs[r.b as usize & 31];
                pc += 1;
            }
            Kind::MovRI => {
                cpu.regs[r.a as usize & 31] = r.imm;
                pc += 1;
            }
            Kind::AddRR | Kind::AddRI => {
                let a = cpu.regs[r.a as usize & 31];
                let b = if r.kind == Kind::AddRR {
                    cpu.regs[r.b as usize & 31]
                } else {
                    r.imm
                };
                let res = a.wrapping_add(b);
                cpu.regs[r.a as usize & 31] = res;
                cpu.set_lazy(FlagOp::Add, Size::Q, a, b, res);
                pc += 1;
            }
            Kind::SubRR | Kind::SubRI | Kind::CmpRR | Kind::CmpRI => {
                let a = cpu.regs[r.a as usize & 31];
                let b = if matches!(r.kind, Kind::SubRR | Kind::CmpRR) {
                    cpu.regs[r.b as usize & 31]
                } else {
                    r.imm
                };
                let res = a.wrapping_sub(b);
                if matches!(r.kind, Kind::SubRR | Kind::SubRI) {
                    cpu.regs[r.a as usize & 31] = res;
                }
                cpu.set_lazy(FlagOp::Sub, Size::Q, a, b, res);
                pc += 1;
            }
            Kind::AndRR
            | Kind::AndRI
            | Kind::OrRR
            | Kind::OrRI
            | Kind::XorRR
            | Kind::XorRI
            | Kind::TestRR
            | Kind::TestRI => {
                let a = cpu.regs[r.a as usize & 31];
                let b = if matches!(
                    r.kind,
                    Kind::AndRR | Kind::OrRR | Kind::XorRR | Kind::TestRR
                ) {
                    cpu.regs[r.b as usize & 31]
                } else {
                    r.imm
                };
                let res = match r.kind {
                    Kind::AndRR | Kind::AndRI | Kind::TestRR | Kind::TestRI => a & b,
                    Kind::OrRR | Kind::OrRI => a | b,
                    _ => a ^ b,
                };
                if !matches!(r.kind, Kind::TestRR | Kind::TestRI) {
                    cpu.regs[r.a as usize & 31] = res;
                }
                cpu.set_lazy(FlagOp::Logic, Size::Q, a, b, res);
                pc += 1;
            }
            Kind::ShlRI | Kind::ShrRI | Kind::SarRI => {
                let a = cpu.regs[r.a as usize & 31];
                let n = r.imm as u32;
                let (res, cf) = match r.kind {
                    Kind::ShlRI => (a << n, (a >> (64 - n)) & 1),
                    Kind::ShrRI => (a >> n, (a >> (n - 1)) & 1),
                    _ => (((a as i64) >> n) as u64, ((a as i64 >> (n - 1)) & 1) as u64),
                };
                cpu.regs[r.a as usize & 31] = res;
                let mut f = if cf != 0 { vmkit_isa::flag::CF } else { 0 };
                if res == 0 {
                    f |= vmkit_isa::flag::ZF;
                }
                if (res as i64) < 0 {
                    f |= vmkit_isa::flag::SF;
                }
                cpu.set_flags(f);
                pc += 1;
            }
            Kind::ImulRR => {
                let (res, over) = (cpu.regs[r.a as usize & 31] as i64)
                    .overflowing_mul(cpu.regs[r.b as usize & 31] as i64);
                cpu.regs[r.a as usize & 31] = res as u64;
                let mut f = if over {
                    vmkit_isa::flag::CF | vmkit_isa::flag::OF
                } else {
                    0
                };
                if res == 0 {
                    f |= vmkit_isa::flag::ZF;
                }
                if res < 0 {
                    f |= vmkit_isa::flag::SF;
                }
                cpu.set_flags(f);
                pc += 1;
            }
            Kind::IncR | Kind::DecR => {
                let a = cpu.regs[r.a as usize & 31];
                let c = cpu.carry();
                let (res, op) = if r.kind == Kind::IncR {
                    (a.wrapping_add(1), FlagOp::Inc)
                } else {
                    (a.wrapping_sub(1), FlagOp::Dec)
                };
                cpu.regs[r.a as usize & 31] = res;
                cpu.set_lazy(op, Size::Q, a, c, res);
                pc += 1;
            }
            Kind::Lea => {
                cpu.regs[r.a as usize & 31] = addr!(r);
                pc += 1;
            }
            Kind::Load | Kind::LoadZx | Kind::LoadSx => {
                let v = match mem.read(addr!(r), r.size.bytes()) {
                    Ok(v) => v,
                    Err(e) => fault!(r, e),
                };
                match r.kind {
                    Kind::Load => write_reg(cpu, r.a as usize & 31, r.size, v),
                    Kind::LoadZx => cpu.regs[r.a as usize & 31] = v,
                    _ => cpu.regs[r.a as usize & 31] = r.size.sign_extend(v),
                }
                pc += 1;
            }
            Kind::Store | Kind::StoreI => {
                let v = if r.kind == Kind::Store {
                    cpu.regs[r.a as usize & 31]
                } else {
                    r.imm
                };
                if let Err(e) = mem.write(addr!(r), r.size.bytes(), v) {
                    fault!(r, e);
                }
                after_store!(r);
                pc += 1;
            }
            Kind::AddRM | Kind::CmpRM => {
                let b = match mem.read(addr!(r), 8) {
                    Ok(v) => v,
                    Err(e) => fault!(r, e),
                };
                let a = cpu.regs[r.a as usize & 31];
                if r.kind == Kind::AddRM {
                    let res = a.wrapping_add(b);
                    cpu.regs[r.a as usize & 31] = res;
                    cpu.set_lazy(FlagOp::Add, Size::Q, a, b, res);
                } else {
                    cpu.set_lazy(FlagOp::Sub, Size::Q, a, b, a.wrapping_sub(b));
                }
                pc += 1;
            }
            Kind::PushR => {
                let sp = match push_sp(cpu, env, 8) {
                    Ok(sp) => sp,
                    Err(e) => fault!(r, e),
                };
                if let Err(e) = mem.write(sp, 8, cpu.regs[r.a as usize & 31]) {
                    fault!(r, e);
                }
                cpu.regs[SP] = sp;
                after_store!(r);
                pc += 1;
            }
            Kind::PopR => {
                let v = match mem.read(cpu.regs[SP], 8) {
                    Ok(v) => v,
                    Err(e) => fault!(r, e),
                };
                cpu.regs[SP] = cpu.regs[SP].wrapping_add(8);
                cpu.regs[r.a as usize & 31] = v;
                pc += 1;
            }
        }
    }
}
