//! Threads of the guest process: creating them (`clone` with `CLONE_THREAD`, `clone3`),
//! scheduling them on the one host thread, `futex`, robust futex lists, and a thread's
//! life (`exit` of one thread, `set_tid_address`, `gettid`, `tgkill`/`tkill`). Their state
//! (registers, wait, signal state) is [`super::task`]'s `Thread`.
//!
//! | module | owns |
//! |---|---|
//! | `scheduler` | round-robin by instruction count in `Kernel::at_boundary`, blocking, sleeping, deadlock |
//! | `futex` | `futex`, `futex_time64`: wait, wake, requeue, bitsets, wake-op, timeouts |
//! | `clone` | `clone(CLONE_THREAD)` and `clone3` of a thread |
//! | `robust` | `set_robust_list`, `get_robust_list`, the walk of the list when a thread exits |
//! | `life` | `exit` of one thread, `set_tid_address`, `gettid`, `tgkill`, `tkill` |

mod clone;
mod futex;
mod life;
mod robust;
mod scheduler;

pub(super) use clone::CLONE_THREAD;
pub use scheduler::DEADLOCK_STATUS;
