//! Sending and delivering: `kill`, `tkill`, `tgkill` aimed at the guest itself, SIGPIPE
//! after a write, the host bridge's signals; delivery at each interruption point
//! ([`Linux::deliver_signals`], from [`crate::linux::Kernel::at_boundary`]) and of the
//! signal a fault raises ([`Linux::deliver_fault`], from
//! [`crate::linux::Kernel::on_fault`]); and the fate of a system call a host signal
//! interrupted (`ERESTARTSYS`): restarted (`SA_RESTART`, or no handler ran) or `EINTR`.

use super::frame::{Delivery, Trap};
use super::{bit, host, report_death, Linux, SigInfo};
use super::{death_status, SA_NODEFER, SA_RESETHAND, SA_RESTART, SIGPIPE, SIGSEGV, SIG_DFL};
use super::{SIG_IGN, SI_USER};
use crate::cpu::{Cpu, EAX};
use crate::linux::errno::Errno;
use crate::linux::{Boundary, Completion, FaultDelivery, FaultSignal, GUEST_UID};
use vmkit_mem::Memory;
use vmkit_vm::signal::{DefaultAction, Signal};

/// The signals an instruction raises, delivered before any other pending one (as the
/// kernel's `SYNCHRONOUS_MASK`: SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS).
const SYNCHRONOUS: u64 = bit(11) | bit(7) | bit(4) | bit(5) | bit(8) | bit(31);

/// The default action of signal `sig` (real-time signals end the process).
fn default_action(sig: u32) -> DefaultAction {
    Signal::from_number(sig).map_or(DefaultAction::Terminate, Signal::default_action)
}

/// What an interrupted system call becomes: `handler_flags` are the `sa_flags` of the
/// handler about to run, `None` when none runs.
fn restart(cpu: &mut Cpu, nr: u32, handler_flags: Option<u32>) {
    if cpu.regs[EAX] != (-Errno::ERESTARTSYS.0) as u32 {
        return;
    }
    match handler_flags {
        Some(flags) if flags & SA_RESTART == 0 => cpu.regs[EAX] = (-Errno::EINTR.0) as u32,
        // `int 0x80` again, with the call's number.
        _ => {
            cpu.eip = cpu.eip.wrapping_sub(2);
            cpu.regs[EAX] = nr;
        }
    }
}

/// The `sigcontext` trap fields of a fault (`trapno`, `err`, `cr2`) as the exception that
/// raised it leaves them: the vector and error code come with the fault; `cr2` is the
/// faulting address of a page fault (vector 14).
fn trap_of(fault: &FaultSignal) -> Trap {
    const PAGE_FAULT: u32 = 14;
    Trap {
        trapno: fault.trapno,
        err: fault.error_code,
        cr2: if fault.trapno == PAGE_FAULT {
            fault.addr
        } else {
            0
        },
    }
}

impl Linux {
    /// Whether signal `sig` is ignored: `SIG_IGN`, or the default action ignores it.
    pub(in crate::linux) fn ignores(&self, sig: u32) -> bool {
        let a = self.signals.actions[sig as usize];
        a.handler == SIG_IGN
            || (a.handler == SIG_DFL
                && matches!(
                    default_action(sig),
                    DefaultAction::Ignore | DefaultAction::Continue
                ))
    }

    /// Sends `sig` to the process: an ignored signal that is not blocked is dropped, as
    /// Linux drops it when it is sent.
    pub(super) fn send_to_process(&mut self, sig: u32, info: SigInfo) {
        if self.ignores(sig) && self.thread().signals.mask & bit(sig) == 0 {
            return;
        }
        if self.signals.pending & bit(sig) == 0 {
            self.signals.info[sig as usize - 1] = info;
        }
        self.signals.pending |= bit(sig);
    }

    /// Sends `sig` to the running thread (see [`Linux::send_to_process`]).
    pub(in crate::linux) fn send_to_thread(&mut self, sig: u32, info: SigInfo) {
        if self.ignores(sig) && self.thread().signals.mask & bit(sig) == 0 {
            return;
        }
        let t = &mut self.thread_mut().signals;
        if t.pending & bit(sig) == 0 {
            t.info[sig as usize - 1] = info;
        }
        t.pending |= bit(sig);
    }

