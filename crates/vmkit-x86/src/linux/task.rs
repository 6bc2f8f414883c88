//! The task: the guest's process and the state of its threads (the calls on threads and the
//! scheduler are [`super::thread`]'s), whether and how it ended, and the
//! process-level calls: identity, clocks and sleeping, resource limits, `sysinfo`, CPU
//! affinity, `uname`, `prctl`, `getrandom`, TLS (`set_thread_area`). Signals are
//! [`super::signal`]'s.

use super::errno::Errno;
use super::signal::ThreadSignals;
use super::{guest, Linux, GUEST_PID, GUEST_UID};
use crate::cpu::{Cpu, Seg};
use vmkit_mem::Memory;

/// The host's clock `clock` (Linux clock ids), as (seconds, nanoseconds).
pub(super) fn host_clock(clock: u32) -> Result<(i64, i64), Errno> {
    if clock > 11 || clock == 10 {
        return Err(Errno::EINVAL);
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(clock as libc::clockid_t, &mut ts) } != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((ts.tv_sec, ts.tv_nsec))
}

/// A `timespec` in guest memory: 32-bit (`time64 == false`) or 64-bit seconds.
fn store_timespec(
    mem: &mut Memory,
    at: u32,
    (s, ns): (i64, i64),
    time64: bool,
) -> Result<(), Errno> {
    if time64 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&s.to_le_bytes());
        b[8..12].copy_from_slice(&(ns as u32).to_le_bytes());
        guest::store(mem, at, &b)
    } else {
        let b = [(s as u32).to_le_bytes(), (ns as u32).to_le_bytes()].concat();
        guest::store(mem, at, &b)
    }
}

/// A `timespec` in guest memory: 32-bit (`time64 == false`) or 64-bit seconds; `EINVAL` when
/// negative or out of range.
pub(super) fn load_timespec(mem: &Memory, at: u32, time64: bool) -> Result<(i64, i64), Errno> {
    // One checked read of the whole struct: one at the top of memory is EFAULT (adding
    // to `at` could overflow).
    let word = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
    let (s, ns) = if time64 {
        // The upper half of a 64-bit tv_nsec is ignored, as for any 32-bit process.
        let b = guest::bytes(mem, at, 16)?;
        let mut q = [0u8; 8];
        q.copy_from_slice(&b[..8]);
        (i64::from_le_bytes(q), word(&b[8..]))
    } else {
        let b = guest::bytes(mem, at, 8)?;
        (word(b), word(&b[4..]))
    };
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(Errno::EINVAL);
    }
    Ok((s, ns))
}

/// `RLIMIT_AS`: the address-space limit.
const RLIMIT_AS: u32 = 9;

/// The fixed limits the guest sees, as (soft, hard), `u64::MAX` meaning unlimited.
pub fn rlimit(resource: u32) -> Result<(u64, u64), Errno> {
    const INF: u64 = u64::MAX;
    match resource {
        3 => Ok((8 << 20, INF)), // RLIMIT_STACK
        7 => Ok((super::fs::fd::MAX_FDS as u64, super::fs::fd::MAX_FDS as u64)), // RLIMIT_NOFILE
        0..=15 => Ok((INF, INF)),
        _ => Err(Errno::EINVAL),
    }
}

/// `uname`.
pub fn uname(mem: &mut Memory, buf: u32) -> Result<u32, Errno> {
    let mut out = vec![0u8; 6 * 65];
    for (k, field) in [
        "Linux",
        "vmkit",
        "6.1.0-vmkit",
        "#1 vmkit",
        "i686",
        "(none)",
    ]
    .iter()
    .enumerate()
    {
        out[k * 65..k * 65 + field.len()].copy_from_slice(field.as_bytes());
    }
    guest::store(mem, buf, &out).map(|_| 0)
}

