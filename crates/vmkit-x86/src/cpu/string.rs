//! String instructions (`movs`, `stos`, `lods`, `cmps`, `scas`) with `rep`, `repe` and
//! `repne`. Registers advance after every element, so a fault in the middle of a `rep`
//! leaves ecx, esi and edi where the CPU would. Under a 0x67 prefix the instruction uses
//! si, di and cx, which wrap at 64 KiB and leave the registers' upper halves alone.

use super::alu::{self, Width};
use super::flags::{DF, TF, ZF};
use super::operand::{read_mem, write_mem, ExecError, Result};
use super::{Cpu, Seg, ECX, EDI, ESI};
use iced_x86::{Instruction, Mnemonic as M, OpKind};
use vmkit_mem::Memory;

fn width(m: M) -> Width {
    match m {
        M::Movsb | M::Stosb | M::Lodsb | M::Cmpsb | M::Scasb => Width::B8,
        M::Movsw | M::Stosw | M::Lodsw | M::Cmpsw | M::Scasw => Width::W16,
        _ => Width::D32,
    }
}

/// Executes one string instruction, all repetitions included; with the trap flag set, one
/// repetition only, as the CPU traps after each: then `true` while repetitions remain (eip
/// stays on the instruction).
pub(super) fn exec_string(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<bool> {
    let m = insn.mnemonic();
    let w = width(m);
    let step = if cpu.flag(DF) {
        (w.bits() / 8).wrapping_neg()
    } else {
        w.bits() / 8
    };
    // The source segment may be overridden (fs:/gs:); the destination is always es.
    let src_base = cpu.seg_base[super::operand::seg_of(insn.memory_segment()) as usize];
    let dst_base = cpu.seg_base[Seg::Es as usize];
    let addr16 = (0..insn.op_count())
        .any(|i| matches!(insn.op_kind(i), OpKind::MemorySegSI | OpKind::MemoryESDI));
    let addr_mask = if addr16 { 0xffff } else { u32::MAX };
    // Moves si/di/cx (or esi/edi/ecx) by `delta` within the address size.
    let advance = |r: u32, delta: u32| (r & !addr_mask) | (r.wrapping_add(delta) & addr_mask);
    let rep = insn.has_rep_prefix() || insn.has_repne_prefix();
    let compares = matches!(
        m,
        M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Scasb | M::Scasw | M::Scasd
    );
    loop {
        if rep && cpu.regs[ECX] & addr_mask == 0 {
            break;
        }
        let src = src_base.wrapping_add(cpu.regs[ESI] & addr_mask);
        let dst = dst_base.wrapping_add(cpu.regs[EDI] & addr_mask);
        match m {
            M::Movsb | M::Movsw | M::Movsd => {
                let v = read_mem(mem, src, w)?;
                write_mem(mem, dst, w, v)?;
                cpu.regs[ESI] = advance(cpu.regs[ESI], step);
                cpu.regs[EDI] = advance(cpu.regs[EDI], step);
            }
            M::Stosb | M::Stosw | M::Stosd => {
                write_mem(mem, dst, w, cpu.acc(w))?;
                cpu.regs[EDI] = advance(cpu.regs[EDI], step);
            }
            M::Lodsb | M::Lodsw | M::Lodsd => {
                let v = read_mem(mem, src, w)?;
                cpu.set_acc(w, v);
                cpu.regs[ESI] = advance(cpu.regs[ESI], step);
            }
            M::Cmpsb | M::Cmpsw | M::Cmpsd => {
                let a = read_mem(mem, src, w)?;
                let b = read_mem(mem, dst, w)?;
                cpu.eflags = alu::cmp(w, a, b, cpu.eflags);
                cpu.regs[ESI] = advance(cpu.regs[ESI], step);
                cpu.regs[EDI] = advance(cpu.regs[EDI], step);
            }
            M::Scasb | M::Scasw | M::Scasd => {
                let b = read_mem(mem, dst, w)?;
                cpu.eflags = alu::cmp(w, cpu.acc(w), b, cpu.eflags);
                cpu.regs[EDI] = advance(cpu.regs[EDI], step);
            }
            other => return Err(ExecError::Unimplemented(other)),
        }
        if !rep {
            break;
        }
        cpu.regs[ECX] = advance(cpu.regs[ECX], u32::MAX);
        if compares {
            let zf = cpu.flag(ZF);
            // repe/repz continues while equal; repne/repnz while not equal.
            if (insn.has_repe_prefix() && !zf) || (insn.has_repne_prefix() && zf) {
                break;
            }
        }
        if cpu.flag(TF) {
            return Ok(cpu.regs[ECX] & addr_mask != 0);
        }
    }
    Ok(false)
}
