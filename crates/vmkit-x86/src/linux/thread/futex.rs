//! `futex` and `futex_time64`: waiting on a word of guest memory and waking its waiters
//! (`FUTEX_WAIT`, `FUTEX_WAKE`, `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE`, `FUTEX_WAKE_OP`,
//! `FUTEX_WAIT_BITSET`, `FUTEX_WAKE_BITSET`, each also `_PRIVATE`), with timeouts. All
//! threads share one address space, so a futex is its guest address; waiters on one
//! futex are woken first come, first served, as Linux does for equal priorities. The
//! priority-inheritance operations (`FUTEX_LOCK_PI`, ...) are not offered (`ENOSYS`), and a
//! futex in memory shared with another process wakes only this process's threads.

use super::super::task::{self, ThreadState, Wait, WaitOn};
use super::super::{guest, Errno, Linux};
use std::time::{Duration, Instant};
use vmkit_mem::Memory;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
const FUTEX_LOCK_PI2: u32 = 13;
/// `FUTEX_PRIVATE_FLAG`: the futex is not shared with other processes (all are, here).
const FUTEX_PRIVATE_FLAG: u32 = 128;
/// `FUTEX_CLOCK_REALTIME`: an absolute timeout is on `CLOCK_REALTIME`.
const FUTEX_CLOCK_REALTIME: u32 = 256;
/// The bitset that matches every waiter.
pub(super) const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;

