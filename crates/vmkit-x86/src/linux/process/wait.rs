//! `wait4`, `waitpid`, `waitid`: a guest process's children are its host process's
//! children, so waiting for one child (or any) is the host's wait on its host pid (or any),
//! and the status is the host's, which the child made exactly the guest's
//! ([`super::end_forked_child`]). Waiting for a process group (guest groups are records of
//! the table, not the host's) checks each child of the group without blocking, then sleeps
//! a millisecond and checks again. A reaped child's record leaves the table.

use super::super::errno::Errno;
use super::super::{guest, Linux};
use super::table::Entry;
use vmkit_mem::Memory;

const WNOHANG: u32 = 1;
const WUNTRACED: u32 = 2;
const WSTOPPED: u32 = 2;
const WEXITED: u32 = 4;
const WCONTINUED: u32 = 8;
const WNOWAIT: u32 = 0x0100_0000;
const WNOTHREAD: u32 = 0x2000_0000;
const WALL: u32 = 0x4000_0000;
const WCLONE: u32 = 0x8000_0000;

/// Which children a wait is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    /// Any child.
    Any,
    /// This one.
    Pid(u32),
    /// Any in this process group.
    Group(u32),
}

/// The child a wait found: its guest pid and host wait status or siginfo.
struct Found {
    pid: u32,
    /// Its host pid.
    host: i32,
    /// `wait4`'s status word.
    status: i32,
    /// (si_code, si_status) for `waitid`.
    code: (i32, i32),
    rusage: libc::rusage,
}

/// An i386 `struct rusage` (72 bytes) from the host's.
fn rusage_bytes(r: &libc::rusage) -> Vec<u8> {
    let mut words = vec![
        r.ru_utime.tv_sec as u32,
        r.ru_utime.tv_usec as u32,
        r.ru_stime.tv_sec as u32,
        r.ru_stime.tv_usec as u32,
    ];
    for v in [
        r.ru_maxrss,
        r.ru_ixrss,
        r.ru_idrss,
        r.ru_isrss,
        r.ru_minflt,
        r.ru_majflt,
        r.ru_nswap,
        r.ru_inblock,
        r.ru_oublock,
        r.ru_msgsnd,
        r.ru_msgrcv,
        r.ru_nsignals,
        r.ru_nvcsw,
        r.ru_nivcsw,
    ] {
        words.push(v as u32);
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The host error of the last call as the guest's: an interrupted wait is restarted or
/// fails with EINTR, as the guest's signal disposition says.
fn host_error() -> Errno {
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINTR) => Errno::ERESTARTSYS,
        _ => Errno::from_io(&e),
    }
}

impl Linux {
    /// This process's children the wait is for (`ECHILD` if none).
    fn children(&mut self, which: Which) -> Result<Vec<Entry>, Errno> {
        let me = self.process.pid;
        let table = self.table()?;
        let kids: Vec<Entry> = table
            .entries()
            .into_iter()
            .filter(|e| e.ppid == me)
            .filter(|e| match which {
                Which::Any => true,
                Which::Pid(p) => e.pid == p,
                Which::Group(g) => e.pgid == g,
            })
            .collect();
        if kids.is_empty() {
            return Err(Errno::ECHILD);
        }
        Ok(kids)
    }

