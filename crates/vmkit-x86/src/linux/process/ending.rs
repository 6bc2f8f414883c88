//! How a forked child's host process ends: as its guest process did, so that the parent's
//! `wait4` sees what a native parent sees. An exit status becomes the host process's exit
//! status; a signal death becomes a host death by the same signal (default disposition,
//! no core file).

use std::io::Write;

/// How the guest process of a forked child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `exit` / `exit_group` with this status.
    Exited(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// Ends this host process as `ending` says. Never returns: a forked child must never go
/// back to the embedder's code, which belongs to the first process.
pub fn end_forked_child(ending: Ending) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    match ending {
        Ending::Signal(sig) => die_by(sig),
        // SAFETY: _exit ends the process at once; nothing of Rust's state is needed after it.
        Ending::Exited(status) => unsafe { libc::_exit(status & 0xff) },
    }
}

/// Dies by signal `sig` as a process with its default disposition does, without a core
/// file; `_exit(128 + sig)` if the signal somehow does not end the process.
fn die_by(sig: i32) -> ! {
    // SAFETY: plain calls on this process's own signal state and limits; no memory is
    // shared with anything that could be running.
    unsafe {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}
