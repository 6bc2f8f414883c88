//! The devirtualizer: recovers what a protected image's VMs are from the image alone.
//!
//! Stage 1 ([`entry`]): find the entry stubs, parse each VM's vm_entry and calc_jmp
//! (register roles, VIP direction, the entry chain, the dispatch chain, the handler table
//! and its transform) and decrypt the handler table. Parsing follows what the code does
//! to each register, not byte patterns, so register choice does not matter.

pub mod classify;
pub mod entry;
pub mod lift;
pub mod rebuild;

use core::fmt;

/// Why an image cannot be devirtualized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevirtError {
    /// No entry stub (`push imm32; jmp vm_entry`) leads to a VM entry.
    NotProtected,
    /// Something that should be VM code is not what the protector builds.
    Corrupt {
        /// Where.
        at: u64,
        /// What was expected.
        what: String,
    },
}

impl fmt::Display for DevirtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevirtError::NotProtected => write!(
                f,
                "not a protected image: no entry stub (push imm32; jmp) leads to a VM entry"
            ),
            DevirtError::Corrupt { at, what } => {
                write!(f, "damaged VM code at {at:#x}: expected {what}")
            }
        }
    }
}

impl std::error::Error for DevirtError {}
