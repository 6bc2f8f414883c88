//! The translating engine (x86-64 Linux hosts): guest blocks become host code that runs
//! with the guest's registers in host registers and the guest's flags in the host's.
//!
//! | module | owns |
//! |---|---|
//! | `area` | the code area: chain slots and code, never writable and executable at once |
//! | `ctx` | the context (`r13`), the register assignment, the entry and exit routines |
//! | `emit` | the emitter (iced-x86's encoder, and the jumps translations patch) |
//! | `translate` | the block translator: a whitelist, checks that never touch the flags |
//!
//! [`JitEngine::run`] finds or makes the translation of the block at `cpu.eip`, enters it,
//! and handles what made translated code return: a chain slot to link, an indirect jump
//! that missed the lookup table, an instruction the interpreter must run (a check refused
//! an access, or the translator does not know it), or a budget too small for the next
//! block. Whatever translated code does not do, the interpreter (`FastEngine`) does, one
//! instruction or one block at a time, so every stop (system call, fault, code written,
//! segment change) comes from the interpreter exactly as with `--engine interp`.

mod area;
mod ctx;
mod emit;
mod translate;

use super::block::BlockCache;
use super::fast::FastEngine;
use super::{EngineStop, ExecutionEngine};
use crate::cpu::Cpu;
use area::CodeArea;
use ctx::{reason, Ctx, LookupEntry, LOOKUP_ENTRIES};
use std::collections::HashMap;
use std::ops::Range;
use translate::{Routines, Translation, Translator};
use vmkit_mem::Memory;

/// At most this many guest instructions run per entry (the budget check's arithmetic
/// needs budgets below 2^31).
const MAX_ENTRY_BUDGET: u64 = 1 << 30;
/// Code bytes and slots one translation may need at most.
const BLOCK_ROOM: (usize, usize) = (64 << 10, 256);
/// Code bytes made writable at once: a block and the successors translated with it.
const WINDOW: usize = 256 << 10;
/// Direct successors translated with a new block, at most.
const AHEAD: usize = 8;
/// By default a block is translated the third time control reaches it outside translated
/// code (see [`JitEngine::set_threshold`]).
pub(crate) const DEFAULT_THRESHOLD: u32 = 3;

/// What is known about a guest address.
#[derive(Clone, Copy)]
enum Known {
    /// Translated: index into `State::translations`.
    Native(usize),
    /// The first instruction is not translated: the interpreter runs the block.
    Interp,
}

/// The engine's state once the code area exists.
struct State {
    area: CodeArea,
    ctx: Box<Ctx>,
    translator: Translator,
    routines: Routines,
    /// The entry routine.
    entry: usize,
    known: HashMap<u32, Known>,
    /// How often control reached each not yet translated address (the tier).
    seen: HashMap<u32, u32>,
    /// Translate a block the `threshold`-th time control reaches it.
    threshold: u32,
    /// How many times the code area was flushed (its slots and code reused).
    generation: u64,
    /// Translations by index; `None` once dropped.
    translations: Vec<Option<Live>>,
    /// `VMKIT_JIT_DUMP` is set: print each translation on stderr.
    dump: bool,
    /// Counts for `VMKIT_JIT_STATS`.
    stats: Option<Stats>,
}

/// What `VMKIT_JIT_STATS` reports when the engine is dropped: exits by reason, blocks the
/// interpreter ran, and the instructions that ended translations.
#[derive(Default)]
struct Stats {
    exits: [u64; 5],
    interpreted_blocks: u64,
    translations: u64,
    cut_at: HashMap<String, u64>,
    bails_at: HashMap<u32, u64>,
    interpreted_at: HashMap<u32, u64>,
}

impl Drop for State {
    fn drop(&mut self) {
        let Some(s) = &self.stats else { return };
        let mut cuts: Vec<_> = s.cut_at.iter().collect();
        cuts.sort_by(|a, b| b.1.cmp(a.1));
        eprintln!(
            "vmkit jit: {} translations; exits: link {} interp {} budget {} lookup {}; blocks interpreted {}",
            s.translations, s.exits[1], s.exits[2], s.exits[3], s.exits[4], s.interpreted_blocks
        );
        for (m, n) in cuts.iter().take(25) {
            eprintln!("  cut at {m}: {n}");
        }
        let mut bails: Vec<_> = s.bails_at.iter().collect();
        bails.sort_by(|a, b| b.1.cmp(a.1));
        for (eip, n) in bails.iter().take(10) {
            eprintln!("  bails at {eip:#x}: {n}");
        }
        let mut interp: Vec<_> = s.interpreted_at.iter().collect();
        interp.sort_by(|a, b| b.1.cmp(a.1));
        for (eip, n) in interp.iter().take(10) {
            eprintln!("  interpreted at {eip:#x}: {n}");
        }
    }
}

