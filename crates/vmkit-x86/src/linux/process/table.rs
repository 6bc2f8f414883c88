//! The shared process table: guest pid -> host pid, parent, process group and session of
//! every guest process of one run. It lives in one anonymous `MAP_SHARED` mapping, made by
//! the first process before its first `fork` and inherited by every host process forked
//! from it, so all of them see (and change) the same records. Guest pids are virtual and
//! deterministic: the first process is [`GUEST_PID`], each new process (and, through
//! [`Table::next_id`], each new thread) takes the next number of one shared counter.
//!
//! The table is lock-free: a slot is claimed by a compare-and-swap of its pid, filled, and
//! then published by its state; each field is one atomic word. A host pid is only ever
//! signalled after checking that the host process is still the one recorded (its start
//! time), so a record that outlived its process can never reach an unrelated one.

use super::super::errno::Errno;
use super::super::GUEST_PID;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};

/// How many guest processes may exist at once (records are freed when reaped).
pub const SLOTS: usize = 4096;

/// A slot's state: free (or being filled).
const FREE: u32 = 0;
/// A slot's state: a live (or not yet reaped) process.
const LIVE: u32 = 1;

/// One process's record, in the shared mapping.
#[repr(C)]
struct Slot {
    /// The guest pid (0: free).
    pid: AtomicU32,
    /// [`FREE`] or [`LIVE`].
    state: AtomicU32,
    /// The host pid of the vmkit process running it.
    host: AtomicI32,
    /// The guest pid of its parent (0 for the first process: its parent is outside).
    ppid: AtomicU32,
    /// Its process group.
    pgid: AtomicU32,
    /// Its session.
    sid: AtomicU32,
    /// Whether it called `execve` since its `fork` (a parent may then no longer move it to
    /// another process group: `EACCES`).
    execed: AtomicU32,
    /// The host process's start time (`/proc/PID/stat` field 22), to recognise it.
    start: AtomicU64,
}

/// The mapping: a header and the slots.
#[repr(C)]
struct Shared {
    /// The next id to hand out (process or thread).
    next_id: AtomicU32,
    slots: [Slot; SLOTS],
}

/// A copy of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Guest pid.
    pub pid: u32,
    /// Host pid.
    pub host: i32,
    /// Guest pid of the parent (0: outside the guest).
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Session.
    pub sid: u32,
    /// Whether it has called `execve` since it was forked.
    pub execed: bool,
}

/// The process table of a run (a handle on the shared mapping).
pub struct Table {
    shared: *mut Shared,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Table")
    }
}

