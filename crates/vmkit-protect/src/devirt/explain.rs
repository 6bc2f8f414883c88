//! `vmkit devirt --explain`: what the devirtualizer recovered, as the VMP2 profilers
//! print it: per VM the addresses, register roles, VIP direction, the chains, the handler
//! table with each handler's kind, immediate chain and size; per function the virtual code
//! listing with the native instruction each run of virtual instructions came from.

use super::lift::{Dest, Escaped, Lifted, Term};
use super::rebuild::Devirtualized;
use crate::vop::VKind;
use std::collections::BTreeMap;
use std::fmt::Write;
use vmkit_isa::{Instr, Op, Size};

fn dest(d: &Dest) -> String {
    match d {
        Dest::Block(a) => format!("block {a:#x}"),
        Dest::Native(a) => format!("{a:#x}"),
    }
}

fn term(t: &Term) -> String {
    match t {
        Term::Jmp(d) => format!("jmp {}", dest(d)),
        Term::Jcc(c, t, f) => format!("j{} {}, else {}", c.name(), dest(t), dest(f)),
        Term::JmpInd(o) => Instr::new(Op::JmpInd, Size::Q, &[*o]).to_string(),
        Term::Ret => "ret".into(),
        Term::Escape(e, cont) => {
            let e = match e {
                Escaped::Call(t) => format!("call {t:#x}"),
                Escaped::Instr(i) => i.to_string(),
            };
            match cont {
                Some(d) => format!("{e} (native), then {}", dest(d)),
                None => format!("{e} (native)"),
            }
        }
    }
}

fn listing(out: &mut String, b: &Lifted) {
    let _ = writeln!(out, "  block {:#x}:", b.addr);
    let starts: BTreeMap<usize, String> =
        b.body.iter().map(|(at, i)| (*at, i.to_string())).collect();
    for (n, d) in b.code.iter().enumerate() {
        let native = if n == b.term_at {
            term(&b.end)
        } else {
            starts.get(&n).cloned().unwrap_or_default()
        };
        let op = d.op.to_string();
        if native.is_empty() {
            let _ = writeln!(out, "    {:#x}  [{:#04x}] {op}", d.at, d.opcode);
        } else {
            let _ = writeln!(
                out,
                "    {:#x}  [{:#04x}] {op:<24} ; {native}",
                d.at, d.opcode
            );
        }
    }
}

/// The report.
pub fn explain(d: &Devirtualized) -> String {
    let mut s = String::new();
    for (k, vm) in d.vms.iter().enumerate() {
        let e = &vm.entry;
        let _ = writeln!(
            s,
            "VM {k}: vm_entry {:#x}, calc_jmp {:#x}, vm_exit {:#x}",
            e.entry, e.dispatch, e.exit
        );
        let _ = writeln!(
            s,
            "  context {:#x}, virtual stack top {:#x}, virtual code base {:#x}, handler base {:#x}",
            e.ctx, e.vstack_top, e.bytecode_base, e.handler_base
        );
        let _ = writeln!(
            s,
            "  VIP {}, VSP {}, key {}; VIP runs {}",
            e.regs.vip,
            e.regs.vsp,
            e.regs.key,
            if e.forward { "forward" } else { "backward" }
        );
        let _ = writeln!(s, "  entry chain (32-bit offset): {}", e.entry_chain);
        let _ = writeln!(s, "  dispatch chain (opcode): {}", e.dispatch_chain);
        let _ = writeln!(
            s,
            "  handler table {:#x}, entries decrypted with: {}",
            e.table, e.table_transform
        );
        let _ = writeln!(s, "  entry stubs: {}", e.stubs.len());
        let mut kinds: BTreeMap<VKind, usize> = BTreeMap::new();
        for h in &vm.handlers {
            *kinds.entry(h.spec.kind).or_default() += 1;
        }
        let _ = writeln!(
            s,
            "  handlers: 256 opcodes, {} kinds (the rest are aliases)",
            kinds.len()
        );
        for (b, h) in vm.handlers.iter().enumerate() {
            let chain = h.spec.imm.map_or(String::new(), |c| format!("  imm: {c}"));
            let _ = writeln!(
                s,
                "    {b:#04x} {:<9} at {:#x}: {} instructions, {} beyond the template{chain}",
                h.spec.kind.to_string(),
                e.handlers[b],
                h.steps,
                h.extra
            );
        }
    }
    for f in &d.functions {
        let vinstrs = f.virtual_instructions();
        let natives = f.native_instructions();
        let _ = writeln!(
            s,
            "function {} at {:#x} (VM {}): {} blocks, {vinstrs} virtual instructions -> {natives} native instructions and the blocks' branches, {} bytes{}",
            f.name,
            f.start,
            f.vm,
            f.block_count(),
            f.bytes,
            f.moved_to
                .map_or(String::new(), |a| format!(", moved to {a:#x}"))
        );
        for b in &f.blocks {
            listing(&mut s, b);
        }
    }
    s
}
