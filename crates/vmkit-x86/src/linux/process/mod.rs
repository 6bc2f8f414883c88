//! Guest processes. Each guest process is a host process: `fork` forks the vmkit process
//! (guest memory is copied on write for free, and the child keeps the same sandbox), and a
//! forked child never returns to the embedder: when its guest process ends, its host
//! process ends the same way ([`end_forked_child`]), so the parent's `wait4` sees exactly
//! what a native parent sees. Guest pids are virtual and deterministic, kept in a table
//! shared by all the processes of a run.
//!
//! | module | owns |
//! |---|---|
//! | `table` | the shared process table (guest pid -> host pid, parent, group, session) |
//! | `fork` | `fork`, `vfork`, `clone` and `clone3` with fork-like flags; the hook for threads |
//! | `exec` | `execve`, `execveat`, `#!` scripts |
//! | `wait` | `wait4`, `waitpid`, `waitid` |
//! | `groups` | `getppid`, process groups and sessions, `kill` to other guest processes |
//! | `ending` | how a forked child's host process ends |

mod ending;
mod exec;
mod fork;
mod groups;
pub mod table;
mod wait;

pub use ending::{end_forked_child, Ending};
pub use fork::CloneArgs;

use super::errno::Errno;
use super::{Linux, GUEST_PID};
use std::rc::Rc;
use table::Table;

/// The personality's view of its own process among the guest's processes.
#[derive(Debug)]
pub(super) struct Process {
    /// Its guest pid.
    pid: u32,
    /// Its parent's guest pid; 0 for the first process (whose parent is outside the guest).
    parent: u32,
    /// Its parent's host pid (to notice that the parent ended: `getppid` then says 1).
    parent_host: i32,
    /// Whether this host process was forked by vmkit (and so must never return to the
    /// embedder).
    forked_child: bool,
    /// Whether any process of the run has forked: `--strace` lines then name their pid.
    forked: bool,
    /// The signal that ended the process, when one did.
    death: Option<i32>,
    /// The shared table, made at the first call that needs it.
    table: Option<Rc<Table>>,
    /// The call just made must not be logged by `--strace` (the child's side of a fork,
    /// which strace does not show either).
    quiet: bool,
    /// Whether the program path (`/proc/self/exe`) is a guest path, set by `execve`;
    /// otherwise it is the host path of the program the embedder loaded.
    exe_is_guest: bool,
    /// What `--strace` shows for a successful `execve` (its arguments are gone with the old
    /// address space when the line is written).
    exec_line: Option<String>,
    /// The (host pid, guest pid) of the children reaped last, newest at the end: their
    /// SIGCHLD may still be on its way when the wait has already removed them from the
    /// table, and its `si_pid` must still be the guest pid.
    reaped: Vec<(i32, u32)>,
}

/// How many reaped children [`Process::reaped`] remembers.
const REAPED_KEPT: usize = 64;

impl Default for Process {
    fn default() -> Process {
        Process {
            pid: GUEST_PID,
            parent: 0,
            parent_host: 0,
            forked_child: false,
            forked: false,
            death: None,
            table: None,
            quiet: false,
            exe_is_guest: false,
            exec_line: None,
            reaped: Vec::new(),
        }
    }
}

impl Linux {
    /// The guest pid of the process.
    pub(super) fn pid(&self) -> u32 {
        self.process.pid
    }

    /// Whether this host process was forked by vmkit for a guest `fork`: it must end when
    /// its guest process ends, never return to the embedder (see [`end_forked_child`]).
    pub fn is_forked_child(&self) -> bool {
        self.process.forked_child
    }

    /// The signal that ended the process, when a signal did (for a forked child's host
    /// process to end the same way). Whoever ends the process by a signal records it with
    /// [`Linux::record_death`].
    pub fn death_signal(&self) -> Option<i32> {
        self.process.death
    }

    /// The guest pid of the process with host pid `host`, if it is a guest process (the
    /// sender of a host signal).
    pub(super) fn guest_pid_of_host(&self, host: i32) -> Option<u32> {
        let table = self.process.table.as_ref()?;
        table.by_host(host).map(|e| e.pid).or_else(|| {
            let mut reaped = self.process.reaped.iter().rev();
            reaped.find(|(h, _)| *h == host).map(|&(_, pid)| pid)
        })
    }

    /// Remembers a child that a wait reaped (see [`Process::reaped`]).
    fn remember_reaped(&mut self, host: i32, pid: u32) {
        let reaped = &mut self.process.reaped;
        if reaped.len() == REAPED_KEPT {
            reaped.remove(0);
        }
        reaped.push((host, pid));
    }

    /// Records that signal `sig` ends the process.
    pub(super) fn record_death(&mut self, sig: i32) {
        self.process.death = Some(sig);
    }

    /// The prefix of `--strace` lines: `[pid N] ` once a process has forked, as `strace -f`
    /// writes.
    pub(super) fn strace_prefix(&self) -> String {
        if self.process.forked {
            format!("[pid {}] ", self.process.pid)
        } else {
            String::new()
        }
    }

    /// Whether `--strace` must not log the call just made (and forgets it).
    pub(super) fn take_strace_quiet(&mut self) -> bool {
        std::mem::take(&mut self.process.quiet)
    }

    /// The `--strace` line of the `execve` that just succeeded.
    pub(super) fn take_exec_line(&mut self) -> Option<String> {
        self.process.exec_line.take()
    }

    /// The shared process table, made on first use (by the first process: every other
    /// one is forked after it exists).
    fn table(&mut self) -> Result<Rc<Table>, Errno> {
        if let Some(t) = &self.process.table {
            return Ok(t.clone());
        }
        let t = Rc::new(Table::new()?);
        self.process.table = Some(t.clone());
        Ok(t)
    }

    /// The next process or thread id, from the counter all the run's processes share (for
    /// the threads part: a new thread's tid).
    #[allow(dead_code)] // the threads part's
    pub(super) fn next_id(&mut self) -> Result<u32, Errno> {
        Ok(self.table()?.next_id())
    }
}