/// The start time of host process `pid` (field 22 of `/proc/PID/stat`), if it exists.
pub fn host_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Table {
    /// A new table holding the first process ([`GUEST_PID`], this host process), its own
    /// process group and session leader.
    pub fn new() -> Result<Table, Errno> {
        let size = std::mem::size_of::<Shared>();
        // SAFETY: a fresh anonymous mapping; nothing else refers to that memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Errno::ENOMEM);
        }
        // Zeroed memory is a valid `Shared`: every field is an atomic integer.
        let table = Table { shared: ptr.cast() };
        table.shared().next_id.store(GUEST_PID + 1, SeqCst);
        // SAFETY: getpid has no preconditions.
        let host = unsafe { libc::getpid() };
        table.insert(GUEST_PID, host, 0, GUEST_PID, GUEST_PID)?;
        Ok(table)
    }

    fn shared(&self) -> &Shared {
        // SAFETY: `shared` points to the live mapping made in `new` (unmapped only on drop);
        // all its fields are atomics, so shared references are sound across processes.
        unsafe { &*self.shared }
    }

    /// The next process or thread id (one counter for both, as on Linux).
    pub fn next_id(&self) -> u32 {
        self.shared().next_id.fetch_add(1, SeqCst)
    }

    /// Records a process. `host` may be 0 until the fork has happened
    /// ([`Table::set_host`]).
    pub fn insert(&self, pid: u32, host: i32, ppid: u32, pgid: u32, sid: u32) -> Result<(), Errno> {
        for sweep in [false, true] {
            for slot in &self.shared().slots {
                if sweep && slot.state.load(SeqCst) == LIVE && !self.alive(slot) {
                    // A record whose process ended unreaped (its parent ended first).
                    slot.state.store(FREE, SeqCst);
                    slot.pid.store(0, SeqCst);
                }
                if slot.pid.compare_exchange(0, pid, SeqCst, SeqCst).is_ok() {
                    slot.ppid.store(ppid, SeqCst);
                    slot.pgid.store(pgid, SeqCst);
                    slot.sid.store(sid, SeqCst);
                    slot.execed.store(0, SeqCst);
                    slot.start.store(0, SeqCst);
                    slot.host.store(0, SeqCst);
                    if host != 0 {
                        self.fill_host(slot, host);
                    }
                    slot.state.store(LIVE, SeqCst);
                    return Ok(());
                }
            }
        }
        Err(Errno::EAGAIN)
    }

    fn fill_host(&self, slot: &Slot, host: i32) {
        slot.start.store(host_start_time(host).unwrap_or(0), SeqCst);
        slot.host.store(host, SeqCst);
    }

    /// Whether the host process of a record is still the one recorded.
    fn alive(&self, slot: &Slot) -> bool {
        let host = slot.host.load(SeqCst);
        host == 0 || host_start_time(host).is_some_and(|t| t == slot.start.load(SeqCst))
    }

    fn slot(&self, pid: u32) -> Option<&Slot> {
        self.shared()
            .slots
            .iter()
            .find(|s| s.state.load(SeqCst) == LIVE && s.pid.load(SeqCst) == pid)
    }

    /// Sets the host pid of `pid` (both sides of a fork do, whichever comes first).
    pub fn set_host(&self, pid: u32, host: i32) {
        if let Some(slot) = self.slot(pid) {
            if slot.host.load(SeqCst) != host {
                self.fill_host(slot, host);
            }
        }
    }

    /// The record of `pid`.
    pub fn get(&self, pid: u32) -> Option<Entry> {
        self.slot(pid).map(entry)
    }

    /// The record of the process whose host pid is `host`.
    pub fn by_host(&self, host: i32) -> Option<Entry> {
        self.entries().into_iter().find(|e| e.host == host)
    }

    /// Every record.
    pub fn entries(&self) -> Vec<Entry> {
        self.shared()
            .slots
            .iter()
            .filter(|s| s.state.load(SeqCst) == LIVE && s.pid.load(SeqCst) != 0)
            .map(entry)
            .collect()
    }

    /// Forgets `pid` (reaped by its parent, or its fork failed).
    pub fn remove(&self, pid: u32) {
        if let Some(slot) = self.slot(pid) {
            slot.state.store(FREE, SeqCst);
            slot.pid.store(0, SeqCst);
        }
    }

    /// Moves `pid` to process group `pgid` (and session `sid`, if given).
    pub fn set_group(&self, pid: u32, pgid: u32, sid: Option<u32>) {
        if let Some(slot) = self.slot(pid) {
            slot.pgid.store(pgid, SeqCst);
            if let Some(sid) = sid {
                slot.sid.store(sid, SeqCst);
            }
        }
    }

    /// Records that `pid` called `execve`.
    pub fn set_execed(&self, pid: u32) {
        if let Some(slot) = self.slot(pid) {
            slot.execed.store(1, SeqCst);
        }
    }

    /// The host pid of `pid` if its host process is still the one recorded (`None`: gone,
    /// or not yet forked).
    pub fn live_host(&self, pid: u32) -> Option<i32> {
        let slot = self.slot(pid)?;
        let host = slot.host.load(SeqCst);
        (host != 0 && self.alive(slot)).then_some(host)
    }
}

fn entry(s: &Slot) -> Entry {
    Entry {
        pid: s.pid.load(SeqCst),
        host: s.host.load(SeqCst),
        ppid: s.ppid.load(SeqCst),
        pgid: s.pgid.load(SeqCst),
        sid: s.sid.load(SeqCst),
        execed: s.execed.load(SeqCst) != 0,
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of that size; no reference outlives `self`.
        unsafe { libc::munmap(self.shared.cast(), std::mem::size_of::<Shared>()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pids_groups_and_ids() {
        let t = Table::new().unwrap();
        let me = t.get(GUEST_PID).unwrap();
        // SAFETY: getpid has no preconditions.
        assert_eq!(me.host, unsafe { libc::getpid() });
        assert_eq!((me.ppid, me.pgid, me.sid), (0, GUEST_PID, GUEST_PID));
        assert_eq!(t.next_id(), GUEST_PID + 1);
        assert_eq!(t.next_id(), GUEST_PID + 2);
        t.insert(1001, 0, GUEST_PID, GUEST_PID, GUEST_PID).unwrap();
        assert_eq!(t.live_host(1001), None, "not forked yet");
        t.set_group(1001, 1001, None);
        assert_eq!(t.get(1001).unwrap().pgid, 1001);
        assert_eq!(t.entries().len(), 2);
        t.remove(1001);
        assert_eq!(t.get(1001), None);
        assert!(t.live_host(GUEST_PID).is_some());
        assert_eq!(t.by_host(me.host).unwrap().pid, GUEST_PID);
    }
}