/// A translation in use, and the slots of other translations linked to it.
struct Live {
    t: Translation,
    /// (slot, its stub): reset to the stub when this translation is dropped.
    incoming: Vec<(usize, usize)>,
}

/// The translating engine. Its code area is made on first use; if the host refuses it,
/// the engine runs the interpreter.
pub(crate) struct JitEngine {
    state: Option<Box<State>>,
    /// The host refused the code area: run the interpreter.
    unavailable: bool,
    /// See [`JitEngine::set_threshold`].
    threshold: u32,
}

impl Default for JitEngine {
    fn default() -> JitEngine {
        JitEngine {
            state: None,
            unavailable: false,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl JitEngine {
    /// Translates a block the `n`-th time control reaches it outside translated code (at
    /// least the first).
    pub(crate) fn set_threshold(&mut self, n: u32) {
        self.threshold = n.max(1);
        if let Some(s) = self.state.as_deref_mut() {
            s.threshold = self.threshold;
        }
    }

    fn state(&mut self) -> Option<&mut State> {
        if self.state.is_none() && !self.unavailable {
            match State::new() {
                Some(mut s) => {
                    s.threshold = self.threshold;
                    self.state = Some(Box::new(s))
                }
                None => self.unavailable = true,
            }
        }
        self.state.as_deref_mut()
    }
}

impl State {
    fn new() -> Option<State> {
        let mut area = CodeArea::new().ok()?;
        let mut translator = Translator::new();
        let (entry, routines) = translator.routines(&mut area).ok()?;
        area.make_executable();
        let ctx = Ctx::new(routines.lookup_miss);
        Some(State {
            area,
            ctx,
            translator,
            routines,
            entry,
            known: HashMap::new(),
            seen: HashMap::new(),
            threshold: DEFAULT_THRESHOLD,
            generation: 0,
            translations: Vec::new(),
            dump: std::env::var_os("VMKIT_JIT_DUMP").is_some(),
            stats: std::env::var_os("VMKIT_JIT_STATS").map(|_| Stats::default()),
        })
    }

    /// The host entry of the translation at `eip`, translating it if it is new; `None` if
    /// the interpreter must run the block there. A new block's direct successors are
    /// translated with it (a few), while the code area is writable anyway.
    fn entry_for(&mut self, code: &mut BlockCache, mem: &mut Memory, eip: u32) -> Option<usize> {
        match self.known.get(&eip) {
            Some(Known::Native(i)) => return self.translations[*i].as_ref().map(|l| l.t.entry),
            Some(Known::Interp) => return None,
            None => {}
        }
        // The tier: a block is translated the `threshold`-th time it is asked for; until
        // then the interpreter runs it (most start-up code runs once).
        let seen = self.seen.entry(eip).or_insert(0);
        *seen += 1;
        if *seen < self.threshold {
            return None;
        }
        if !self.area.has_room(WINDOW, BLOCK_ROOM.1 * (1 + AHEAD)) {
            self.flush();
        }
        self.area.make_writable(WINDOW);
        let first = self.translations.len();
        let mut queue = vec![eip];
        let mut made = 0;
        while let Some(at) = queue.pop() {
            if self.known.contains_key(&at) || made > AHEAD || !self.area.window_has(BLOCK_ROOM.0) {
                continue;
            }
            made += 1;
            if let Some(index) = self.translate_one(code, mem, at) {
                if let Some(live) = &self.translations[index] {
                    queue.extend(live.t.edges.iter().map(|e| e.target));
                }
            }
        }
        self.area.make_executable();
        // Link the new blocks' slots to every block translated so far.
        for index in first..self.translations.len() {
            let Some(live) = self.translations[index].as_ref() else {
                continue;
            };
            let edges: Vec<(usize, usize, u32)> = live
                .t
                .edges
                .iter()
                .map(|e| (e.slot, e.stub, e.target))
                .collect();
            for (slot, stub, target) in edges {
                if let Some(&Known::Native(j)) = self.known.get(&target) {
                    if let Some(to) = self.translations[j].as_mut() {
                        area::set_slot(slot, to.t.entry as u64);
                        to.incoming.push((slot, stub));
                    }
                }
            }
        }
        match self.known.get(&eip) {
            Some(Known::Native(i)) => self.translations[*i].as_ref().map(|l| l.t.entry),
            _ => None,
        }
    }

    /// Translates the block at `at` into the (writable) code area; records what is known
    /// about `at`. The new translation's index, if there is one.
    fn translate_one(&mut self, code: &mut BlockCache, mem: &mut Memory, at: u32) -> Option<usize> {
        let id = code.lookup(mem, at);
        let block = code.get(id);
        let made = self.translator.translate(&mut self.area, at, &block.insns);
        if let Some(stats) = &mut self.stats {
            let n = made.as_ref().map_or(0, |t| t.insns);
            if let Some(g) = block.insns.get(n) {
                if n < block.insns.len()
                    && !(n + 1 == block.insns.len()
                        && made.is_some()
                        && g.flow_control() == iced_x86::FlowControl::Next)
                {
                    *stats.cut_at.entry(format!("{:?}", g.code())).or_default() += 1;
                }
            }
            stats.translations += u64::from(made.is_some());
        }
        let Some(t) = made else {
            self.known.insert(at, Known::Interp);
            return None;
        };
        if self.dump {
            dump(&block.insns, &t);
        }
        let index = self.translations.len();
        self.translations.push(Some(Live {
            t,
            incoming: Vec::new(),
        }));
        self.known.insert(at, Known::Native(index));
        Some(index)
    }

    /// Links `slot` (whose stub exited with `target`) to `target`'s translation.
    fn link(&mut self, slot: usize, target: u32, entry: usize) {
        let Some(&Known::Native(j)) = self.known.get(&target) else {
            return;
        };
        let Some(live) = self.translations[j].as_mut() else {
            return;
        };
        // The slot's stub is what it holds now.
        // SAFETY: `slot` is a slot address a translation exited with: 8 aligned bytes in
        // the live code area's data part.
        let stub = unsafe { (slot as *const u64).read() } as usize;
        area::set_slot(slot, entry as u64);
        live.incoming.push((slot, stub));
    }

    /// Remembers that an indirect jump to `target` goes to `entry`.
    fn remember_indirect(&mut self, target: u32, entry: usize) {
        self.ctx.lookup[target as usize & (LOOKUP_ENTRIES - 1)] = LookupEntry {
            neg_eip: target.wrapping_neg(),
            _pad: 0,
            host: entry as u64,
        };
    }

    /// Drops the translations made from bytes in `range`.
    fn invalidate(&mut self, range: &Range<u64>) {
        for slot in self.translations.iter_mut() {
            let hit = slot.as_ref().is_some_and(|l| {
                (l.t.start as u64) < range.end
                    && range.start < (l.t.end as u64).max(l.t.start as u64 + 1)
            });
            if !hit {
                continue;
            }
            if let Some(live) = slot.take() {
                for &(s, stub) in &live.incoming {
                    area::set_slot(s, stub as u64);
                }
                self.known.remove(&live.t.start);
                let e = &mut self.ctx.lookup[live.t.start as usize & (LOOKUP_ENTRIES - 1)];
                if e.host == live.t.entry as u64 {
                    e.host = self.routines.lookup_miss as u64;
                }
            }
        }
        // Addresses the interpreter ran may now hold translatable code.
        self.known
            .retain(|&eip, k| !matches!(k, Known::Interp) || !range.contains(&(eip as u64)));
    }

    /// Drops every translation.
    fn flush(&mut self) {
        self.generation += 1;
        self.area.reset();
        self.known.clear();
        self.seen.clear();
        self.translations.clear();
        self.ctx.reset_lookup(self.routines.lookup_miss);
    }

    /// Runs translated code from `entry` with at most `budget` instructions; returns the
    /// exit reason and the instructions run.
    fn enter(&mut self, cpu: &mut Cpu, mem: &mut Memory, entry: usize, budget: u64) -> (u32, u64) {
        let given = budget.min(MAX_ENTRY_BUDGET);
        self.ctx.load(cpu, mem, given);
        // SAFETY: `self.entry` is the entry routine emitted by `Translator::routines` into
        // the executable code area, with the signature below. It runs translated code,
        // which reads and writes guest memory only at `mem_base + a` for a 32-bit `a`
        // checked against the fast-access table (both loaded from `mem` just now, and
        // `mem` is borrowed mutably for the whole call), the context, and the code area's
        // slots; it returns through the exit routine with the callee-saved registers
        // restored.
        let why = unsafe {
            let f: unsafe extern "sysv64" fn(*mut Ctx, usize) -> u32 =
                std::mem::transmute(self.entry);
            f(&mut *self.ctx, entry)
        };
        self.ctx.store(cpu);
        (why, given - self.ctx.budget)
    }
}

/// Prints a translation: the guest instructions it covers and its host code.
fn dump(guest: &[iced_x86::Instruction], t: &Translation) {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
    let mut f = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    out.push_str(&format!(
        "translation of {:#x}..{:#x} at {:#x}:\n",
        t.start, t.end, t.entry
    ));
    for g in guest
        .iter()
        .take_while(|g| g.ip32() < t.end || g.ip32() == t.start)
    {
        text.clear();
        f.format(g, &mut text);
        out.push_str(&format!("  guest {:08x}  {text}\n", g.ip32()));
    }
    // SAFETY: `t.entry..t.entry + t.len` is the translation's code, just written into the
    // live code area, which stays mapped (read-only or read-execute) while we read it.
    let code = unsafe { std::slice::from_raw_parts(t.entry as *const u8, t.len) };
    let mut d = Decoder::with_ip(64, code, t.entry as u64, DecoderOptions::NONE);
    for h in &mut d {
        text.clear();
        f.format(&h, &mut text);
        out.push_str(&format!("  host  {:x}  {text}\n", h.ip()));
    }
    eprint!("{out}");
}

/// Runs the interpreter for at most `limit` instructions (and `*budget`); takes what ran
/// from `*budget`. `None` if it stopped only for the limit.
fn interpret(
    code: &mut BlockCache,
    cpu: &mut Cpu,
    mem: &mut Memory,
    budget: &mut u64,
    limit: u64,
) -> Option<EngineStop> {
    let mut b = limit.min(*budget);
    let before = b;
    let stop = FastEngine.run(code, cpu, mem, &mut b);
    *budget -= before - b;
    match stop {
        // Ran to the limit: translated code may go on.
        EngineStop::BudgetSpent if b == 0 => None,
        // Stopped early (an instruction set the trap flag): the run loop must look.
        other => Some(other),
    }
}

impl ExecutionEngine for JitEngine {
    fn run(
        &mut self,
        code: &mut BlockCache,
        cpu: &mut Cpu,
        mem: &mut Memory,
        budget: &mut u64,
    ) -> EngineStop {
        // Translated code addresses all 4 GiB of guest memory and adds only fs and gs bases.
        if mem.size() != 1 << 32 || cpu.segmented() {
            return FastEngine.run(code, cpu, mem, budget);
        }
        let Some(state) = self.state() else {
            return FastEngine.run(code, cpu, mem, budget);
        };
        loop {
            if *budget == 0 {
                return EngineStop::BudgetSpent;
            }
            // Translated code assumes DF clear (`cld` is translated as nothing): with DF set
            // (rare, around `std`-using string code) the interpreter runs.
            let entry = if cpu.eflags & crate::cpu::flags::DF == 0 {
                state.entry_for(code, mem, cpu.eip)
            } else {
                None
            };
            let Some(entry) = entry else {
                if let Some(s) = &mut state.stats {
                    s.interpreted_blocks += 1;
                    *s.interpreted_at.entry(cpu.eip).or_default() += 1;
                }
                // The interpreter runs the block here.
                let id = code.lookup(mem, cpu.eip);
                let n = code.get(id).insns.len().max(1) as u64;
                if let Some(stop) = interpret(code, cpu, mem, budget, n) {
                    return stop;
                }
                continue;
            };
            let (why, ran) = state.enter(cpu, mem, entry, *budget);
            *budget -= ran;
            if let Some(s) = &mut state.stats {
                s.exits[why as usize % 5] += 1;
            }
            match why {
                reason::LINK => {
                    let slot = state.ctx.arg as usize;
                    let generation = state.generation;
                    if let Some(target_entry) = state.entry_for(code, mem, cpu.eip) {
                        // A flush on the way reused the slot's memory for new code: only a
                        // slot of the same generation may be linked.
                        if state.generation == generation {
                            state.link(slot, cpu.eip, target_entry);
                        }
                    }
                }
                reason::LOOKUP => {
                    if let Some(target_entry) = state.entry_for(code, mem, cpu.eip) {
                        state.remember_indirect(cpu.eip, target_entry);
                    }
                }
                reason::INTERP => {
                    if let Some(s) = &mut state.stats {
                        *s.bails_at.entry(cpu.eip).or_default() += 1;
                    }
                    if let Some(stop) = interpret(code, cpu, mem, budget, 1) {
                        return stop;
                    }
                }
                reason::BUDGET => {
                    // Fewer instructions are left than the block has: the interpreter runs
                    // them exactly.
                    if let Some(stop) = interpret(code, cpu, mem, budget, 64) {
                        return stop;
                    }
                }
                other => unreachable!("translated code exited with unknown reason {other}"),
            }
        }
    }

    fn invalidate(&mut self, range: &Range<u64>) {
        if let Some(s) = self.state.as_deref_mut() {
            s.invalidate(range);
        }
    }

    fn flush(&mut self) {
        if let Some(s) = self.state.as_deref_mut() {
            s.flush();
        }
    }
}
