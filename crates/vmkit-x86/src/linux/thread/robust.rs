//! Robust futex lists (`set_robust_list`, `get_robust_list`): when a thread exits holding a
//! robust mutex, the kernel marks the mutex's futex word `FUTEX_OWNER_DIED` and wakes a
//! waiter, so that the next locker gets `EOWNERDEAD` instead of waiting forever. The walk
//! is Linux's (`exit_robust_list`): the list of `struct robust_list` entries from the head,
//! each futex word at the entry plus the head's `futex_offset`, and the entry the thread was
//! in the middle of adding or removing (`list_op_pending`).

use super::super::{guest, Errno, Linux};
use super::futex::FUTEX_BITSET_MATCH_ANY;
use vmkit_mem::Memory;

/// `sizeof(struct robust_list_head)` on i386: list, futex_offset, list_op_pending.
const HEAD_SIZE: u32 = 12;
/// A futex word's bit saying that threads wait on it.
const FUTEX_WAITERS: u32 = 0x8000_0000;
/// A futex word's bit saying that its owner died.
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// The owner's thread id in a futex word.
const FUTEX_TID_MASK: u32 = 0x3FFF_FFFF;
/// At most this many entries are walked (a guest's list may be a loop).
const ROBUST_LIST_LIMIT: u32 = 2048;

impl Linux {
    /// `set_robust_list(head, len)`: records the running thread's list head.
    pub(in super::super) fn set_robust_list(&mut self, head: u32, len: u32) -> Result<u32, Errno> {
        if len != HEAD_SIZE {
            return Err(Errno::EINVAL);
        }
        self.thread_mut().robust_list = head;
        Ok(0)
    }

    /// `get_robust_list(tid, head_ptr, len_ptr)`: the list head of thread `tid` (0 for the
    /// running one).
    pub(in super::super) fn get_robust_list(
        &mut self,
        mem: &mut Memory,
        tid: u32,
        head_ptr: u32,
        len_ptr: u32,
    ) -> Result<u32, Errno> {
        let head = if tid == 0 {
            self.thread().robust_list
        } else {
            let i = self.task.index_of(tid).ok_or(Errno::ESRCH)?;
            self.task.threads[i].robust_list
        };
        guest::store_u32(mem, len_ptr, HEAD_SIZE)?;
        guest::store_u32(mem, head_ptr, head)?;
        Ok(0)
    }

    /// Walks the running thread's robust list as it exits (thread `tid`): every futex it
    /// still owns is marked `FUTEX_OWNER_DIED` and one waiter woken. A bad pointer ends the
    /// walk quietly, as in Linux.
    pub(super) fn exit_robust_list(&mut self, mem: &mut Memory, tid: u32) {
        let head = self.thread().robust_list;
        if head == 0 {
            return;
        }
        let (Ok(first), Ok(offset), Ok(pending)) = (
            guest::u32_at(mem, head),
            guest::u32_at(mem, head.wrapping_add(4)),
            guest::u32_at(mem, head.wrapping_add(8)),
        ) else {
            return;
        };
        // The low bit of an entry pointer marks a priority-inheritance futex.
        let (pending, pending_pi) = (pending & !1, pending & 1 != 0);
        let (mut entry, mut pi) = (first & !1, first & 1 != 0);
        let mut limit = ROBUST_LIST_LIMIT;
        while entry != head {
            let next = guest::u32_at(mem, entry);
            if entry != pending {
                self.futex_death(mem, entry.wrapping_add(offset), tid, pi, false);
            }
            let Ok(next) = next else { break };
            (entry, pi) = (next & !1, next & 1 != 0);
            limit -= 1;
            if limit == 0 {
                break;
            }
        }
        if pending != 0 {
            self.futex_death(mem, pending.wrapping_add(offset), tid, pending_pi, true);
        }
    }

    /// Linux's `handle_futex_death` for the futex word at `uaddr` of a dying owner `tid`.
    fn futex_death(&mut self, mem: &mut Memory, uaddr: u32, tid: u32, pi: bool, pending: bool) {
        if uaddr % 4 != 0 {
            return;
        }
        let Ok(word) = guest::u32_at(mem, uaddr) else {
            return;
        };
        // Exiting between the lock's change of the word and the list's: wake a waiter,
        // which will look again.
        if pending && !pi && word == 0 {
            self.futex_wake(uaddr, FUTEX_BITSET_MATCH_ANY, 1);
            return;
        }
        if word & FUTEX_TID_MASK != tid {
            return;
        }
        let new = (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if guest::store_u32(mem, uaddr, new).is_err() {
            return;
        }
        if !pi && word & FUTEX_WAITERS != 0 {
            self.futex_wake(uaddr, FUTEX_BITSET_MATCH_ANY, 1);
        }
    }
}
