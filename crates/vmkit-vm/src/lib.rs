//! What both vmkit guests share. Today that is the file sandbox ([`sandbox`]): the native
//! machine's `sys open` and the x86 guest's Linux personality confine every path through
//! it, so the two guests cannot drift apart in what they let a program reach.
//!
//! This crate sits below both guests (`vmkit-machine` and `vmkit-x86` depend on it) and
//! knows nothing about either instruction set.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod sandbox;
pub mod signal;
pub mod stdio;