    /// Sends `sig` to the running thread so that it cannot be blocked or ignored away
    /// (`force_sig`): a blocked or ignored one gets its default action back.
    pub(super) fn force_signal(&mut self, sig: u32, info: SigInfo) {
        let blocked = self.thread().signals.mask & bit(sig) != 0;
        if blocked || self.signals.actions[sig as usize].handler == SIG_IGN {
            self.signals.actions[sig as usize].handler = SIG_DFL;
            self.thread_mut().signals.mask &= !bit(sig);
        }
        let t = &mut self.thread_mut().signals;
        t.info[sig as usize - 1] = info;
        t.pending |= bit(sig);
    }

    /// Moves the signals the host bridge received into the process's pending set.
    pub(super) fn absorb_host_signals(&mut self) {
        let set = host::take();
        for sig in (1..=64u32).filter(|s| set & bit(*s) != 0) {
            let (code, host_pid) = host::sender(sig);
            // A guest process sent it: its guest pid; anyone else: the host's pid.
            let pid = self.guest_pid_of_host(host_pid as i32).unwrap_or(host_pid);
            self.send_to_process(sig, SigInfo::sent(code, pid, GUEST_UID));
        }
    }

    /// `kill(pid, sig)` aimed at the guest itself (its pid, 0, or minus its pid; the
    /// process part's `kill_process` sends to other guest processes and groups); signal 0
    /// only probes.
    pub(in crate::linux) fn kill(&mut self, pid: u32, sig: u32) -> Result<u32, Errno> {
        if sig > 64 {
            return Err(Errno::EINVAL);
        }
        let own = self.pid();
        let me = pid == own || pid == 0 || pid as i32 == -(own as i32);
        if !me {
            return Err(Errno::ESRCH);
        }
        if sig != 0 {
            self.send_to_process(sig, SigInfo::sent(SI_USER, own, GUEST_UID));
        }
        Ok(0)
    }

    /// `rt_sigqueueinfo(pid, sig, info)` and `rt_tgsigqueueinfo(tgid, tid, sig, info)`
    /// aimed at the guest itself: the signal with the caller's `siginfo` (`si_code`, and
    /// the pid, uid and value words). Only the guest itself is reachable here, and a
    /// process may give itself any `si_code`.
    pub(in crate::linux) fn rt_sigqueueinfo(
        &mut self,
        mem: &mut Memory,
        pid: u32,
        tid: Option<u32>,
        sig: u32,
        info: u32,
    ) -> Result<u32, Errno> {
        if !(1..=64).contains(&sig) {
            return Err(Errno::EINVAL);
        }
        let b = crate::linux::guest::bytes(mem, info, 24)?;
        let word = |k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        let si = SigInfo {
            code: word(8) as i32,
            words: [word(12), word(16), word(20)],
        };
        if pid != self.pid() {
            return Err(Errno::ESRCH);
        }
        match tid {
            None => self.send_to_process(sig, si),
            Some(tid) if tid == self.thread().tid => self.send_to_thread(sig, si),
            Some(_) => return Err(Errno::ESRCH),
        }
        Ok(0)
    }

    /// Linux sends SIGPIPE to a writer whose pipe has no reader left (a guest pipe, or the
    /// host's stdout after `| head` exits); by default it ends the process, and the write
    /// fails with EPIPE once a handler returns (or if it is blocked or ignored). `result`
    /// is the write's.
    pub(in crate::linux) fn after_write(&mut self, result: Result<u32, Errno>) -> Completion {
        if result == Err(Errno::EPIPE) {
            let own = self.pid();
            self.send_to_thread(SIGPIPE, SigInfo::sent(SI_USER, own, GUEST_UID));
        }
        Completion::Returned(result)
    }

    /// Ends the process with signal `sig`'s default action, 128 + `sig`: the first process
    /// says so on stderr as today; a forked child says nothing, as a native one (whose
    /// parent sees the signal in `wait4`, and whose stderr may not be the host's), except in
    /// `--strace`'s log.
    fn die(&mut self, sig: u32) -> i32 {
        if self.strace {
            crate::linux::strace::log_killed(self, sig);
        }
        if !self.is_forked_child() {
            report_death(sig as i32);
        }
        self.record_death(sig as i32);
        let status = death_status(sig as i32);
        self.task.end(status);
        status
    }

    /// The next signal to deliver: synchronous ones first, then the lowest number.
    fn next_signal(&mut self) -> Option<(u32, SigInfo)> {
        let t = &self.thread().signals;
        let ready = (t.pending | self.signals.pending) & !t.mask;
        if ready == 0 {
            return None;
        }
        let first = if ready & SYNCHRONOUS != 0 {
            ready & SYNCHRONOUS
        } else {
            ready
        };
        let sig = first.trailing_zeros() + 1;
        self.take_pending(bit(sig))
    }

