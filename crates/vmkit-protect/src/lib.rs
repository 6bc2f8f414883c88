//! The vmkit protector: VMProtect-2-style virtualization of native programs.
//!
//! [`protect`] takes a native image and returns one in which the chosen functions run in
//! virtual machines that the image itself carries as native code (vm_entry, the calc_jmp
//! dispatcher, vm_exit and 256 handlers per VM), generated per build from a seed:
//! - virtual code is a stack machine's ([`vop`]), lowered from native instructions
//!   ([`lower`]) with sub/and/or/xor/not built from `nand` and `add`;
//! - opcodes are encrypted with a rolling key and three transforms, immediates with a
//!   chain per handler, handler-table entries and entry offsets with their own
//!   transforms ([`transform`], [`bytecode`]);
//! - everything secret is one [`profile::Profile`]: register roles, VIP direction, chains,
//!   the opcode permutation with aliases.
//!
//! See `docs/protector.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod build;
pub mod bytecode;
pub mod context;
pub mod devirt;
pub mod discover;
pub mod lower;
pub mod native;
pub mod profile;
pub mod profile_text;
pub mod rng;
pub mod stats;
pub mod trailer;
pub mod transform;
pub mod translate;
pub mod vmgen;
pub mod vop;

pub use build::{protect, Options, ProtectError, ProtectedFn, Report, VmInfo};
pub use profile::{Profile, VmProfile};
