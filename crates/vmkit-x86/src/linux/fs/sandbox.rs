//! The file-system sandbox. It lives in `vmkit-vm`, shared with the native machine's
//! `sys open`, so both guests confine paths the same way; see
//! [`vmkit_vm::sandbox`] for the rules (a component-by-component walk from descriptors of
//! the mounts, links checked at every component, `ELOOP` after 40, non-blocking opens).

pub use vmkit_vm::sandbox::*;