    /// What the running thread's handler of `sig` changes as it starts: the mask grows by
    /// the handler's mask and the signal itself (unless `SA_NODEFER`); `SA_RESETHAND`
    /// gives the signal its default action back.
    fn handler_started(&mut self, sig: u32) {
        let action = self.signals.actions[sig as usize];
        let mut blocked = action.mask;
        if action.flags & SA_NODEFER == 0 {
            blocked |= bit(sig);
        }
        self.thread_mut().signals.mask |= blocked & !super::UNBLOCKABLE;
        if action.flags & SA_RESETHAND != 0 {
            self.signals.actions[sig as usize].handler = SIG_DFL;
        }
    }

    /// Delivers the pending signals the mask lets through (one handler frame each, the
    /// last one set up running first, as Linux nests them), and settles a system call a
    /// host signal interrupted. Called at every interruption point.
    pub(in crate::linux) fn deliver_signals(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
    ) -> Boundary {
        self.absorb_host_signals();
        let mut interrupted = self.thread_mut().signals.interrupted.take();
        // At most one frame per signal number: the mask grows with each handler.
        for _ in 0..64 {
            let Some((sig, info)) = self.next_signal() else {
                break;
            };
            let action = self.signals.actions[sig as usize];
            if !action.has_handler() {
                if action.handler == SIG_IGN {
                    continue;
                }
                match default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        // The host process stops, as the guest's would; SIGCONT resumes it.
                        // SAFETY: raising SIGSTOP on ourselves has no memory effects.
                        unsafe { libc::raise(libc::SIGSTOP) };
                        continue;
                    }
                    DefaultAction::Terminate | DefaultAction::CoreDump => {
                        return Boundary::Exit(self.die(sig));
                    }
                }
            }
            if let Some(nr) = interrupted.take() {
                restart(cpu, nr, Some(action.flags));
            }
            if self.strace {
                crate::linux::strace::log_signal(self, sig, info.code, info.words);
            }
            let t = &mut self.thread_mut().signals;
            let old_mask = t.saved_mask.take().unwrap_or(t.mask);
            let d = Delivery {
                sig,
                action,
                info,
                old_mask,
                trap: Trap::default(),
            };
            if self.setup_frame(cpu, mem, &d).is_err() {
                return Boundary::Exit(self.die(SIGSEGV));
            }
            self.handler_started(sig);
        }
        if let Some(nr) = interrupted {
            restart(cpu, nr, None);
        }
        let t = &mut self.thread_mut().signals;
        if let Some(mask) = t.saved_mask.take() {
            t.mask = mask;
        }
        Boundary::Continue
    }

    /// Delivers the signal a fault raised: to its handler (the frame saves the faulting
    /// instruction's state), or, with no handler, or blocked, or ignored, the process ends
    /// as Linux's `force_sig` ends it.
    pub(in crate::linux) fn deliver_fault(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        fault: FaultSignal,
    ) -> FaultDelivery {
        let sig = fault.signal;
        let terminate = |os: &mut Linux, sig: u32| {
            os.record_death(sig as i32);
            let status = death_status(sig as i32);
            os.task.end(status);
            FaultDelivery::Terminate { status }
        };
        if !(1..=64).contains(&sig) {
            return terminate(self, sig);
        }
        let blocked = self.thread().signals.mask & bit(sig) != 0;
        let action = self.signals.actions[sig as usize];
        if blocked || !action.has_handler() {
            return terminate(self, sig);
        }
        let info = SigInfo::fault(fault.code, fault.addr);
        if self.strace {
            crate::linux::strace::log_signal(self, sig, info.code, info.words);
        }
        let d = Delivery {
            sig,
            action,
            info,
            old_mask: self.thread().signals.mask,
            trap: trap_of(&fault),
        };
        if self.setup_frame(cpu, mem, &d).is_err() {
            return terminate(self, SIGSEGV);
        }
        self.handler_started(sig);
        FaultDelivery::Handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_call_restarts_or_fails_with_eintr() {
        let mut cpu = Cpu::default();
        let interrupted = |cpu: &mut Cpu| {
            cpu.eip = 0x1002;
            cpu.regs[EAX] = (-Errno::ERESTARTSYS.0) as u32;
        };
        interrupted(&mut cpu);
        restart(&mut cpu, 3, Some(SA_RESTART));
        assert_eq!((cpu.eip, cpu.regs[EAX]), (0x1000, 3));
        interrupted(&mut cpu);
        restart(&mut cpu, 3, Some(0));
        assert_eq!((cpu.eip, cpu.regs[EAX] as i32), (0x1002, -4));
        interrupted(&mut cpu);
        restart(&mut cpu, 3, None);
        assert_eq!((cpu.eip, cpu.regs[EAX]), (0x1000, 3));
        // A call that completed is left alone.
        cpu.regs[EAX] = 5;
        restart(&mut cpu, 3, None);
        assert_eq!(cpu.regs[EAX], 5);
    }

    /// A fault with an `SA_SIGINFO` handler: the registers point at the handler with the
    /// kernel's frame, and `rt_sigreturn` from it gives the faulting state back.
    #[test]
    fn a_fault_runs_the_handler_and_rt_sigreturn_comes_back() {
        use super::super::frame::{rt_sigframe, sc};
        use crate::cpu::{EDX, ESP};
        let mut os = Linux::default();
        let mut mem = Memory::new(1 << 20);
        let action = super::super::Action {
            handler: 0x5000,
            flags: super::super::SA_SIGINFO | super::super::SA_RESTORER,
            restorer: 0x6000,
            mask: 0,
        };
        mem.poke(0x100, &action.to_bytes()).unwrap();
        assert_eq!(os.rt_sigaction(&mut mem, 11, 0x100, 0, 8), Ok(0));
        let mut cpu = Cpu::default();
        cpu.regs[ESP] = 0x8_0000;
        cpu.regs[EAX] = 77;
        cpu.eip = 0x1234;
        let fault = FaultSignal {
            signal: 11,
            code: 1,
            addr: 0xdead_0000,
            // A page fault on a read of a page not present, from user mode.
            trapno: 14,
            error_code: 4,
        };
        assert_eq!(
            os.deliver_fault(&mut cpu, &mut mem, fault),
            FaultDelivery::Handled
        );
        let frame = cpu.regs[ESP];
        assert_eq!((frame + 4) % 16, 0);
        assert_eq!((cpu.eip, cpu.regs[EAX]), (0x5000, 11));
        let word = |mem: &Memory, at: u32| {
            u32::from_le_bytes(mem.peek(at as u64, 4).unwrap().try_into().unwrap())
        };
        assert_eq!(word(&mem, frame + rt_sigframe::PRETCODE), 0x6000);
        assert_eq!(word(&mem, frame + rt_sigframe::PINFO), cpu.regs[EDX]);
        let info = frame + rt_sigframe::INFO;
        assert_eq!(
            [
                word(&mem, info),
                word(&mem, info + 8),
                word(&mem, info + 12)
            ],
            [11, 1, 0xdead_0000]
        );
        let mcontext = frame + rt_sigframe::UC_MCONTEXT;
        assert_eq!(word(&mem, mcontext + sc::EIP), 0x1234);
        assert_eq!(word(&mem, mcontext + sc::TRAPNO), 14);
        assert_eq!(word(&mem, mcontext + sc::CR2), 0xdead_0000);
        assert_ne!(
            os.thread().signals.mask & bit(11),
            0,
            "blocked in its handler"
        );
        // The handler returns: `ret` pops pretcode, the restorer calls rt_sigreturn.
        cpu.regs[ESP] = frame + 4;
        assert_eq!(
            os.rt_sigreturn(&mut cpu, &mut mem),
            Completion::Returned(Ok(77))
        );
        assert_eq!((cpu.eip, cpu.regs[ESP]), (0x1234, 0x8_0000));
        assert_eq!(os.thread().signals.mask, 0);
    }

    /// Blocked, or with no handler, a fault ends the process.
    #[test]
    fn a_blocked_fault_signal_ends_the_process() {
        let mut os = Linux::default();
        let mut mem = Memory::new(1 << 16);
        let mut cpu = Cpu::default();
        let fault = FaultSignal {
            signal: 8,
            code: 1,
            addr: 0,
            trapno: 0,
            error_code: 0,
        };
        assert_eq!(
            os.deliver_fault(&mut cpu, &mut mem, fault),
            FaultDelivery::Terminate { status: 136 }
        );
    }

    #[test]
    fn the_synchronous_mask_is_the_kernels() {
        let names: Vec<String> = (1..=64)
            .filter(|s| SYNCHRONOUS & bit(*s) != 0)
            .map(super::super::signal_name)
            .collect();
        assert_eq!(
            names,
            ["SIGILL", "SIGTRAP", "SIGBUS", "SIGFPE", "SIGSEGV", "SIGSYS"]
        );
    }
}
