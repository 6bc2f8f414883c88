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

pub use scheduler::DEADLOCK_STATUS;

#[cfg(test)]
mod tests {
    use super::super::{Boundary, Errno, Kernel, Linux, SyscallOutcome, TIME_SLICE};
    use crate::cpu::{Cpu, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP};
    use vmkit_mem::{Memory, PAGE_SIZE};

    const CLONE: u32 = 120;
    const FUTEX: u32 = 240;
    const EXIT: u32 = 1;
    /// The flags glibc's `pthread_create` passes (without `CLONE_SETTLS`).
    const FLAGS: u32 = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x100000 | 0x200000;
    const WORD: u32 = 0x1000;

    struct Rig {
        os: Linux,
        cpu: Cpu,
        mem: Memory,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                os: Linux::default(),
                cpu: Cpu::default(),
                mem: Memory::new(16 * PAGE_SIZE),
            }
        }

        /// Calls `nr` as the running thread; the result in eax, as i32.
        fn call(&mut self, nr: u32, args: &[u32]) -> i32 {
            self.cpu.regs[EAX] = nr;
            for (reg, v) in [EBX, ECX, EDX, ESI, EDI, EBP].into_iter().zip(args) {
                self.cpu.regs[reg] = *v;
            }
            let outcome = self.os.syscall(&mut self.cpu, &mut self.mem);
            assert!(
                matches!(outcome, SyscallOutcome::Resume),
                "{nr}: {outcome:?}"
            );
            self.cpu.regs[EAX] as i32
        }

        fn boundary(&mut self) -> Boundary {
            self.os.at_boundary(&mut self.cpu, &mut self.mem)
        }

        /// A new thread with stack `stack` (marked in esi, to tell the threads apart).
        fn spawn(&mut self, stack: u32) -> u32 {
            self.cpu.regs[ESI] = 0;
            let tid = self.call(CLONE, &[FLAGS, stack, 0x2000, 0, 0x2004]);
            assert!(tid > 0, "{tid}");
            tid as u32
        }

        fn tid(&self) -> u32 {
            self.os.thread().tid
        }
    }

    #[test]
    fn a_thread_runs_its_slice_then_the_next_in_turn() {
        let mut r = Rig::new();
        r.cpu.regs[ESP] = 0x9000;
        let t1 = r.spawn(0x8000);
        let t2 = r.spawn(0x7000);
        assert_eq!((t1, t2), (1001, 1002));
        assert_eq!(r.mem.peek(0x2000, 4).unwrap(), 1002u32.to_le_bytes());
        // Part of a slice: the creator runs on.
        r.os.ran(TIME_SLICE - 10);
        assert_eq!(r.os.time_slice(), 10);
        assert_eq!(r.boundary(), Boundary::Continue);
        assert_eq!(r.tid(), 1000);
        r.os.ran(10);
        assert_eq!(r.boundary(), Boundary::Continue);
        assert_eq!(
            (r.tid(), r.cpu.regs[ESP], r.cpu.regs[EAX]),
            (1001, 0x8000, 0)
        );
        r.os.ran(TIME_SLICE);
        r.boundary();
        assert_eq!((r.tid(), r.cpu.regs[ESP]), (1002, 0x7000));
        r.os.ran(TIME_SLICE);
        r.boundary();
        assert_eq!(
            (r.tid(), r.cpu.regs[ESP], r.cpu.regs[EAX]),
            (1000, 0x9000, 1002)
        );
        // sched_yield gives way at once.
        assert_eq!(r.call(158, &[]), 0);
        r.boundary();
        assert_eq!(r.tid(), 1001);
    }

    #[test]
    fn futex_wait_blocks_and_wake_resumes_in_order() {
        let mut r = Rig::new();
        r.spawn(0x8000);
        r.spawn(0x7000);
        assert_eq!(r.call(FUTEX, &[WORD, 0, 1]), -Errno::EAGAIN.0);
        assert_eq!(r.call(FUTEX, &[WORD + 1, 0, 0]), -Errno::EINVAL.0);
        // 1000 waits, then 1001: 1002 runs and wakes one (1000, the first to wait).
        r.call(FUTEX, &[WORD, 128, 0]);
        r.boundary();
        assert_eq!(r.tid(), 1001);
        r.call(FUTEX, &[WORD, 0, 0]);
        r.boundary();
        assert_eq!(r.tid(), 1002);
        assert_eq!(r.call(FUTEX, &[WORD, 1, 1]), 1);
        r.os.ran(TIME_SLICE);
        r.boundary();
        assert_eq!((r.tid(), r.cpu.regs[EAX]), (1000, 0));
        // Requeue the other waiter to another word, then wake it there.
        assert_eq!(r.call(FUTEX, &[WORD, 3, 0, 1, WORD + 8]), 1);
        assert_eq!(r.call(FUTEX, &[WORD, 1, 1]), 0);
        assert_eq!(r.call(FUTEX, &[WORD + 8, 1, 5]), 1);
    }

    #[test]
    fn a_lone_wait_times_out_and_a_wait_forever_is_a_deadlock() {
        let mut r = Rig::new();
        r.mem
            .poke(0x3000, &[0, 0, 0, 0, 0x40, 0x4B, 0x4C, 0])
            .unwrap(); // 5 ms
        assert_eq!(r.call(FUTEX, &[WORD, 0, 0, 0x3000]), 0);
        assert_eq!(r.boundary(), Boundary::Continue);
        assert_eq!(r.cpu.regs[EAX] as i32, -Errno::ETIMEDOUT.0);
        r.spawn(0x8000);
        r.call(FUTEX, &[WORD, 0, 0]);
        r.boundary();
        assert_eq!(r.tid(), 1001);
        r.call(FUTEX, &[WORD, 0, 0]);
        assert_eq!(r.boundary(), Boundary::Exit(super::DEADLOCK_STATUS));
    }

    #[test]
    fn exit_of_a_thread_clears_its_tid_and_releases_its_robust_futexes() {
        let mut r = Rig::new();
        let t = r.spawn(0x8000);
        // The creator waits for the child's tid word (pthread_join).
        r.mem.poke(0x2004, &t.to_le_bytes()).unwrap();
        r.call(FUTEX, &[0x2004, 0, t]);
        r.boundary();
        assert_eq!(r.tid(), t);
        // A robust list with one entry at 0x4000 whose futex word (offset 8) it owns, with
        // waiters.
        let head = 0x5000u32;
        let words = [0x4000u32, 8, 0];
        for (k, w) in words.iter().enumerate() {
            r.mem
                .poke((head + 4 * k as u32) as u64, &w.to_le_bytes())
                .unwrap();
        }
        r.mem.poke(0x4000, &head.to_le_bytes()).unwrap();
        r.mem
            .poke(0x4008, &(t | 0x8000_0000).to_le_bytes())
            .unwrap();
        assert_eq!(r.call(311, &[head, 12]), 0);
        assert_eq!(r.call(311, &[head, 16]), -Errno::EINVAL.0);
        r.call(EXIT, &[3]);
        assert_eq!(r.boundary(), Boundary::Continue);
        assert_eq!((r.tid(), r.cpu.regs[EAX]), (1000, 0));
        assert_eq!(r.mem.peek(0x2004, 4).unwrap(), [0; 4]);
        assert_eq!(r.mem.peek(0x4008, 4).unwrap(), 0xC000_0000u32.to_le_bytes());
        // gone: signals to it find nobody; the last thread's exit ends the process.
        assert_eq!(r.call(238, &[t, 0]), -Errno::ESRCH.0);
        assert_eq!(r.call(224, &[]), 1000);
        r.cpu.regs[EAX] = EXIT;
        r.cpu.regs[EBX] = 7;
        assert_eq!(
            r.os.syscall(&mut r.cpu, &mut r.mem),
            SyscallOutcome::Exit(7)
        );
    }

    #[test]
    fn wake_op_changes_the_word_and_wakes_by_comparison() {
        let mut r = Rig::new();
        r.spawn(0x8000);
        r.call(FUTEX, &[WORD + 4, 0, 0]);
        r.boundary();
        // FUTEX_OP(ADD, 3, CMP_EQ, 0): word + 3; the old word (0) equals 0: wake there.
        let op = (1 << 28) | (3 << 12);
        assert_eq!(r.call(FUTEX, &[WORD, 5, 1, 1, WORD + 4, op]), 1);
        assert_eq!(
            r.mem.peek((WORD + 4) as u64, 4).unwrap(),
            3u32.to_le_bytes()
        );
        // A priority-inheritance operation is not offered.
        assert_eq!(r.call(FUTEX, &[WORD, 6, 0]), -Errno::ENOSYS.0);
    }
}
