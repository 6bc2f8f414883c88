//! `modify_ldt`: the process's local descriptor table, as Linux keeps it
//! (arch/x86/kernel/ldt.c). Reading gives the raw descriptors; writing fills one from a
//! `struct user_desc`. The table lives in the CPU state ([`Cpu::ldt`]), where segment loads
//! find an LDT selector's base (`Cpu::load_segment`).

use super::{guest, Errno};
use crate::cpu::{Cpu, Seg};
use vmkit_mem::Memory;

/// Most entries an LDT has (`LDT_ENTRIES`).
const LDT_ENTRIES: u32 = 8192;
/// `sizeof(struct user_desc)`.
const USER_DESC_SIZE: u32 = 16;
/// How much `modify_ldt(2)` (the default LDT, empty) zeroes at most.
const DEFAULT_LDT_SIZE: u32 = 128;

/// `modify_ldt(func, ptr, bytecount)`: 0 reads the table, 1 writes an entry (the old
/// mode: the "useable" bit dropped), 2 reads the (empty) default table, 0x11 writes an
/// entry.
pub(super) fn modify_ldt(
    cpu: &mut Cpu,
    mem: &mut Memory,
    func: u32,
    ptr: u32,
    count: u32,
) -> Result<u32, Errno> {
    match func {
        0 => read_ldt(cpu, mem, ptr, count),
        1 => write_ldt(cpu, mem, ptr, count, true),
        2 => {
            let n = count.min(DEFAULT_LDT_SIZE);
            guest::store(mem, ptr, &vec![0; n as usize])?;
            Ok(n)
        }
        0x11 => write_ldt(cpu, mem, ptr, count, false),
        _ => Err(Errno::ENOSYS),
    }
}

/// Copies the table's descriptors, zero-filling up to `count` bytes; nothing when no LDT
/// was ever written.
fn read_ldt(cpu: &Cpu, mem: &mut Memory, ptr: u32, count: u32) -> Result<u32, Errno> {
    if cpu.ldt.is_empty() {
        return Ok(0);
    }
    let count = count.min(LDT_ENTRIES * 8);
    let mut bytes: Vec<u8> = cpu.ldt.iter().flat_map(|d| d.to_le_bytes()).collect();
    bytes.resize(count as usize, 0);
    guest::store(mem, ptr, &bytes)?;
    Ok(count)
}

/// Writes one entry from the `struct user_desc` at `ptr`.
fn write_ldt(
    cpu: &mut Cpu,
    mem: &mut Memory,
    ptr: u32,
    count: u32,
    old_mode: bool,
) -> Result<u32, Errno> {
    if count != USER_DESC_SIZE {
        return Err(Errno::EINVAL);
    }
    let entry = guest::u32_at(mem, ptr)?;
    let base = guest::u32_at(mem, ptr.wrapping_add(4))?;
    let limit = guest::u32_at(mem, ptr.wrapping_add(8))?;
    let flags = guest::u32_at(mem, ptr.wrapping_add(12))?;
    if entry >= LDT_ENTRIES {
        return Err(Errno::EINVAL);
    }
    let bit = |n: u32| (flags >> n) & 1;
    let (seg_32bit, contents, read_exec_only) = (bit(0), (flags >> 1) & 3, bit(3));
    let (limit_in_pages, seg_not_present, useable) = (bit(4), bit(5), bit(6));
    if contents == 3 && (old_mode || seg_not_present == 0) {
        return Err(Errno::EINVAL);
    }
    let empty = base == 0
        && limit == 0
        && (old_mode
            || (contents == 0
                && read_exec_only == 1
                && seg_32bit == 0
                && limit_in_pages == 0
                && seg_not_present == 1
                && useable == 0));
    let descriptor = if empty {
        0
    } else {
        // The accessed bit is set, as the kernel does, so that the CPU never has to write
        // the descriptor.
        let ty = ((read_exec_only ^ 1) << 1) | (contents << 2) | 1;
        let avl = if old_mode { 0 } else { useable };
        let lo = (limit & 0xffff) | ((base & 0xffff) << 16);
        let hi = ((base >> 16) & 0xff)
            | (ty << 8)
            | (1 << 12) // a code or data segment
            | (3 << 13) // privilege 3
            | ((seg_not_present ^ 1) << 15)
            | (limit & 0xf_0000)
            | (avl << 20)
            | (seg_32bit << 22)
            | (limit_in_pages << 23)
            | (base & 0xff00_0000);
        ((hi as u64) << 32) | lo as u64
    };
    let entry = entry as usize;
    if cpu.ldt.len() <= entry {
        cpu.ldt.resize(entry + 1, 0);
    }
    cpu.ldt[entry] = descriptor;
    // Segment registers holding this selector take the new base: the kernel reloads them.
    for seg in [Seg::Es, Seg::Ss, Seg::Ds, Seg::Fs, Seg::Gs] {
        let selector = cpu.selectors[seg as usize];
        if selector & 4 != 0 && (selector >> 3) as usize == entry {
            cpu.load_segment(seg, selector);
        }
    }
    Ok(0)
}