/// `set_thread_area`: installs a TLS descriptor (GDT entries 6..8) from a `user_desc`; an
/// entry number of -1 asks for a free one, written back as Linux does.
pub fn set_thread_area(cpu: &mut Cpu, mem: &mut Memory, desc: u32) -> Result<u32, Errno> {
    let raw = guest::bytes(mem, desc, 16)?;
    let word = |k: usize| u32::from_le_bytes([raw[k], raw[k + 1], raw[k + 2], raw[k + 3]]);
    let (entry, base) = (word(0), word(4));
    let index = if entry == u32::MAX {
        match cpu.tls_bases.iter().position(Option::is_none) {
            Some(i) => i as u32 + 6,
            None => return Err(Errno::ESRCH),
        }
    } else if (6..=8).contains(&entry) {
        entry
    } else {
        return Err(Errno::EINVAL);
    };
    guest::store_u32(mem, desc, index)?;
    cpu.tls_bases[(index - 6) as usize] = Some(base);
    // A segment register already holding this selector sees the new base.
    for seg in [Seg::Fs, Seg::Gs] {
        if cpu.selectors[seg as usize] >> 3 == index as u16 {
            cpu.seg_base[seg as usize] = base;
        }
    }
    Ok(0)
}

/// `setuid`, `setgid`, `setfsuid`, `setfsgid`: the guest may "change" to its own ids and to
/// nothing else.
pub(super) fn set_id(id: u32) -> Result<u32, Errno> {
    if id == GUEST_UID {
        Ok(0)
    } else {
        Err(Errno::EPERM)
    }
}

/// `prctl`: `PR_SET_NAME` / `PR_GET_NAME` are harmless; nothing else is offered.
pub(super) fn prctl(mem: &mut Memory, option: u32, arg: u32) -> Result<u32, Errno> {
    match option {
        15 => Ok(0),
        16 => guest::store(mem, arg, b"vmkit\0").map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// Where a blocked thread waits. Produced by `futex` and the sleeping calls
/// ([`super::thread`]); read by the scheduler, which never runs a blocked thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WaitOn {
    /// A futex word at this guest address, woken by `FUTEX_WAKE*` calls whose bitset shares
    /// a bit with this one.
    Futex {
        /// The futex word's address.
        addr: u32,
        /// The waiter's bitset (all ones for `FUTEX_WAIT`).
        bitset: u32,
    },
    /// A sleep (`nanosleep`, `clock_nanosleep`): only the deadline ends it.
    Sleep,
}

/// A blocked thread's wait: on what, until when, and its place in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Wait {
    /// What the thread waits on.
    pub(super) on: WaitOn,
    /// When the wait times out (host monotonic time), if ever.
    pub(super) deadline: Option<std::time::Instant>,
    /// Queue order: waiters on one futex are woken first come, first served.
    pub(super) seq: u64,
}

/// Whether a thread can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ThreadState {
    /// Runs when its turn comes.
    Runnable,
    /// Waits (see [`Wait`]).
    Blocked(Wait),
    /// Called `exit`; the scheduler drops it at the next boundary.
    Exited,
}

/// A thread of the guest process: its id, its own signal state, and what the scheduler and
/// the thread calls keep for it. The running thread's registers are the machine's; the
/// others' are saved here.
#[derive(Clone, Debug)]
pub(super) struct Thread {
    /// The thread id (the process id for the first thread).
    pub(super) tid: u32,
    /// Its blocked mask, pending signals and alternate stack.
    pub(super) signals: ThreadSignals,
    /// Its registers while another thread runs (`None` while it runs).
    pub(super) cpu: Option<Box<Cpu>>,
    /// Runnable, blocked or exited.
    pub(super) state: ThreadState,
    /// The value eax takes when the thread next runs (the result of the call it blocked
    /// in: 0, `-ETIMEDOUT`, `-EINTR`), set by whoever ended the wait.
    pub(super) resume_eax: Option<u32>,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: zeroed and woken when the thread exits.
    pub(super) clear_child_tid: u32,
    /// `set_robust_list`: the head of the robust futex list (0 for none).
    pub(super) robust_list: u32,
}

impl Thread {
    /// A runnable thread `tid` with signal state `signals`, running or with registers
    /// `cpu`.
    pub(super) fn new(tid: u32, signals: ThreadSignals, cpu: Option<Box<Cpu>>) -> Thread {
        Thread {
            tid,
            signals,
            cpu,
            state: ThreadState::Runnable,
            resume_eax: None,
            clear_child_tid: 0,
            robust_list: 0,
        }
    }
}

