//! The scheduler: every guest thread runs on the one host thread, in turn, round-robin in
//! creation order. A thread runs until it has used its time slice ([`TIME_SLICE`]
//! instructions, counted from what the run loop reports through `Kernel::ran`), blocks
//! (`futex` wait, a sleep), yields (`sched_yield`) or exits; the switch happens in
//! `Kernel::at_boundary`, which swaps the machine's registers with the next thread's.
//! Nothing here depends on the host's timing except timeouts, so the same program with the
//! same input interleaves its threads the same way on every run.
//!
//! When every thread is blocked, the host sleeps until the earliest timeout; with no
//! timeout at all the process could never go on (natively it would hang forever): vmkit
//! ends it with [`DEADLOCK_STATUS`] and says which threads wait where.

use super::super::kernel::{Boundary, TIME_SLICE};
use super::super::task::{ThreadState, Wait, WaitOn};
use super::super::{Errno, Linux};
use crate::cpu::{Cpu, EAX};
use std::time::{Duration, Instant};

/// The exit status of a process that vmkit ended because all its threads wait forever
/// (a guest deadlock, which natively hangs): 125, as tools do for "the runner gave up"
/// rather than a status of the program's own.
pub const DEADLOCK_STATUS: i32 = 125;

impl Linux {
    /// Counts `instructions` more run by the running thread (the run loop's report).
    pub(in super::super) fn charge(&mut self, instructions: u64) {
        self.task.used = self.task.used.saturating_add(instructions);
    }

    /// How many instructions the running thread may still run before the scheduler looks
    /// at the others: the rest of its slice (a whole slice with one thread).
    pub(in super::super) fn slice_left(&self) -> u64 {
        if self.task.threaded() {
            TIME_SLICE.saturating_sub(self.task.used).max(1)
        } else {
            TIME_SLICE
        }
    }

    /// Blocks the running thread on `on` until it is woken or `deadline` passes. The
    /// call's result (eax) is set by whoever ends the wait.
    pub(in super::super) fn block(&mut self, on: WaitOn, deadline: Option<Instant>) {
        let seq = self.task.next_seq();
        self.thread_mut().state = ThreadState::Blocked(Wait { on, deadline, seq });
    }

    /// Ends the wait of thread `index`: it runs again, its call returning `eax`.
    pub(in super::super) fn wake(&mut self, index: usize, eax: u32) {
        let t = &mut self.task.threads[index];
        t.state = ThreadState::Runnable;
        t.resume_eax = Some(eax);
    }

    /// A sleep of the running thread while other threads exist: it blocks until `wait`
    /// has passed and the others run meanwhile. The result (0) is the call's.
    pub(in super::super) fn sleep_thread(&mut self, wait: Duration) -> u32 {
        let deadline = Instant::now().checked_add(wait);
        self.block(WaitOn::Sleep, deadline);
        0
    }

    /// `sched_yield`: the running thread gives way to the next runnable one.
    pub(in super::super) fn sched_yield(&mut self) -> u32 {
        self.task.yielding = true;
        0
    }

    /// The scheduler's part of `Kernel::at_boundary`: `Some` when the process has ended
    /// (or deadlocked); otherwise the registers in `cpu` are those of the thread to run,
    /// switched when the running one used its slice, blocked, yielded or exited.
    pub(in super::super) fn schedule(&mut self, cpu: &mut Cpu) -> Option<Boundary> {
        if let Some(status) = self.task.ended() {
            return Some(Boundary::Exit(status));
        }
        let task = &mut self.task;
        let running = task.threads[task.current].state == ThreadState::Runnable;
        if running && !task.yielding {
            if !task.threaded() {
                // Alone, a thread's slice never ends; a thread created later starts afresh.
                task.used = 0;
                return None;
            }
            if task.used < TIME_SLICE {
                return None;
            }
        }
        self.switch(cpu)
    }

    /// Saves the running thread's registers (or drops it, when it exited) and loads those
    /// of the next runnable thread after it, waiting for a timeout when none can run.
    fn switch(&mut self, cpu: &mut Cpu) -> Option<Boundary> {
        let task = &mut self.task;
        task.yielding = false;
        task.used = 0;
        let mut from = task.current;
        if task.threads[from].state == ThreadState::Exited {
            // The last thread's exit ends the process instead, so one remains.
            task.threads.remove(from);
            from = (from + task.threads.len() - 1) % task.threads.len();
        } else {
            task.threads[from].cpu = Some(Box::new(cpu.clone()));
        }
        loop {
            self.expire_waits();
            let threads = &mut self.task.threads;
            let n = threads.len();
            let next = (1..=n)
                .map(|k| (from + k) % n)
                .find(|&i| threads[i].state == ThreadState::Runnable);
            if let Some(next) = next {
                let t = &mut threads[next];
                if let Some(saved) = t.cpu.take() {
                    *cpu = *saved;
                }
                if let Some(eax) = t.resume_eax.take() {
                    cpu.regs[EAX] = eax;
                }
                self.task.current = next;
                return None;
            }
            match self.earliest_deadline() {
                Some(deadline) => {
                    let now = Instant::now();
                    if deadline > now {
                        std::thread::sleep(deadline - now);
                    }
                }
                None => {
                    eprintln!("vmkit: {}", self.deadlock_report());
                    self.task.end(DEADLOCK_STATUS);
                    return Some(Boundary::Exit(DEADLOCK_STATUS));
                }
            }
        }
    }

    /// Wakes every thread whose wait's deadline has passed: a futex wait fails with
    /// `ETIMEDOUT`, a sleep returns 0.
    fn expire_waits(&mut self) {
        if self.earliest_deadline().is_none() {
            return;
        }
        let now = Instant::now();
        for i in 0..self.task.threads.len() {
            if let ThreadState::Blocked(w) = self.task.threads[i].state {
                if w.deadline.is_some_and(|d| d <= now) {
                    let eax = match w.on {
                        WaitOn::Futex { .. } => (-Errno::ETIMEDOUT.0) as u32,
                        WaitOn::Sleep => 0,
                    };
                    self.wake(i, eax);
                }
            }
        }
    }

    /// The earliest deadline among blocked threads.
    fn earliest_deadline(&self) -> Option<Instant> {
        self.task
            .threads
            .iter()
            .filter_map(|t| match t.state {
                ThreadState::Blocked(w) => w.deadline,
                _ => None,
            })
            .min()
    }

    /// "deadlock: ..." with each thread and where it waits.
    fn deadlock_report(&self) -> String {
        let waits: Vec<String> = self
            .task
            .threads
            .iter()
            .map(|t| match t.state {
                ThreadState::Blocked(Wait {
                    on: WaitOn::Futex { addr, .. },
                    ..
                }) => format!("thread {} on futex {addr:#x}", t.tid),
                _ => format!("thread {}", t.tid),
            })
            .collect();
        format!(
            "deadlock: every guest thread waits with no timeout ({}); natively the process would hang",
            waits.join(", ")
        )
    }
}
