//! The vmkit protector: VMProtect-2-style virtualization of native programs.
//!
//! [`protect`] takes a native image and returns one in which the chosen functions run in
//! virtual machines that the image itself carries as native code (vm_entry, the calc_jmp
//! dispatcher, vm_exit and 256 handlers per VM), generated per build from a seed:
//! - virtual code is a stack machine's ([`profile::VKind`]), lowered from native
//!   instructions with sub/and/or/xor/not built from `nand` and `add`;
//! - opcodes are encrypted with a rolling key and three transforms, immediates with a
//!   chain per handler, handler-table entries and entry offsets with their own
//!   transforms ([`profile::Transform`], [`profile::KeyChain`]);
//! - everything secret is one [`Profile`]: register roles, VIP direction, chains,
//!   the opcode permutation with aliases. It has a text form ([`Profile::to_text`],
//!   [`Profile::parse`]).
//!
//! [`devirtualize`] undoes it from the protected image alone, and [`diversity`] measures
//! how different builds are.
//!
//! The public API is [`protect`] with its [`Options`] and [`Report`], the [`profile`]
//! types, the devirtualizer ([`devirt`]) and [`diversity`]; the pipeline's stages
//! (discovery, lowering, code generation, encryption, translation) are private.
//!
//! See `docs/protector.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod build;
mod bytecode;
mod context;
pub mod devirt;
mod discover;
mod lower;
mod native;
pub mod profile;
mod profile_text;
mod rng;
mod stats;
mod trailer;
mod transform;
#[cfg(test)]
mod transforms_tests;
mod translate;
mod vmgen;
mod vop;

pub use build::{protect, Options, ProtectError, ProtectedFn, Report, VmInfo};
pub use devirt::{devirtualize, explain, DevirtError, Devirtualized};
pub use profile::{Profile, VmProfile};
pub use profile_text::ProfileTextError;
pub use stats::{diversity, Diversity};
