//! The call-threaded dispatch backend: one small function per record kind, called through a
//! table indexed by the kind, each returning the index of the next record.
//!
//! The handlers run the same record semantics as the `match` backend ([`step`], inlined
//! once per kind) over the same records and cache; only the way control gets from one
//! record to the next differs. Hot state travels as handler arguments: the CPU, memory and
//! code cache by reference, the record index by value; the rarely used rest (environment,
//! budget, the reason for stopping) sits behind one more reference in [`Ctx`].
//!
//! There is no tail-call-threaded variant (each handler calling the next one's in tail
//! position) because it did not pay: in release builds it ran 15–20% slower than the
//! `match` loop, and below opt-level 2 LLVM leaves the calls as calls, so the host stack
//! grows with every record until a long run overflows it.

use crate::block::{BlockCache, Kind};
use crate::cpu::Cpu;
use crate::env::Env;
use crate::interp::{step, Budget, EngineStop};
use vmkit_mem::Memory;

/// A record handler: runs record `pc` and returns the index of the next one, or [`EXIT`]
/// after storing the reason in [`Ctx::exit`].
type Handler = fn(&mut Cpu, &mut Memory, &mut BlockCache, &mut Ctx<'_>, usize) -> usize;

/// Returned by a handler instead of a record index when the run stops.
const EXIT: usize = usize::MAX;

/// Handler state that is not needed by every record.
struct Ctx<'e> {
    env: &'e mut Env,
    budget: Budget,
    /// Why the run stopped; set by the handler that returns [`EXIT`].
    exit: Option<EngineStop>,
}

/// Builds [`KINDS`] and [`HANDLERS`] from the list of record kinds.
macro_rules! handler_table {
    ($($name:ident)*) => {
        /// Every record kind, in declaration order (checked below).
        const KINDS: [Kind; [$(Kind::$name),*].len()] = [$(Kind::$name),*];
        /// The handler of each record kind, indexed by `Kind as usize`.
        static HANDLERS: [Handler; KINDS.len()] = [$(handler::<{ Kind::$name as usize }>),*];
        // Does not compile when a kind is missing from the list.
        const _: fn(Kind) = |kind| match kind {
            $(Kind::$name)|* => {}
        };
    };
}
handler_table! {
    Enter Goto Fault Generic Jmp Jcc CmpRRJcc CmpRIJcc Call Ret JmpR CallR
    MovRR MovRI AddRR AddRI SubRR SubRI AndRR AndRI OrRR OrRI XorRR XorRI
    CmpRR CmpRI TestRR TestRI ShlRI ShrRI SarRI ImulRR IncR DecR
    Lea Load LoadZx LoadSx Store StoreI AddRM CmpRM PushR PopR
}

// The table is indexed by discriminant: the list must follow the enum's order.
const _: () = {
    let mut i = 0;
    while i < KINDS.len() {
        assert!(KINDS[i] as usize == i, "kind list out of declaration order");
        i += 1;
    }
};

/// The handler for records of kind `KINDS[K]`.
fn handler<const K: usize>(
    cpu: &mut Cpu,
    mem: &mut Memory,
    cache: &mut BlockCache,
    ctx: &mut Ctx<'_>,
    pc: usize,
) -> usize {
    match step(
        const { KINDS[K] },
        cpu,
        mem,
        ctx.env,
        cache,
        &mut ctx.budget,
        pc,
    ) {
        Ok(next) => next,
        Err(why) => {
            ctx.exit = Some(why);
            EXIT
        }
    }
}

/// Runs blocks starting at `cpu.ip`, calling one handler per record. `budget` is
/// decremented by the guest instructions executed.
#[inline(never)]
pub(crate) fn run_blocks(
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    cache: &mut BlockCache,
    budget: &mut u64,
) -> EngineStop {
    let mut pc = cache.block_at(mem, env.const_base, cpu.ip) as usize;
    let mut ctx = Ctx {
        env,
        budget: Budget {
            left: *budget,
            block_len: 0,
        },
        exit: None,
    };
    while pc != EXIT {
        pc = HANDLERS[cache.records[pc].kind as usize](cpu, mem, cache, &mut ctx, pc);
    }
    *budget = ctx.budget.left;
    ctx.exit.expect("a handler returned EXIT without a reason")
}
