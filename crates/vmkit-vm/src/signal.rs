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

/// Calls `$m!` with the signal table: one `number CONST "NAME" "description"` row per
/// standard signal, numbered as on Linux i386.
macro_rules! for_each_signal {
    ($m:ident) => {
        $m! {
            1 HUP "SIGHUP" "hangup";
            2 INT "SIGINT" "interrupt";
            3 QUIT "SIGQUIT" "quit";
            4 ILL "SIGILL" "illegal instruction";
            5 TRAP "SIGTRAP" "trace/breakpoint trap";
            6 ABRT "SIGABRT" "aborted";
            7 BUS "SIGBUS" "bus error";
            8 FPE "SIGFPE" "floating-point exception";
            9 KILL "SIGKILL" "killed";
            10 USR1 "SIGUSR1" "user defined signal 1";
            11 SEGV "SIGSEGV" "segmentation fault";
            12 USR2 "SIGUSR2" "user defined signal 2";
            13 PIPE "SIGPIPE" "broken pipe";
            14 ALRM "SIGALRM" "alarm clock";
            15 TERM "SIGTERM" "terminated";
            16 STKFLT "SIGSTKFLT" "stack fault";
            17 CHLD "SIGCHLD" "child exited";
            18 CONT "SIGCONT" "continued";
            19 STOP "SIGSTOP" "stopped (signal)";
            20 TSTP "SIGTSTP" "stopped";
            21 TTIN "SIGTTIN" "stopped (tty input)";
            22 TTOU "SIGTTOU" "stopped (tty output)";
            23 URG "SIGURG" "urgent I/O condition";
            24 XCPU "SIGXCPU" "CPU time limit exceeded";
            25 XFSZ "SIGXFSZ" "file size limit exceeded";
            26 VTALRM "SIGVTALRM" "virtual timer expired";
            27 PROF "SIGPROF" "profiling timer expired";
            28 WINCH "SIGWINCH" "window changed";
            29 IO "SIGIO" "I/O possible";
            30 PWR "SIGPWR" "power failure";
            31 SYS "SIGSYS" "bad system call";
        }
    };
}

/// The highest signal number Linux i386 has (`_NSIG`); 32 and above are real-time signals.
pub const MAX_SIGNAL: u32 = 64;

/// The first real-time signal (`SIGRTMIN` as the kernel numbers it).
pub const FIRST_REALTIME: u32 = 32;

/// A signal, 1 to [`MAX_SIGNAL`]: one of the standard ones (the associated constants) or a
/// real-time signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(u8);

macro_rules! define_signals {
    ($($num:literal $id:ident $name:literal $desc:literal;)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($num), "): ", $desc, ".")]
                pub const $id: Signal = Signal($num);
            )*
        }

        /// Name and description by number (index 0 unused).
        const TABLE: [(&str, &str); FIRST_REALTIME as usize] = [
            ("0", "no signal"),
            $(($name, $desc),)*
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
            Some((_, desc)) => desc,
            None => "real-time signal",
        }
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
        Some((name, _)) => Cow::Borrowed(name),
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
    }
}
