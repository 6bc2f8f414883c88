//! EFLAGS bits: the status flags the integer instructions write, and the control flags
//! user mode can see. [`super::Cpu::eflags`] holds them; [`super::alu`] computes them.

/// Carry flag (bit 0).
pub const CF: u32 = 1 << 0;
/// Parity flag (bit 2): set when the low 8 bits of the result have an even number of ones.
pub const PF: u32 = 1 << 2;
/// Auxiliary carry flag (bit 4): carry or borrow out of bit 3.
pub const AF: u32 = 1 << 4;
/// Zero flag (bit 6).
pub const ZF: u32 = 1 << 6;
/// Sign flag (bit 7).
pub const SF: u32 = 1 << 7;
/// Trap flag (bit 8).
pub const TF: u32 = 1 << 8;
/// Interrupt enable flag (bit 9).
pub const IF: u32 = 1 << 9;
/// Direction flag (bit 10).
pub const DF: u32 = 1 << 10;
/// Overflow flag (bit 11).
pub const OF: u32 = 1 << 11;
/// The six status flags the arithmetic instructions write.
pub const STATUS: u32 = CF | PF | AF | ZF | SF | OF;