    /// One host wait: `waitid` with `flags` (host `W*` bits) on `host` (-1: any child).
    /// `None`: nothing to report (`WNOHANG`).
    fn host_wait(&mut self, host: i32, flags: i32) -> Result<Option<Found>, Errno> {
        let (idtype, id) = if host < 0 {
            (libc::P_ALL, 0)
        } else {
            (libc::P_PID, host as libc::id_t)
        };
        // SAFETY: plain C structs the call fills; zero bytes are valid for both.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // The raw system call, which reports the child's resource usage as wait4 does.
        // SAFETY: `info` and `usage` are valid and writable for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                idtype,
                id,
                &mut info as *mut libc::siginfo_t,
                flags,
                &mut usage as *mut libc::rusage,
            )
        };
        if r < 0 {
            return Err(host_error());
        }
        // SAFETY: waitid filled `info` for a child state change (si_pid 0 otherwise).
        let (hpid, code, st) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if hpid == 0 {
            return Ok(None);
        }
        // The wait4 status word that (si_code, si_status) stand for.
        let status = match code {
            1 => (st & 0xff) << 8,
            2 => st & 0x7f,
            3 => (st & 0x7f) | 0x80,
            5 | 4 => (st & 0xff) << 8 | 0x7f,
            _ => 0xffff,
        };
        let table = self.table()?;
        let pid = table.by_host(hpid).map_or(0, |e| e.pid);
        Ok(Some(Found {
            pid,
            host: hpid,
            status,
            code: (code, st),
            rusage: usage,
        }))
    }

    /// Waits for a child of `which` to change state as `flags` (host `W*` bits) asks.
    fn wait_for(&mut self, which: Which, flags: i32) -> Result<Option<Found>, Errno> {
        let kids = self.children(which)?;
        let found = match which {
            Which::Any => self.host_wait(-1, flags)?,
            Which::Pid(_) => self.host_wait(kids[0].host, flags)?,
            Which::Group(_) => loop {
                let mut found = None;
                for kid in self.children(which)? {
                    if let Some(f) = self.host_wait(kid.host, flags | libc::WNOHANG)? {
                        found = Some(f);
                        break;
                    }
                }
                if found.is_some() || flags & libc::WNOHANG != 0 {
                    break found;
                }
                let pause = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 1_000_000,
                };
                // SAFETY: `pause` is a valid timespec; no remainder is asked for.
                if unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) } != 0 {
                    return Err(host_error());
                }
            },
        };
        if let Some(f) = &found {
            let ended = matches!(f.code.0, 1..=3);
            if ended && flags & libc::WNOWAIT == 0 {
                self.table()?.remove(f.pid);
                self.remember_reaped(f.host, f.pid);
            }
        }
        Ok(found)
    }

    /// `wait4(pid, status, options, rusage)`; `waitpid` is `wait4` without `rusage`.
    pub(in crate::linux) fn wait4(
        &mut self,
        mem: &mut Memory,
        pid: u32,
        status: u32,
        options: u32,
        rusage: u32,
    ) -> Result<u32, Errno> {
        if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
            return Err(Errno::EINVAL);
        }
        if options & WCLONE != 0 && options & WALL == 0 {
            // Every child vmkit makes reports to its parent with SIGCHLD.
            return Err(Errno::ECHILD);
        }
        let which = match pid as i32 {
            -1 => Which::Any,
            0 => Which::Group(self.own_entry()?.pgid),
            p if p < 0 => Which::Group(p.unsigned_abs()),
            p => Which::Pid(p as u32),
        };
        let mut flags = libc::WEXITED;
        if options & WNOHANG != 0 {
            flags |= libc::WNOHANG;
        }
        if options & WUNTRACED != 0 {
            flags |= libc::WSTOPPED;
        }
        if options & WCONTINUED != 0 {
            flags |= libc::WCONTINUED;
        }
        let Some(found) = self.wait_for(which, flags)? else {
            return Ok(0);
        };
        if status != 0 {
            guest::store_u32(mem, status, found.status as u32)?;
        }
        if rusage != 0 {
            guest::store(mem, rusage, &rusage_bytes(&found.rusage))?;
        }
        Ok(found.pid)
    }

    /// `waitid(idtype, id, infop, options, rusage)`.
    pub(in crate::linux) fn waitid(
        &mut self,
        mem: &mut Memory,
        idtype: u32,
        id: u32,
        infop: u32,
        options: u32,
        rusage: u32,
    ) -> Result<u32, Errno> {
        const P_ALL: u32 = 0;
        const P_PID: u32 = 1;
        const P_PGID: u32 = 2;
        const SIGCHLD: u32 = 17;
        let known = WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE;
        if options & !known != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
            return Err(Errno::EINVAL);
        }
        let which = match idtype {
            P_ALL => Which::Any,
            P_PID if id as i32 > 0 => Which::Pid(id),
            P_PGID if id == 0 => Which::Group(self.own_entry()?.pgid),
            P_PGID if id as i32 > 0 => Which::Group(id),
            _ => return Err(Errno::EINVAL),
        };
        let mut flags = 0;
        for (guest_bit, host_bit) in [
            (WNOHANG, libc::WNOHANG),
            (WSTOPPED, libc::WSTOPPED),
            (WEXITED, libc::WEXITED),
            (WCONTINUED, libc::WCONTINUED),
            (WNOWAIT, libc::WNOWAIT),
        ] {
            if options & guest_bit != 0 {
                flags |= host_bit;
            }
        }
        let found = self.wait_for(which, flags)?;
        if infop != 0 {
            // si_signo, si_errno, si_code, si_pid, si_uid, si_status (zero when nothing
            // changed, as Linux writes them).
            let words = match &found {
                Some(f) => [
                    SIGCHLD,
                    0,
                    f.code.0 as u32,
                    f.pid,
                    super::super::GUEST_UID,
                    f.code.1 as u32,
                ],
                None => [0; 6],
            };
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            guest::store(mem, infop, &bytes)?;
        }
        if rusage != 0 {
            if let Some(f) = &found {
                guest::store(mem, rusage, &rusage_bytes(&f.rusage))?;
            }
        }
        Ok(0)
    }
}
