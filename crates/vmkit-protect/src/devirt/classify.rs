//! Stage 2 of devirtualization: what each handler does, found by running it.
//!
//! Every handler runs on the same random VM states (virtual stack, context, memory, the
//! bytes at VIP, the key, every scratch register) in a vmkit machine loaded with the
//! protected image, until it reaches calc_jmp or vm_exit. Its effect (VIP, VSP, key, the
//! context and virtual stack, the memory it may write, and where it went, or the fault
//! it raised) is compared with the effect of a reference handler for each virtual
//! instruction kind: the protector's own template, without junk, run on the same states.
//! A handler is what exactly one kind does on every state. Junk instructions and register
//! choice change nothing here: only the VM-visible effect counts.
//!
//! Handlers that move VIP read an immediate. Its decryption chain is read off the trace
//! of the run: after the load from `[vip]`, the instructions that write the loaded
//! register or the key are the key op, three transforms and the key update (junk never
//! writes either). The reference handler then runs with that chain, so a kind only
//! matches if the chain is right too.

use super::entry::VmEntry;
use super::DevirtError;
use crate::context;
use crate::profile::{HandlerSpec, VmProfile};
use crate::rng::Rng;
use crate::transform::{Chain3, KeyChain, KeyOp, Transform};
use crate::vmgen::{reference_handler, VmAddrs};
use crate::vop::VKind;
use std::collections::BTreeMap;
use vmkit_image::Image;
use vmkit_isa::{decode, Addr, Instr, Mem, Operand, Reg, Size, MAX_INSTR_LEN};
use vmkit_machine::{Exit, Machine};

/// Random states each handler runs on.
const TRIALS: usize = 42;
/// More than any handler needs; a handler that runs longer is not one.
const STEP_LIMIT: usize = 1000;
/// Slots of virtual stack a state fills.
const SLOTS: u64 = 8;
/// Scratch layout (after the image): the bytes at VIP, memory that `read`/`write` may
/// touch, then reference handlers.
const VIP_WINDOW: u64 = 0;
const DATA: u64 = 0x100;
const DATA_LEN: u64 = 0x100;
const REF_CODE: u64 = 0x1000;
const SCRATCH: u64 = 0x10000;

/// What one handler is, and what running it showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerInfo {
    /// The recovered kind and immediate chain.
    pub spec: HandlerSpec,
    /// Native instructions it executed (on a state where it ran to its end).
    pub steps: usize,
    /// Of those, instructions the reference handler does not need (junk and register
    /// moves), as a count.
    pub extra: usize,
}

/// A random VM state.
struct State {
    /// The context and virtual stack, `ctx .. vstack_top`.
    data: Vec<u8>,
    /// Memory that stack values may point into.
    mem: Vec<u8>,
    /// The bytes around VIP.
    window: Vec<u8>,
    /// All sixteen registers (VIP, VSP and the key are overwritten).
    regs: [u64; 16],
    key: u64,
    flags: u64,
}

/// Where a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stop {
    /// At calc_jmp: the next virtual instruction.
    Next,
    /// At vm_exit.
    Exit,
    /// A fault (its description: the kind and address).
    Fault(String),
    /// Somewhere else, or too long.
    Lost,
}

/// The VM-visible effect of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    stop: Stop,
    vip: u64,
    vsp: u64,
    key: u64,
    data: Vec<u8>,
    mem: Vec<u8>,
}

/// A machine with the protected image loaded, and room for states and reference code.
struct Lab<'a> {
    m: Machine,
    vm: &'a VmEntry,
    scratch: u64,
    states: Vec<State>,
}