impl Linux {
    /// `futex(uaddr, op, val, timeout or val2, uaddr2, val3)`; `time64` for
    /// `futex_time64`. A wait blocks the running thread: the call returns 0 now and its
    /// real result (0, `-ETIMEDOUT`, `-EINTR`) when the wait ends.
    pub(in super::super) fn futex(
        &mut self,
        mem: &mut Memory,
        [uaddr, op, val, timeout, uaddr2, val3]: [u32; 6],
        time64: bool,
    ) -> Result<u32, Errno> {
        let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        let realtime = op & FUTEX_CLOCK_REALTIME != 0;
        if realtime
            && !matches!(
                cmd,
                FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
            )
        {
            return Err(Errno::ENOSYS);
        }
        if uaddr % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        match cmd {
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                let bitset = if cmd == FUTEX_WAIT {
                    FUTEX_BITSET_MATCH_ANY
                } else {
                    val3
                };
                if bitset == 0 {
                    return Err(Errno::EINVAL);
                }
                let deadline = if timeout == 0 {
                    None
                } else {
                    let ts = task::load_timespec(mem, timeout, time64)?;
                    let span = Duration::new(ts.0 as u64, ts.1 as u32);
                    let left = if cmd == FUTEX_WAIT {
                        span
                    } else {
                        let clock = if realtime {
                            CLOCK_REALTIME
                        } else {
                            CLOCK_MONOTONIC
                        };
                        let (s, ns) = task::host_clock(clock)?;
                        span.saturating_sub(Duration::new(s as u64, ns as u32))
                    };
                    Some(left)
                };
                self.futex_wait(mem, uaddr, val, bitset, deadline)
            }
            FUTEX_WAKE | FUTEX_WAKE_BITSET => {
                let bitset = if cmd == FUTEX_WAKE {
                    FUTEX_BITSET_MATCH_ANY
                } else {
                    val3
                };
                if bitset == 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(self.futex_wake(uaddr, bitset, val as i32))
            }
            FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
                let (nr_wake, nr_requeue) = (val as i32, timeout as i32);
                if nr_wake < 0 || nr_requeue < 0 || uaddr2 % 4 != 0 {
                    return Err(Errno::EINVAL);
                }
                if cmd == FUTEX_CMP_REQUEUE && guest::u32_at(mem, uaddr)? != val3 {
                    return Err(Errno::EAGAIN);
                }
                Ok(self.futex_requeue(uaddr, uaddr2, nr_wake, nr_requeue))
            }
            FUTEX_WAKE_OP => {
                if uaddr2 % 4 != 0 {
                    return Err(Errno::EINVAL);
                }
                self.futex_wake_op(mem, uaddr, uaddr2, val as i32, timeout as i32, val3)
            }
            _ => {
                self.note = Some("priority-inheritance futexes are not supported");
                Err(Errno::ENOSYS)
            }
        }
    }

    /// `FUTEX_WAIT*`: `EAGAIN` unless the word at `uaddr` is still `val`; otherwise the
    /// running thread blocks for at most `timeout` (an elapsed one is `ETIMEDOUT`).
    fn futex_wait(
        &mut self,
        mem: &Memory,
        uaddr: u32,
        val: u32,
        bitset: u32,
        timeout: Option<Duration>,
    ) -> Result<u32, Errno> {
        if guest::u32_at(mem, uaddr)? != val {
            return Err(Errno::EAGAIN);
        }
        if timeout == Some(Duration::ZERO) {
            return Err(Errno::ETIMEDOUT);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.block(
            WaitOn::Futex {
                addr: uaddr,
                bitset,
            },
            deadline,
        );
        Ok(0)
    }

    /// The indices of the threads waiting on the futex at `addr` (with a bitset sharing a
    /// bit with `bitset`), first come first.
    fn waiters(&self, addr: u32, bitset: u32) -> Vec<usize> {
        let mut found: Vec<(u64, usize)> = self
            .task
            .threads
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t.state {
                ThreadState::Blocked(Wait {
                    on: WaitOn::Futex { addr: a, bitset: b },
                    seq,
                    ..
                }) if a == addr && b & bitset != 0 => Some((seq, i)),
                _ => None,
            })
            .collect();
        found.sort_unstable();
        found.into_iter().map(|(_, i)| i).collect()
    }

    /// Wakes up to `nr_wake` waiters of the futex at `addr` whose bitset meets `bitset`
    /// (at least one, as Linux does even for 0 or less); how many woke.
    pub(in super::super) fn futex_wake(&mut self, addr: u32, bitset: u32, nr_wake: i32) -> u32 {
        let mut woken = 0;
        for i in self.waiters(addr, bitset) {
            self.wake(i, 0);
            woken += 1;
            if woken >= nr_wake.max(1) {
                break;
            }
        }
        woken as u32
    }

    /// `FUTEX_REQUEUE`: wakes `nr_wake` waiters of `from` and moves up to `nr_requeue` more
    /// to the end of `to`'s queue; how many were woken or moved.
    fn futex_requeue(&mut self, from: u32, to: u32, nr_wake: i32, nr_requeue: i32) -> u32 {
        let mut count: i32 = 0;
        for i in self.waiters(from, FUTEX_BITSET_MATCH_ANY) {
            if count - nr_wake >= nr_requeue {
                break;
            }
            count += 1;
            if count <= nr_wake {
                self.wake(i, 0);
                continue;
            }
            let seq = self.task.next_seq();
            if let ThreadState::Blocked(w) = &mut self.task.threads[i].state {
                if let WaitOn::Futex { addr, .. } = &mut w.on {
                    *addr = to;
                }
                w.seq = seq;
            }
        }
        count as u32
    }

    /// `FUTEX_WAKE_OP`: changes the word at `uaddr2` by the operation in `val3`, wakes
    /// `nr_wake` waiters of `uaddr`, and `nr_wake2` of `uaddr2` if the old word passes
    /// `val3`'s comparison; how many woke.
    fn futex_wake_op(
        &mut self,
        mem: &mut Memory,
        uaddr: u32,
        uaddr2: u32,
        nr_wake: i32,
        nr_wake2: i32,
        val3: u32,
    ) -> Result<u32, Errno> {
        let (op, cmp) = ((val3 >> 28) & 0xF, (val3 >> 24) & 0xF);
        let sign12 = |v: u32| ((v << 20) as i32) >> 20;
        let mut oparg = sign12((val3 >> 12) & 0xFFF);
        let cmparg = sign12(val3 & 0xFFF);
        const FUTEX_OP_OPARG_SHIFT: u32 = 8;
        if op & FUTEX_OP_OPARG_SHIFT != 0 {
            oparg = 1i32.wrapping_shl((oparg & 31) as u32);
        }
        let old = guest::u32_at(mem, uaddr2)?;
        let arg = oparg as u32;
        let new = match op & 7 {
            0 => arg,
            1 => old.wrapping_add(arg),
            2 => old | arg,
            3 => old & !arg,
            4 => old ^ arg,
            _ => return Err(Errno::ENOSYS),
        };
        guest::store_u32(mem, uaddr2, new)?;
        let old = old as i32;
        let passes = match cmp {
            0 => old == cmparg,
            1 => old != cmparg,
            2 => old < cmparg,
            3 => old <= cmparg,
            4 => old > cmparg,
            5 => old >= cmparg,
            _ => return Err(Errno::ENOSYS),
        };
        let mut woken = self.futex_wake(uaddr, FUTEX_BITSET_MATCH_ANY, nr_wake);
        if passes {
            woken += self.futex_wake(uaddr2, FUTEX_BITSET_MATCH_ANY, nr_wake2);
        }
        Ok(woken)
    }
}
