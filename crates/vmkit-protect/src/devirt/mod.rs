//! The devirtualizer: recovers the plain program from a protected image alone, with no
//! seed and no side file ([`devirtualize`]), and says what it found ([`explain`]).
//!
//! 1. `entry`: find the entry stubs, parse each VM's vm_entry and calc_jmp (register
//!    roles, VIP direction, the entry chain, the dispatch chain, the handler table and its
//!    transform) and decrypt the handler table. Parsing follows what the code does to each
//!    register, not byte patterns, so register choice does not matter.
//! 2. `classify`: run every handler on random VM states and compare its effect with
//!    each virtual instruction's; read each immediate chain off the run.
//! 3. `lift`: decrypt virtual blocks with the recovered profile and run the lowering
//!    templates backwards to native instructions.
//! 4. `rebuild`: follow every virtual path, write the code back, drop the VM.
//!
//! The stages are private; the result is [`Devirtualized`], with one [`RecoveredVm`] per
//! VM and one [`RecoveredFn`] per function.

mod classify;
pub(crate) mod entry;
mod explain;
mod lift;
mod rebuild;
#[cfg(test)]
mod tests;

pub use explain::explain;
pub use rebuild::{devirtualize, Devirtualized, RecoveredFn, RecoveredVm};

use core::fmt;

/// Why an image cannot be devirtualized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevirtError {
    /// No entry stub (`push imm32; jmp vm_entry`) leads to a VM entry.
    NotProtected,
    /// The image's header contradicts its segments (not the VM's fault).
    BadHeader(String),
    /// Something that should be VM code is not what the protector builds.
    Corrupt {
        /// Where.
        at: u64,
        /// What was expected.
        what: String,
    },
}

impl DevirtError {
    /// [`DevirtError::Corrupt`] at `at`, expecting `what`.
    pub fn corrupt(at: u64, what: impl Into<String>) -> DevirtError {
        DevirtError::Corrupt {
            at,
            what: what.into(),
        }
    }
}

impl fmt::Display for DevirtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevirtError::NotProtected => write!(
                f,
                "not a protected image: no entry stub (push imm32; jmp) leads to a VM entry"
            ),
            DevirtError::BadHeader(why) => write!(f, "the image's header is damaged: {why}"),
            DevirtError::Corrupt { at, what } => {
                write!(f, "damaged VM code at {at:#x}: expected {what}")
            }
        }
    }
}

impl std::error::Error for DevirtError {}