/// The guest's task: the process, its threads, the scheduler's bookkeeping, and whether
/// and how it ended.
#[derive(Clone, Debug)]
pub(super) struct Task {
    /// How the process ended (its exit status, 128 + signal for a signal), once it has.
    ended: Option<i32>,
    /// The threads, in creation order (the round-robin order); `threads[current]` is the
    /// one running.
    pub(super) threads: Vec<Thread>,
    /// Index of the running thread in `threads`.
    pub(super) current: usize,
    /// Instructions the running thread has run since it was switched in.
    pub(super) used: u64,
    /// The running thread asked to give way (`sched_yield`).
    pub(super) yielding: bool,
    /// The next wait's queue number ([`Wait::seq`]).
    pub(super) next_seq: u64,
    /// The exit status of the first thread (the thread-group leader), once it called
    /// `exit` while others ran on: the process's status when the last thread exits.
    pub(super) leader_status: Option<i32>,
    /// The first thread's id: the process id (`tgkill`'s tgid).
    pub(super) leader_tid: u32,
}

impl Default for Task {
    fn default() -> Task {
        Task {
            ended: None,
            threads: vec![Thread::new(GUEST_PID, ThreadSignals::default(), None)],
            current: 0,
            used: 0,
            yielding: false,
            next_seq: 0,
            leader_status: None,
            leader_tid: GUEST_PID,
        }
    }
}

impl Task {
    /// Records that the process ended with `status`.
    pub(super) fn end(&mut self, status: i32) {
        self.ended = Some(status);
    }

    /// How the process ended, once it has.
    pub(super) fn ended(&self) -> Option<i32> {
        self.ended
    }

    /// Whether the process has more than one thread (the scheduler has work to do).
    pub(super) fn threaded(&self) -> bool {
        self.threads.len() > 1
    }

    /// The index of thread `tid`, if it is alive.
    pub(super) fn index_of(&self, tid: u32) -> Option<usize> {
        self.threads
            .iter()
            .position(|t| t.tid == tid && t.state != ThreadState::Exited)
    }

    /// A fresh queue number for a wait.
    pub(super) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Keeps only the running thread, as `fork` does in the child (which has one thread,
    /// the one that forked), and makes it the leader with id `pid`. As in Linux's fork, the
    /// child has no robust list and no `clear_child_tid` word (fork sets that one for
    /// `CLONE_CHILD_CLEARTID`). For the process part's fork, which calls it in the child.
    pub(super) fn keep_only_current(&mut self, pid: u32) {
        let mut me = self.threads.swap_remove(self.current);
        me.tid = pid;
        me.robust_list = 0;
        me.clear_child_tid = 0;
        self.threads = vec![me];
        self.current = 0;
        self.used = 0;
        self.yielding = false;
        self.leader_tid = pid;
        self.leader_status = None;
    }
}

impl Linux {
    /// The running thread.
    pub(super) fn thread(&self) -> &Thread {
        &self.task.threads[self.task.current]
    }

    /// The running thread, to change.
    pub(super) fn thread_mut(&mut self) -> &mut Thread {
        &mut self.task.threads[self.task.current]
    }

    /// `getgroups32`: the guest belongs to its own group only.
    pub(super) fn getgroups(
        &mut self,
        mem: &mut Memory,
        size: u32,
        list: u32,
    ) -> Result<u32, Errno> {
        match size as i32 {
            0 => Ok(1),
            n if n < 0 => Err(Errno::EINVAL),
            _ => guest::store_u32(mem, list, GUEST_UID).map(|_| 1),
        }
    }

    /// `time`.
    pub(super) fn time(&mut self, mem: &mut Memory, at: u32) -> Result<u32, Errno> {
        let (s, _) = host_clock(0)?;
        if at != 0 {
            guest::store_u32(mem, at, s as u32)?;
        }
        Ok(s as u32)
    }

    /// `gettimeofday` (the time zone, if asked, is UTC).
    pub(super) fn gettimeofday(
        &mut self,
        mem: &mut Memory,
        tv: u32,
        tz: u32,
    ) -> Result<u32, Errno> {
        let (s, ns) = host_clock(0)?;
        if tv != 0 {
            store_timespec(mem, tv, (s, ns / 1000), false)?;
        }
        if tz != 0 {
            guest::store(mem, tz, &[0; 8])?;
        }
        Ok(0)
    }

