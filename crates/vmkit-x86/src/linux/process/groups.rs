//! `getppid`, process groups and sessions (`getpgid`, `setpgid`, `getpgrp`, `getsid`,
//! `setsid`) as records of the shared table, and `kill` to other guest processes and to
//! process groups: a host `kill` of the host pid the table gives, never of anything the
//! table does not hold. The host's own process groups stay as they are, so the host's
//! Ctrl-C still reaches every guest process.

use super::super::errno::Errno;
use super::super::{Completion, Linux};
use super::table::Entry;

impl Linux {
    /// The table's record of this process.
    pub(super) fn own_entry(&mut self) -> Result<Entry, Errno> {
        let pid = self.process.pid;
        self.table()?.get(pid).ok_or(Errno::ESRCH)
    }

    /// `getppid`: the parent's guest pid; 1 once the parent has ended (the child was
    /// reparented), and for the first process, whose parent is outside the guest.
    pub(in crate::linux) fn getppid(&mut self) -> Result<u32, Errno> {
        if self.process.parent == 0 {
            return Ok(1);
        }
        // SAFETY: getppid has no preconditions.
        let host_parent = unsafe { libc::getppid() };
        Ok(if host_parent == self.process.parent_host {
            self.process.parent
        } else {
            1
        })
    }

    /// The record of `pid` (0: this process), or `ESRCH`.
    fn entry_of(&mut self, pid: u32) -> Result<Entry, Errno> {
        if pid == 0 {
            return self.own_entry();
        }
        let e = self.table()?.get(pid).ok_or(Errno::ESRCH)?;
        if pid != self.process.pid && self.table()?.live_host(pid).is_none() {
            return Err(Errno::ESRCH);
        }
        Ok(e)
    }

    /// `getpgid(pid)`, `getpgrp()` (`getpgid(0)`).
    pub(in crate::linux) fn getpgid(&mut self, pid: u32) -> Result<u32, Errno> {
        Ok(self.entry_of(pid)?.pgid)
    }

    /// `getsid(pid)`.
    pub(in crate::linux) fn getsid(&mut self, pid: u32) -> Result<u32, Errno> {
        Ok(self.entry_of(pid)?.sid)
    }

    /// `setpgid(pid, pgid)`, with Linux's checks: the target is this process or a child
    /// (`ESRCH`) in the same session that has not called `execve` (`EACCES`), not a
    /// session leader (`EPERM`); the group is its own pid or an existing group of the
    /// session (`EPERM`).
    pub(in crate::linux) fn setpgid(&mut self, pid: u32, pgid: u32) -> Result<u32, Errno> {
        if (pgid as i32) < 0 {
            return Err(Errno::EINVAL);
        }
        let me = self.own_entry()?;
        let target = if pid == 0 || pid == me.pid {
            me
        } else {
            let e = self.table()?.get(pid).ok_or(Errno::ESRCH)?;
            if e.ppid != me.pid {
                return Err(Errno::ESRCH);
            }
            if e.sid != me.sid {
                return Err(Errno::EPERM);
            }
            if e.execed {
                return Err(Errno::EACCES);
            }
            e
        };
        let pgid = if pgid == 0 { target.pid } else { pgid };
        if target.sid == target.pid {
            return Err(Errno::EPERM);
        }
        if pgid != target.pid {
            let exists = self
                .table()?
                .entries()
                .iter()
                .any(|e| e.pgid == pgid && e.sid == me.sid);
            if !exists {
                return Err(Errno::EPERM);
            }
        }
        self.table()?.set_group(target.pid, pgid, None);
        Ok(0)
    }

    /// `setsid`: a new session and process group led by this process, unless it already
    /// leads a process group (`EPERM`).
    pub(in crate::linux) fn setsid(&mut self) -> Result<u32, Errno> {
        let me = self.own_entry()?;
        let table = self.table()?;
        if table.entries().iter().any(|e| e.pgid == me.pid) {
            return Err(Errno::EPERM);
        }
        table.set_group(me.pid, me.pid, Some(me.pid));
        Ok(me.pid)
    }

    /// `kill(pid, sig)`: to this process (the signal part's [`Linux::kill`]), to another
    /// guest process, to a process group (`0`: this one; `-pgid`), or to every guest
    /// process but this one (`-1`). Only processes of the table can be reached (`ESRCH`).
    pub(in crate::linux) fn kill_process(&mut self, pid: u32, sig: u32) -> Completion {
        if sig > 64 {
            return Err(Errno::EINVAL).into();
        }
        let me = self.process.pid;
        let targets: Vec<u32> = match pid as i32 {
            p if p > 0 && p as u32 == me => return self.kill(0, sig).into(),
            p if p > 0 => vec![p as u32],
            i32::MIN => return Err(Errno::ESRCH).into(),
            _ => {
                let group = match pid as i32 {
                    0 => match self.own_entry() {
                        Ok(e) => Some(e.pgid),
                        Err(e) => return Err(e).into(),
                    },
                    -1 => None,
                    p => Some(p.unsigned_abs()),
                };
                let table = match self.table() {
                    Ok(t) => t,
                    Err(e) => return Err(e).into(),
                };
                table
                    .entries()
                    .iter()
                    .filter(|e| group.is_none_or(|g| e.pgid == g))
                    .filter(|e| !(group.is_none() && e.pid == me))
                    .map(|e| e.pid)
                    .collect()
            }
        };
        let table = match self.table() {
            Ok(t) => t,
            Err(e) => return Err(e).into(),
        };
        let mut sent = 0;
        let mut to_self = false;
        for target in targets {
            if target == me {
                to_self = true;
                sent += 1;
                continue;
            }
            let Some(host) = table.live_host(target) else {
                continue;
            };
            // SAFETY: kill with a host pid the table holds for a live guest process.
            if unsafe { libc::kill(host, sig as i32) } == 0 {
                sent += 1;
            }
        }
        if sent == 0 {
            return Err(Errno::ESRCH).into();
        }
        if to_self {
            return self.kill(0, sig).into();
        }
        Ok(0).into()
    }
}
