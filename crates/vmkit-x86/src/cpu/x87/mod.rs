//! The x87 FPU: 80-bit extended-precision state and instruction semantics.
//!
//! | file | owns |
//! |---|---|
//! | `f80` | the 80-bit format as raw bits, operand classes, loads from m32/m64/int/BCD |
//! | `round` | precision and rounding control, exception flags of a rounding, stores to m32/m64 |
//! | `arith` | exact arithmetic: + - × ÷ √, compare, frndint, fscale, fxtract, fprem(1) |
//! | `transcendental` | fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1: special operands, flags, rounding |
//! | `precise` | their mathematical cores in a 124-bit soft float (correctly rounded results) |
//! | `state` | registers, TOP, tags, control/status words, fnstenv/fnsave images |
//! | `exec` | dispatch: pending exceptions, last-instruction pointers, then the family |
//! | `insn/` | instruction semantics by family (load/store, arithmetic, compare, transcendental, control), stack faults |
//!
//! Arithmetic is exact through `rustc_apfloat` (see `round` for how precision control is
//! honoured without double rounding), transcendentals are correctly rounded from 124 bits;
//! `docs/x86.md` lists what is not bit-exact (where the CPU itself is not correctly rounded).

mod arith;
mod exec;
mod f80;
mod insn;
mod precise;
mod round;
mod state;
mod transcendental;

pub(super) use exec::{exec, is_x87};
pub use f80::F80;
pub use state::{sw, Fpu, DEFAULT_CW};