    /// `clock_gettime`, `clock_gettime64`: the host's clocks.
    pub(super) fn clock_gettime(
        &mut self,
        mem: &mut Memory,
        clock: u32,
        ts: u32,
        time64: bool,
    ) -> Result<u32, Errno> {
        let now = host_clock(clock)?;
        store_timespec(mem, ts, now, time64).map(|_| 0)
    }

    /// `clock_getres`, `clock_getres_time64`.
    pub(super) fn clock_getres(
        &mut self,
        mem: &mut Memory,
        clock: u32,
        ts: u32,
        time64: bool,
    ) -> Result<u32, Errno> {
        host_clock(clock)?;
        if ts != 0 {
            store_timespec(mem, ts, (0, 1), time64)?;
        }
        Ok(0)
    }

    /// `nanosleep`, `clock_nanosleep` (relative or `TIMER_ABSTIME`), `clock_nanosleep_time64`.
    /// A signal that does something cuts the sleep short: `EINTR`, and a relative sleep
    /// writes the time left to `rem`.
    pub(super) fn clock_nanosleep(
        &mut self,
        mem: &mut Memory,
        clock: u32,
        flags: u32,
        req: u32,
        rem: u32,
        time64: bool,
    ) -> Result<u32, Errno> {
        const TIMER_ABSTIME: u32 = 1;
        let (s, ns) = load_timespec(mem, req, time64)?;
        let mut wait = std::time::Duration::new(s as u64, ns as u32);
        if flags & TIMER_ABSTIME != 0 {
            let (ns_now, nns_now) = host_clock(clock)?;
            let now = std::time::Duration::new(ns_now as u64, nns_now as u32);
            wait = wait.saturating_sub(now);
        } else {
            host_clock(clock)?;
        }
        if self.task.threaded() {
            // Other threads run meanwhile (see `super::thread::scheduler`); a signal for
            // this thread ends the wait with EINTR there.
            return Ok(self.sleep_thread(wait));
        }
        if let Some(left) = self.sleep_interruptibly(wait) {
            if flags & TIMER_ABSTIME == 0 && rem != 0 {
                let left = (left.as_secs() as i64, left.subsec_nanos() as i64);
                store_timespec(mem, rem, left, time64)?;
            }
            return Err(Errno::EINTR);
        }
        Ok(0)
    }

    /// `sysinfo`: the host's uptime, load and memory (in pages), one process.
    pub(super) fn sysinfo(&mut self, mem: &mut Memory, at: u32) -> Result<u32, Errno> {
        // SAFETY: `info` is a plain C struct that sysinfo fills; zero bytes are valid.
        let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid and writable for the call.
        if unsafe { libc::sysinfo(&mut info) } != 0 {
            return Err(Errno::EFAULT);
        }
        let unit = info.mem_unit.max(1) as u64;
        let pages = |v: u64| (v * unit / 4096).min(u32::MAX as u64) as u32;
        let mut b = [0u8; 64];
        let mut put = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(0, info.uptime as u32);
        for k in 0..3 {
            put(4 + 4 * k, info.loads[k] as u32);
        }
        put(16, pages(info.totalram));
        put(20, pages(info.freeram));
        put(24, pages(info.sharedram));
        put(28, pages(info.bufferram));
        put(32, pages(info.totalswap));
        put(36, pages(info.freeswap));
        put(52, 4096);
        b[40..42].copy_from_slice(&1u16.to_le_bytes());
        guest::store(mem, at, &b).map(|_| 0)
    }

    /// `getrlimit`, `ugetrlimit` (32-bit values, saturated).
    pub(super) fn getrlimit(
        &mut self,
        mem: &mut Memory,
        resource: u32,
        at: u32,
    ) -> Result<u32, Errno> {
        let (soft, hard) = self.rlimit(resource)?;
        let w = |v: u64| v.min(u32::MAX as u64) as u32;
        guest::store(
            mem,
            at,
            &[w(soft).to_le_bytes(), w(hard).to_le_bytes()].concat(),
        )
        .map(|_| 0)
    }

    /// A resource limit: `RLIMIT_AS` is the memory limit, the others are fixed.
    fn rlimit(&self, resource: u32) -> Result<(u64, u64), Errno> {
        match resource {
            RLIMIT_AS => Ok(self.address_space_rlimit()),
            _ => rlimit(resource),
        }
    }

