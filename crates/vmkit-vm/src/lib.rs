//! What both vmkit guests share: the file sandbox ([`sandbox`]), through which the native
//! machine's `sys open` and the x86 guest's Linux personality confine every path, so the
//! two guests cannot drift apart in what they let a program reach; a cache of decoded code
//! with per-range invalidation ([`code_cache`]); and why an engine stopped ([`stop`]).
//!
//! This crate sits below both guests (`vmkit-machine` and `vmkit-x86` depend on it) and
//! knows nothing about either instruction set.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod code_cache;
pub mod sandbox;
pub mod stop;
