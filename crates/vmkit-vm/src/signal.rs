//! The one signal table of both guests: POSIX signals as Linux i386 numbers them, their
//! names and descriptions, and the exit-status rule a shell applies to a process a signal
//! ended (128 + the signal's number).
//!
//! Both guests stop a faulting program the way a Linux process would be stopped, so they
//! share the mapping of the fault concepts they have in common:
//!
//! | fault | signal |
//! |---|---|
//! | a load, store or fetch refused by memory | [`Signal::SEGV`] |
//! | bytes that are not an instruction (or one not implemented) | [`Signal::ILL`] |
//! | division by zero, quotient overflow, arithmetic exception | [`Signal::FPE`] |
//! | a breakpoint instruction | [`Signal::TRAP`] |
//! | a write into a pipe without readers | [`Signal::PIPE`] |
//!
//! Each guest maps its own fault kinds onto these (the native machine's host-function errors
//! are [`Signal::ABRT`], the x86 guest's unsupported system calls [`Signal::SYS`]).
//!
//! ```
//! use vmkit_vm::signal::Signal;
//! let sig = Signal::from_number(11).unwrap();
//! assert_eq!(sig, Signal::SEGV);
//! assert_eq!(sig.name(), "SIGSEGV");
//! assert_eq!(sig.exit_status(), 139);
//! ```

use std::borrow::Cow;
use std::fmt;

/// The exit status for a run stopped by its step limit (as `timeout` exits).
pub const STEP_LIMIT_STATUS: i32 = 124;

/// Calls `$m!` with the signal table: one `number CONST "NAME" "description" DefaultAction`
/// row per standard signal, numbered as on Linux i386, with its default action as signal(7)
/// gives it.
macro_rules! for_each_signal {
    ($m:ident) => {
        $m! {
            1 HUP "SIGHUP" "hangup" Terminate;
            2 INT "SIGINT" "interrupt" Terminate;
            3 QUIT "SIGQUIT" "quit" CoreDump;
            4 ILL "SIGILL" "illegal instruction" CoreDump;
            5 TRAP "SIGTRAP" "trace/breakpoint trap" CoreDump;
            6 ABRT "SIGABRT" "aborted" CoreDump;
            7 BUS "SIGBUS" "bus error" CoreDump;
            8 FPE "SIGFPE" "floating-point exception" CoreDump;
            9 KILL "SIGKILL" "killed" Terminate;
            10 USR1 "SIGUSR1" "user defined signal 1" Terminate;
            11 SEGV "SIGSEGV" "segmentation fault" CoreDump;
            12 USR2 "SIGUSR2" "user defined signal 2" Terminate;
            13 PIPE "SIGPIPE" "broken pipe" Terminate;
            14 ALRM "SIGALRM" "alarm clock" Terminate;
            15 TERM "SIGTERM" "terminated" Terminate;
            16 STKFLT "SIGSTKFLT" "stack fault" Terminate;
            17 CHLD "SIGCHLD" "child exited" Ignore;
            18 CONT "SIGCONT" "continued" Continue;
            19 STOP "SIGSTOP" "stopped (signal)" Stop;
            20 TSTP "SIGTSTP" "stopped" Stop;
            21 TTIN "SIGTTIN" "stopped (tty input)" Stop;
            22 TTOU "SIGTTOU" "stopped (tty output)" Stop;
            23 URG "SIGURG" "urgent I/O condition" Ignore;
            24 XCPU "SIGXCPU" "CPU time limit exceeded" CoreDump;
            25 XFSZ "SIGXFSZ" "file size limit exceeded" CoreDump;
            26 VTALRM "SIGVTALRM" "virtual timer expired" Terminate;
            27 PROF "SIGPROF" "profiling timer expired" Terminate;
            28 WINCH "SIGWINCH" "window changed" Ignore;
            29 IO "SIGIO" "I/O possible" Terminate;
            30 PWR "SIGPWR" "power failure" Terminate;
            31 SYS "SIGSYS" "bad system call" CoreDump;
        }
    };
}

/// The highest signal number Linux i386 has (`_NSIG`); 32 and above are real-time signals.
pub const MAX_SIGNAL: u32 = 64;

/// The first real-time signal (`SIGRTMIN` as the kernel numbers it).
pub const FIRST_REALTIME: u32 = 32;

/// What a signal does to a process that neither ignores nor catches it (signal(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// The process ends (`Term`).
    Terminate,
    /// The process ends and dumps core (`Core`); the exit status is the same as for
    /// `Terminate`.
    CoreDump,
    /// Nothing happens (`Ign`).
    Ignore,
    /// The process stops (`Stop`).
    Stop,
    /// A stopped process continues (`Cont`); a running one is not affected.
    Continue,
}