    /// `setrlimit` (32-bit values, all ones for "none"). `RLIMIT_AS` is enforced; other new
    /// limits are accepted and not enforced beyond what the emulator already imposes.
    pub(super) fn setrlimit(
        &mut self,
        mem: &mut Memory,
        resource: u32,
        new: u32,
    ) -> Result<u32, Errno> {
        self.rlimit(resource)?;
        let wide = |v: u32| if v == u32::MAX { u64::MAX } else { v as u64 };
        let b = guest::bytes(mem, new, 8)?;
        let (soft, hard) = (
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        );
        if resource == RLIMIT_AS {
            self.set_address_space_rlimit(wide(soft), wide(hard))?;
        }
        Ok(0)
    }

    /// `prlimit64` on the guest itself: as `setrlimit`, with 64-bit values.
    pub(super) fn prlimit64(
        &mut self,
        mem: &mut Memory,
        pid: u32,
        resource: u32,
        new: u32,
        old: u32,
    ) -> Result<u32, Errno> {
        if pid != 0 && pid != self.pid() {
            return Err(Errno::ESRCH);
        }
        let (soft, hard) = self.rlimit(resource)?;
        let wanted = if new != 0 {
            let b = guest::bytes(mem, new, 16)?;
            let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            Some((word(0), word(8)))
        } else {
            None
        };
        if let (Some((soft, hard)), RLIMIT_AS) = (wanted, resource) {
            self.set_address_space_rlimit(soft, hard)?;
        }
        if old != 0 {
            guest::store(mem, old, &[soft.to_le_bytes(), hard.to_le_bytes()].concat())?;
        }
        Ok(0)
    }

    /// `sched_getaffinity`: one CPU.
    pub(super) fn sched_getaffinity(
        &mut self,
        mem: &mut Memory,
        pid: u32,
        len: u32,
        mask: u32,
    ) -> Result<u32, Errno> {
        if pid != 0 && pid != self.pid() {
            return Err(Errno::ESRCH);
        }
        if len < 4 {
            return Err(Errno::EINVAL);
        }
        guest::store(mem, mask, &[1, 0, 0, 0]).map(|_| 4)
    }

    /// `getrandom`: deterministic bytes, so runs are reproducible.
    pub(super) fn getrandom(&mut self, mem: &mut Memory, buf: u32, len: u32) -> Result<u32, Errno> {
        let mut bytes = vec![0u8; (len as usize).min(1 << 16)];
        self.fill_random(&mut bytes);
        guest::store(mem, buf, &bytes).map(|_| bytes.len() as u32)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timespec_at_the_top_of_memory_is_efault() {
        let mut mem = Memory::new(1 << 32);
        mem.protect(0, 1 << 32, 0);
        mem.protect(0xFFFF_F000, 0x1000, vmkit_mem::page::R);
        assert_eq!(load_timespec(&mem, 0xFFFF_FFF8, false), Ok((0, 0)));
        assert_eq!(load_timespec(&mem, 0xFFFF_FFFC, false), Err(Errno::EFAULT));
        assert_eq!(load_timespec(&mem, 0xFFFF_FFF0, true), Ok((0, 0)));
        assert_eq!(load_timespec(&mem, 0xFFFF_FFF8, true), Err(Errno::EFAULT));
    }

    #[test]
    fn a_forked_child_keeps_the_forking_thread_only() {
        let mut task = Task::default();
        for tid in [GUEST_PID + 1, GUEST_PID + 2] {
            task.threads
                .push(Thread::new(tid, ThreadSignals::default(), None));
        }
        task.current = 1;
        task.threads[1].clear_child_tid = 0x1234;
        task.keep_only_current(2000);
        assert_eq!(task.threads.len(), 1);
        assert_eq!(
            (task.threads[0].tid, task.threads[0].clear_child_tid),
            (2000, 0)
        );
        assert_eq!(
            (task.current, task.leader_tid, task.threaded()),
            (0, 2000, false)
        );
        assert_eq!(task.index_of(2000), Some(0));
    }

    #[test]
    fn limits() {
        assert_eq!(rlimit(3).unwrap().0, 8 << 20);
        assert_eq!(rlimit(7).unwrap(), (1024, 1024));
        assert_eq!(rlimit(99), Err(Errno::EINVAL));
    }
}
