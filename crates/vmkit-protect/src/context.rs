//! The VM context: the virtual registers a VM keeps in memory while it runs.
//!
//! vm_entry stores the sixteen native registers, the stack pointer and the flags here;
//! virtual code works on these slots; vm_exit loads them back. The context is static, one
//! per VM instance: no VM state lives across a vm_exit (every exit hands the whole program
//! state back to the native registers), so nested entries through calls are safe.

/// Bytes per slot.
pub const SLOT: u64 = 8;
/// Slot of the program's `sp`.
pub const SP: u64 = 16;
/// Slot of the program's flags.
pub const FLAGS: u64 = 17;
/// First scratch slot (`t0`); the translator uses `t0`..`t3` inside one native instruction.
pub const T0: u64 = 18;
/// Scratch slot for values that are thrown away (flags nobody reads).
pub const DROP: u64 = 22;
/// Where the exit handler leaves the native address vm_exit jumps to.
pub const TARGET: u64 = 23;
/// Number of slots.
pub const SLOTS: u64 = 24;
/// Bytes of the virtual stack (the deepest lowering needs a handful of slots).
pub const STACK_BYTES: u64 = 1024;
/// Bytes of one VM's data: the context, then the virtual stack.
pub const DATA_BYTES: u64 = SLOTS * SLOT + STACK_BYTES;

/// The byte offset of a slot, as virtual code carries it.
pub const fn offset(slot: u64) -> u64 {
    slot * SLOT
}

/// The name of the slot at byte offset `off`: `r3`, `sp`, `flags`, `t1`, `drop`, `target`.
pub fn slot_name(off: u64) -> String {
    if off % SLOT != 0 {
        return format!("ctx+{off:#x}");
    }
    match off / SLOT {
        n @ 0..=15 => format!("r{n}"),
        SP => "sp".into(),
        FLAGS => "flags".into(),
        n @ T0..=21 => format!("t{}", n - T0),
        DROP => "drop".into(),
        TARGET => "target".into(),
        _ => format!("ctx+{off:#x}"),
    }
}
