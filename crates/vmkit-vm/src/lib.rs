//! What both vmkit guests share, so the two cannot drift apart:
//!
//! | module | owns |
//! |---|---|
//! | [`sandbox`] | the file sandbox: the native machine's `sys open` and the x86 guest's Linux personality confine every path through it |
//! | [`signal`] | the one signal table (numbers, names, descriptions) and the 128+n exit-status rule |
//! | [`stdio`] | a guest's standard streams: host, captured in memory, or any writer; stdin from the host or given bytes |
//! | [`debug`] | the [`debug::DebugTarget`] interface both machines implement for debuggers |
//! | [`code_cache`] | a cache of decoded code: blocks by start address, registered per page, dropped per written range |
//! | [`stop`] | why an engine stopped: budget spent, code written, a fault, or an event for the run loop |
//!
//! This crate sits below both guests (`vmkit-machine` and `vmkit-x86` depend on it) and
//! knows nothing about either instruction set.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod code_cache;
pub mod debug;
pub mod sandbox;
pub mod signal;
pub mod stdio;
pub mod stop;
