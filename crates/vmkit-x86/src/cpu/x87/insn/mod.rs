//! x87 instruction semantics by family; [`super::exec`] dispatches to them.
//!
//! | file | owns |
//! |---|---|
//! | `operand` | stack registers and memory operands, stack faults, the exception order |
//! | `load_store` | `fld`/`fild`/`fbld`, constants, stores in every format, `fxch`, `fcmovcc`, `ffree` |
//! | `arithmetic` | `fadd`...`fdivr`, `fchs`/`fabs`, `fsqrt`, `frndint`, `f2xm1`, `fscale`, `fprem`, `fxtract` |
//! | `compare` | `fcom`/`fucom`/`ficom`/`ftst` (condition codes), `fcomi`/`fucomi` (EFLAGS), `fxam` |
//! | `transcendental` | `fsin`, `fcos`, `fptan`, `fsincos`, `fyl2x`, `fyl2xp1`, `fpatan` |
//! | `control` | `finit`, `fclex`, control/status words, environment and state images |

pub(super) mod arithmetic;
pub(super) mod compare;
pub(super) mod control;
pub(super) mod load_store;
pub(super) mod operand;
pub(super) mod transcendental;