/// A signal, 1 to [`MAX_SIGNAL`]: one of the standard ones (the associated constants) or a
/// real-time signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(u8);

macro_rules! define_signals {
    ($($num:literal $id:ident $name:literal $desc:literal $action:ident;)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($num), "): ", $desc, ".")]
                pub const $id: Signal = Signal($num);
            )*
        }

        /// Name, description and default action by number (index 0 unused).
        const TABLE: [(&str, &str, DefaultAction); FIRST_REALTIME as usize] = [
            ("0", "no signal", DefaultAction::Ignore),
            $(($name, $desc, DefaultAction::$action),)*
        ];
    };
}

for_each_signal!(define_signals);

impl Signal {
    /// The signal numbered `n`, if `n` is 1 to [`MAX_SIGNAL`].
    pub const fn from_number(n: u32) -> Option<Signal> {
        if n >= 1 && n <= MAX_SIGNAL {
            Some(Signal(n as u8))
        } else {
            None
        }
    }

    /// Its number.
    pub const fn number(self) -> u32 {
        self.0 as u32
    }

    /// Whether it is a real-time signal (32 and above).
    pub const fn is_realtime(self) -> bool {
        self.0 as u32 >= FIRST_REALTIME
    }

    /// Its name, `SIGSEGV` for instance; `SIGRT<n>` for the real-time signal `32 + n`.
    pub fn name(self) -> Cow<'static, str> {
        signal_name(self.number())
    }

    /// What it means, as `strsignal` says it ("segmentation fault"); "real-time signal"
    /// for the real-time ones.
    pub fn description(self) -> &'static str {
        match TABLE.get(self.0 as usize) {
            Some((_, desc, _)) => desc,
            None => "real-time signal",
        }
    }

    /// What the kernel does with it when the process neither ignores nor catches it;
    /// real-time signals terminate.
    pub fn default_action(self) -> DefaultAction {
        match TABLE.get(self.0 as usize) {
            Some((_, _, action)) => *action,
            None => DefaultAction::Terminate,
        }
    }

    /// Whether its default action leaves a running process as it is (`SIGCHLD`, `SIGURG`,
    /// `SIGWINCH`, and `SIGCONT`, which only resumes a stopped one).
    pub fn ignored_by_default(self) -> bool {
        matches!(
            self.default_action(),
            DefaultAction::Ignore | DefaultAction::Continue
        )
    }

    /// The status a shell shows for a process this signal ended: 128 + its number.
    pub const fn exit_status(self) -> i32 {
        128 + self.0 as i32
    }

    /// The signal that ended a process with exit `status`, if the status is one of the
    /// 128 + n values.
    pub const fn from_exit_status(status: i32) -> Option<Signal> {
        if status > 128 {
            Signal::from_number((status - 128) as u32)
        } else {
            None
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The name of any signal number, as `strace` prints it: `SIGHUP` ... `SIGSYS` for the
/// standard signals, `SIGRT<n>` from 32 on, and `0` for 0 (the "does it exist" probe of
/// `kill`).
pub fn signal_name(n: u32) -> Cow<'static, str> {
    match TABLE.get(n as usize) {
        Some((name, _, _)) => Cow::Borrowed(name),
        None => Cow::Owned(format!("SIGRT{}", n - FIRST_REALTIME)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_statuses_agree() {
        for n in 1..FIRST_REALTIME {
            let sig = Signal::from_number(n).unwrap();
            assert_eq!(sig.number(), n);
            assert!(sig.name().starts_with("SIG"));
            assert_eq!(Signal::from_exit_status(sig.exit_status()), Some(sig));
        }
        assert_eq!(Signal::SEGV.exit_status(), 139);
        assert_eq!(Signal::ILL.exit_status(), 132);
        assert_eq!(Signal::FPE.exit_status(), 136);
        assert_eq!(Signal::TRAP.exit_status(), 133);
        assert_eq!(Signal::PIPE.exit_status(), 141);
        assert_eq!(Signal::SYS.name(), "SIGSYS");
        assert_eq!(signal_name(0), "0");
        assert_eq!(signal_name(34), "SIGRT2");
        assert_eq!(Signal::from_number(64).unwrap().name(), "SIGRT32");
        assert!(Signal::from_number(0).is_none());
        assert!(Signal::from_number(65).is_none());
        assert_eq!(Signal::from_exit_status(124), None);
        let ignored: Vec<u32> = (1..=MAX_SIGNAL)
            .filter_map(Signal::from_number)
            .filter(|s| s.ignored_by_default())
            .map(Signal::number)
            .collect();
        assert_eq!(ignored, [17, 18, 23, 28]);
        assert_eq!(Signal::SEGV.default_action(), DefaultAction::CoreDump);
        assert_eq!(Signal::STOP.default_action(), DefaultAction::Stop);
    }
}