impl<'a> Lab<'a> {
    fn new(image: &Image, vm: &'a VmEntry) -> Result<Lab<'a>, DevirtError> {
        let data_len = vm.vstack_top.wrapping_sub(vm.ctx);
        if !(context::SLOTS * context::SLOT + SLOTS * 8..=1 << 20).contains(&data_len) {
            return Err(DevirtError::corrupt(
                vm.entry,
                "a virtual stack above the context",
            ));
        }
        // Reference handlers are generated at these addresses, which the VM's code
        // reaches with 32-bit fields; a damaged image can claim any.
        let addrs = [
            vm.ctx,
            vm.vstack_top,
            vm.table,
            vm.bytecode_base,
            vm.handler_base,
        ];
        if let Some(a) = addrs.into_iter().find(|&a| a >= 1 << 31) {
            return Err(DevirtError::corrupt(
                vm.entry,
                format!("VM addresses below 2 GiB, not {a:#x}"),
            ));
        }
        let scratch = image.end_address().div_ceil(4096) * 4096;
        if vm.vstack_top > scratch {
            return Err(DevirtError::corrupt(
                vm.entry,
                "a context and virtual stack inside the image",
            ));
        }
        // The image loaded as it runs (page 0 unmapped, segment permissions), so a
        // handler that reads a small number as an address faults instead of reading
        // memory that another handler's run may have written; a page of stack on top.
        let size = scratch + SCRATCH + 4096;
        let mut m =
            Machine::try_new(size).map_err(|e| DevirtError::corrupt(vm.entry, e.to_string()))?;
        m.load_image(image, 4096, false)
            .map_err(|e| DevirtError::corrupt(vm.entry, e.to_string()))?;
        let mut rng = Rng::new(vm.entry ^ 0x5eed);
        let states = (0..TRIALS)
            .map(|t| State::random(&mut rng, t, data_len, scratch, size))
            .collect();
        Ok(Lab {
            m,
            vm,
            scratch,
            states,
        })
    }

    fn vip0(&self) -> u64 {
        self.scratch + VIP_WINDOW + 0x80
    }

    fn vsp0(&self) -> u64 {
        self.vm.vstack_top - SLOTS * 8
    }

    /// Runs code at `start` on state `n` until it reaches `next` or `exit`.
    fn run(&mut self, n: usize, start: u64, next: u64, exit: u64) -> (Outcome, Vec<Instr>) {
        let st = &self.states[n];
        let (vm, scratch) = (self.vm, self.scratch);
        let ok = self.m.load_bytes(vm.ctx, &st.data).is_ok()
            && self.m.load_bytes(scratch + DATA, &st.mem).is_ok()
            && self.m.load_bytes(scratch + VIP_WINDOW, &st.window).is_ok();
        debug_assert!(
            ok,
            "the lab's memory holds the VM data and the scratch area"
        );
        for (i, &v) in st.regs.iter().enumerate() {
            self.m.set_reg(Reg::r(i as u8), v);
        }
        let (vip0, vsp0, key0, flags) = (self.vip0(), self.vsp0(), st.key, st.flags);
        self.m.set_reg(vm.regs.vip, vip0);
        self.m.set_reg(vm.regs.vsp, vsp0);
        self.m.set_reg(vm.regs.key, key0);
        self.m.set_flags(flags);
        self.m.set_ip(start);
        let mut trace = Vec::new();
        let mut stop = Stop::Lost;
        for _ in 0..STEP_LIMIT {
            let ip = self.m.ip();
            if ip == next {
                stop = Stop::Next;
                break;
            }
            if ip == exit {
                stop = Stop::Exit;
                break;
            }
            if let Ok(bytes) = self.m.read(ip, MAX_INSTR_LEN as u64) {
                if let Ok((i, _)) = decode(bytes) {
                    trace.push(i);
                }
            }
            match self.m.step() {
                None => {}
                Some(Exit::Fault(f)) => {
                    stop = Stop::Fault(f.kind.to_string());
                    break;
                }
                Some(_) => break,
            }
        }
        let data = self
            .m
            .read(vm.ctx, st.data.len() as u64)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let mem = self
            .m
            .read(scratch + DATA, DATA_LEN)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let out = Outcome {
            stop,
            vip: self.m.reg(vm.regs.vip),
            vsp: self.m.reg(vm.regs.vsp),
            key: self.m.reg(vm.regs.key),
            data,
            mem,
        };
        (out, trace)
    }

    /// Runs the handler at `addr` on every state: the outcomes, and the longest trace.
    fn observe(&mut self, addr: u64) -> (Vec<Outcome>, Vec<Instr>) {
        let (next, exit) = (self.vm.dispatch, self.vm.exit);
        // The longest trace: a state on which the handler ran to its end.
        let mut longest = Vec::new();
        let outs = (0..TRIALS)
            .map(|n| {
                let (o, t) = self.run(n, addr, next, exit);
                if t.len() > longest.len() {
                    longest = t;
                }
                o
            })
            .collect();
        (outs, longest)
    }

    /// Runs the reference handler for `kind` (with immediate chain `imm`) on every
    /// state; also returns the most instructions it ran.
    fn reference(&mut self, kind: VKind, imm: Option<KeyChain>) -> (Vec<Outcome>, usize) {
        let vm = self.vm;
        let profile = VmProfile {
            regs: vm.regs,
            forward: vm.forward,
            entry: vm.entry_chain,
            dispatch: vm.dispatch_chain,
            table: vm.table_transform,
            handlers: vec![HandlerSpec { kind, imm }],
        };
        let addrs = VmAddrs {
            ctx: vm.ctx,
            vstack_top: vm.vstack_top,
            table: vm.table,
            bytecode_base: vm.bytecode_base,
            handler_base: vm.handler_base,
        };
        let (mut code, next, exit) = reference_handler(&profile, &addrs, 0);
        code.bind(next);
        code.op(vmkit_isa::Op::Halt, Size::Q, &[]);
        code.bind(exit);
        code.op(vmkit_isa::Op::Halt, Size::Q, &[]);
        let base = self.scratch + REF_CODE;
        let labels = code.label_addrs(base);
        let (Ok(bytes), Some(Some(n)), Some(Some(x))) = (
            code.assemble(base),
            labels.get(next.index()),
            labels.get(exit.index()),
        ) else {
            return (Vec::new(), 0);
        };
        let (n, x) = (*n, *x);
        if self.m.load_bytes(base, &bytes).is_err() {
            return (Vec::new(), 0);
        }
        let mut len = 0;
        let outs = (0..TRIALS)
            .map(|t| {
                let (o, trace) = self.run(t, base, n, x);
                len = len.max(trace.len());
                o
            })
            .collect();
        (outs, len)
    }
}

impl State {
    fn random(rng: &mut Rng, trial: usize, data_len: u64, scratch: u64, memory: u64) -> State {
        let bytes = |rng: &mut Rng, n: u64| (0..n).map(|_| rng.next_u64() as u8).collect();
        let mut data: Vec<u8> = bytes(rng, data_len);
        let mut slots: Vec<u64> = (0..SLOTS).map(|_| rng.next_u64()).collect();
        // The top slots hold, by turns: numbers of random width and sign; an address
        // (read, write); a small count (shifts by less than the width, and by zero);
        // small numbers; doubles of moderate size (random bit patterns are mostly of
        // wildly different magnitudes, where x + y and x - y agree); a tiny negative
        // times a tiny positive number (signed product in range, unsigned not, at
        // every width).
        match trial % 7 {
            1 | 3 => slots[0] = scratch + DATA + rng.below(DATA_LEN - 8),
            2 if trial % 14 == 9 => slots[0] = 0,
            6 => {
                slots[0] = 1 + rng.below(3);
                slots[1] = (1 + rng.below(3)).wrapping_neg();
            }
            0 | 5 => {
                // Small magnitudes make signed and unsigned overflow differ at every
                // width (a small negative number is a large unsigned one).
                let max_bits = if trial % 7 == 5 { 7 } else { 64 };
                for s in &mut slots[..3] {
                    let bits = 1 + rng.below(max_bits) as u32;
                    let v = rng.next_u64() >> (64 - bits);
                    let v = if rng.chance(1, 2) {
                        v.wrapping_neg()
                    } else {
                        v
                    };
                    // Not an address of the lab's memory: a `write` through it would
                    // change what later runs see.
                    *s = if (4096..memory).contains(&v) {
                        v | 1 << 62
                    } else {
                        v
                    };
                }
            }
            2 => slots[0] = rng.below(72),
            4 => {
                for s in &mut slots[..3] {
                    let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    *s = ((x - 0.5) * 2000.0).to_bits();
                }
            }
            _ => {}
        }
        let top = data_len - SLOTS * 8;
        for (i, s) in slots.iter().enumerate() {
            let at = (top + 8 * i as u64) as usize;
            data[at..at + 8].copy_from_slice(&s.to_le_bytes());
        }
        State {
            data,
            mem: bytes(rng, DATA_LEN),
            window: bytes(rng, 0x100),
            regs: [(); 16].map(|_| rng.next_u64()),
            key: rng.next_u64(),
            flags: rng.below(16),
        }
    }
}

/// Reads the immediate chain off a handler's trace: the load `movzx r, [vip]`, then the
/// first five instructions that write `r` or the key.
fn chain_from_trace(trace: &[Instr], vip: Reg, key: Reg) -> Option<KeyChain> {
    let load = trace.iter().position(|i| {
        i.op == vmkit_isa::Op::Movzx
            && i.operands[1] == Operand::Mem(Mem::new(Addr::Reg(vip)))
            && matches!(i.operands[0], Operand::Reg(_))
    })?;
    let Operand::Reg(r) = trace[load].operands[0] else {
        return None;
    };
    let size = trace[load].size;
    let writes: Vec<&Instr> = trace[load + 1..]
        .iter()
        .filter(|i| matches!(i.operands[0], Operand::Reg(d) if d == r || d == key))
        .take(5)
        .collect();
    let [first, t0, t1, t2, update] = writes[..] else {
        return None;
    };
    let key_op = KeyOp::from_op(first.op)?;
    let is = |i: &Instr, a: Reg, b: Reg| {
        i.operands[0] == Operand::Reg(a) && i.operands[1] == Operand::Reg(b) && i.size == size
    };
    if !is(first, r, key) || !is(update, key, r) || KeyOp::from_op(update.op) != Some(key_op) {
        return None;
    }
    let t = |i: &Instr| {
        Transform::from_instr(i).and_then(|(reg, s, t)| (reg == r && s == size).then_some(t))
    };
    Some(KeyChain {
        key_op,
        chain: Chain3 {
            t: [t(t0)?, t(t1)?, t(t2)?],
        },
        size,
    })
}

/// Classifies every handler of `vm`: its kind and, for kinds with an immediate, the
/// immediate's chain. Handlers at the same address are classified once.
pub fn classify(image: &Image, vm: &VmEntry) -> Result<Vec<HandlerInfo>, DevirtError> {
    let mut lab = Lab::new(image, vm)?;
    let plain: Vec<VKind> = VKind::all()
        .into_iter()
        .filter(|k| k.imm_size().is_none())
        .collect();
    let mut refs: Vec<(VKind, Vec<Outcome>, usize)> = Vec::new();
    for &k in &plain {
        let (o, len) = lab.reference(k, None);
        refs.push((k, o, len));
    }
    let mut done: BTreeMap<u64, HandlerInfo> = BTreeMap::new();
    let mut out = Vec::with_capacity(256);
    for (opcode, &addr) in vm.handlers.iter().enumerate() {
        if let Some(h) = done.get(&addr) {
            out.push(h.clone());
            continue;
        }
        let (outs, trace) = lab.observe(addr);
        // An immediate moves VIP by its width, the same on every state (a `jmp` moves it
        // anywhere).
        let vip0 = lab.vip0();
        let moved = outs[0].vip.abs_diff(vip0);
        let moved = if [1, 2, 4, 8].contains(&moved) && outs.iter().all(|o| o.vip == outs[0].vip) {
            moved
        } else {
            0
        };
        let mut matches: Vec<(HandlerSpec, usize)> = Vec::new();
        if moved == 0 {
            for (k, o, len) in &refs {
                if *o == outs {
                    matches.push((
                        HandlerSpec {
                            kind: *k,
                            imm: None,
                        },
                        *len,
                    ));
                }
            }
        } else if let Some(chain) = chain_from_trace(&trace, vm.regs.vip, vm.regs.key)
            .filter(|c| c.size.bytes() as u64 == moved)
        {
            let kinds = VKind::all()
                .into_iter()
                .filter(|k| k.imm_size() == Some(chain.size));
            for k in kinds {
                let (o, len) = lab.reference(k, Some(chain));
                if o == outs {
                    matches.push((
                        HandlerSpec {
                            kind: k,
                            imm: Some(chain),
                        },
                        len,
                    ));
                }
            }
        }
        let (spec, len) = match matches[..] {
            [one] => one,
            [] => {
                return Err(DevirtError::corrupt(
                    addr,
                    format!(
                        "a handler (opcode {opcode:#04x}) that behaves like a virtual instruction"
                    ),
                ))
            }
            _ => {
                let kinds: Vec<String> = matches.iter().map(|m| m.0.kind.to_string()).collect();
                return Err(DevirtError::corrupt(
                    addr,
                    format!(
                        "a handler (opcode {opcode:#04x}) that behaves like one virtual instruction, not like all of {}",
                        kinds.join(", ")
                    ),
                ));
            }
        };
        let info = HandlerInfo {
            spec,
            steps: trace.len(),
            extra: trace.len().saturating_sub(len),
        };
        done.insert(addr, info.clone());
        out.push(info);
    }
    Ok(out)
}

/// The profile the recovered parts make up.
pub fn profile_of(vm: &VmEntry, handlers: &[HandlerInfo]) -> VmProfile {
    VmProfile {
        regs: vm.regs,
        forward: vm.forward,
        entry: vm.entry_chain,
        dispatch: vm.dispatch_chain,
        table: vm.table_transform,
        handlers: handlers.iter().map(|h| h.spec).collect(),
    }
}
