//! `--strace`: one line per system call on stderr, in strace's notation:
//! `openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_LARGEFILE) = -1 EACCES (Permission denied:
//! outside the sandbox)`. Arguments are decoded from a per-call signature; strings and
//! buffers are read from guest memory after the call (so `read` shows what it read).
//!
//! A call's signature (a column of [`super::syscalls`]' table) has one character per
//! argument: `d` signed, `u` unsigned, `x` hex, `p` pointer, `f` descriptor, `s` path, `o`
//! open flags, `M` mode when the previous flags create, `m` mode, `w` input buffer (length
//! in the next argument), `r` output buffer (length = result), `R` string written by the
//! call, `L` 64-bit value in two arguments, `W` lseek whence, `a` `*at` flags, `k` access
//! mode, `F` fcntl command, `I` ioctl request, `c` clock, `S` signal, `P` pipe descriptor
//! pair.

use super::fs::fd::flags::*;
use super::fs::{join64, AT_FDCWD};
use super::signal::signal_name;
use super::syscalls::{returns_address, strace_signature};
use super::{syscall_name, Completion, Errno, Linux};
use std::fmt::Write;
use vmkit_mem::Memory;

/// How many bytes of a buffer are shown before `...`.
const SHOWN: usize = 32;

/// The first `limit` bytes in strace's quoting (C escapes, octal for the rest), then `...`
/// if `more`.
fn quote_at_most(bytes: &[u8], limit: usize, more: bool) -> String {
    let mut s = String::from("\"");
    for &b in bytes.iter().take(limit) {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:o}");
            }
        }
    }
    s.push('"');
    if more {
        s.push_str("...");
    }
    s
}

/// `O_RDONLY|O_CREAT|...`.
fn open_flags(f: u32) -> String {
    let mut parts = vec![match f & O_ACCMODE {
        O_RDONLY => "O_RDONLY",
        O_WRONLY => "O_WRONLY",
        O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    }
    .to_string()];
    let mut rest = f & !O_ACCMODE;
    for (bit, name) in [
        (O_CREAT, "O_CREAT"),
        (O_EXCL, "O_EXCL"),
        (O_NOCTTY, "O_NOCTTY"),
        (O_TRUNC, "O_TRUNC"),
        (O_APPEND, "O_APPEND"),
        (O_NONBLOCK, "O_NONBLOCK"),
        (O_SYNC, "O_SYNC"),
        (O_DSYNC, "O_DSYNC"),
        (O_DIRECT, "O_DIRECT"),
        (O_LARGEFILE, "O_LARGEFILE"),
        (O_DIRECTORY, "O_DIRECTORY"),
        (O_NOFOLLOW, "O_NOFOLLOW"),
        (O_NOATIME, "O_NOATIME"),
        (O_CLOEXEC, "O_CLOEXEC"),
        (O_PATH, "O_PATH"),
    ] {
        if rest & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("0{rest:o}"));
    }
    parts.join("|")
}

fn pointer(v: u32) -> String {
    if v == 0 {
        "NULL".into()
    } else {
        format!("{v:#x}")
    }
}

fn c_string(mem: &Memory, addr: u32) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    match super::guest::c_string(mem, addr, 4096) {
        // Paths are shown whole, as strace does.
        Ok(s) => quote_at_most(&s, usize::MAX, false),
        Err(_) => pointer(addr),
    }
}

fn buffer(mem: &Memory, addr: u32, len: u32) -> String {
    let shown = (len as usize).min(SHOWN);
    match mem.read_bytes(addr as u64, shown as u64) {
        Ok(b) => quote_at_most(b, shown, len as usize > SHOWN),
        Err(_) => pointer(addr),
    }
}

/// One argument; `k` advances past the registers the argument used.
fn argument(
    kind: char,
    a: &[u32; 6],
    k: &mut usize,
    prev: u32,
    result: Option<i64>,
    mem: &Memory,
) -> String {
    let v = a[*k];
    *k += 1;
    match kind {
        'd' => (v as i32).to_string(),
        'u' => v.to_string(),
        'p' => pointer(v),
        'f' if v == AT_FDCWD => "AT_FDCWD".into(),
        'f' => (v as i32).to_string(),
        's' => c_string(mem, v),
        'o' => open_flags(v),
        'm' | 'M' if v == 0 => "0".into(),
        'm' | 'M' => format!("0{v:o}"),
        'w' => buffer(mem, v, a[*k]),
        'r' => match result {
            Some(n) if n >= 0 => buffer(mem, v, n as u32),
            _ => pointer(v),
        },
        'R' => match result {
            Some(n) if n >= 0 => c_string(mem, v),
            _ => pointer(v),
        },
        'L' => {
            let wide = join64(v, a[*k]);
            *k += 1;
            wide.to_string()
        }
        'W' => match v {
            0 => "SEEK_SET".into(),
            1 => "SEEK_CUR".into(),
            2 => "SEEK_END".into(),
            _ => v.to_string(),
        },
        'k' => {
            let mut parts = Vec::new();
            for (bit, name) in [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")] {
                if v & bit != 0 {
                    parts.push(name);
                }
            }
            if parts.is_empty() {
                "F_OK".into()
            } else {
                parts.join("|")
            }
        }
        'a' => {
            let mut parts = Vec::new();
            let mut rest = v;
            for (bit, name) in [
                (0x100, "AT_SYMLINK_NOFOLLOW"),
                (0x200, "AT_REMOVEDIR"),
                (0x800, "AT_NO_AUTOMOUNT"),
                (0x1000, "AT_EMPTY_PATH"),
            ] {
                if rest & bit != 0 {
                    parts.push(name.to_string());
                    rest &= !bit;
                }
            }
            if rest != 0 || parts.is_empty() {
                parts.push(format!("{rest:#x}"));
            }
            parts.join("|")
        }
        'F' => match v {
            0 => "F_DUPFD",
            1 => "F_GETFD",
            2 => "F_SETFD",
            3 => "F_GETFL",
            4 => "F_SETFL",
            5 => "F_GETLK",
            6 => "F_SETLK",
            7 => "F_SETLKW",
            12 => "F_GETLK64",
            13 => "F_SETLK64",
            14 => "F_SETLKW64",
            1030 => "F_DUPFD_CLOEXEC",
            _ => return v.to_string(),
        }
        .into(),
        'I' => match v {
            0x5401 => "TCGETS",
            0x5402 => "TCSETS",
            0x5403 => "TCSETSW",
            0x5404 => "TCSETSF",
            0x540F => "TIOCGPGRP",
            0x5413 => "TIOCGWINSZ",
            0x541B => "FIONREAD",
            _ => return format!("{v:#x}"),
        }
        .into(),
        'c' => match v {
            0 => "CLOCK_REALTIME",
            1 => "CLOCK_MONOTONIC",
            2 => "CLOCK_PROCESS_CPUTIME_ID",
            3 => "CLOCK_THREAD_CPUTIME_ID",
            4 => "CLOCK_MONOTONIC_RAW",
            5 => "CLOCK_REALTIME_COARSE",
            6 => "CLOCK_MONOTONIC_COARSE",
            7 => "CLOCK_BOOTTIME",
            _ => return v.to_string(),
        }
        .into(),
        'S' => signal_name(v),
        'P' => match (
            result,
            super::guest::u32_at(mem, v),
            super::guest::u32_at(mem, v.wrapping_add(4)),
        ) {
            (Some(0), Ok(r), Ok(w)) => format!("[{r}, {w}]"),
            _ => pointer(v),
        },
        _ => {
            let _ = prev;
            format!("{v:#x}")
        }
    }
}

/// Writes the `--strace` line for a finished call.
pub(super) fn log(linux: &mut Linux, nr: u32, a: [u32; 6], completion: &Completion, mem: &Memory) {
    use std::io::Write;
    // Each line is one write, so that the lines of processes writing at once stay whole.
    let prefix = linux.strace_prefix();
    let line = |text: String| {
        let _ = std::io::stderr().write_all(format!("{prefix}{text}\n").as_bytes());
    };
    if let Completion::NewImage = completion {
        if let Some(text) = linux.take_exec_line() {
            line(text);
        }
        return;
    }
    let result = match completion {
        Completion::Returned(Ok(v)) if returns_address(nr) => Some(*v as i64),
        Completion::Returned(Ok(v)) => Some(*v as i32 as i64),
        _ => None,
    };
    let mut args = Vec::new();
    let mut k = 0;
    let mut prev = 0;
    for kind in strace_signature(nr).chars() {
        if k >= 6 {
            break;
        }
        if kind == 'M' && prev & O_CREAT == 0 && prev & O_TMPFILE != O_TMPFILE {
            break;
        }
        let raw = a[k];
        args.push(argument(kind, &a, &mut k, prev, result, mem));
        prev = raw;
    }
    let shown = match completion {
        Completion::Returned(Ok(v)) if returns_address(nr) => format!("{v:#x}"),
        Completion::Returned(Ok(v)) => (*v as i32).to_string(),
        // As strace: the call is restarted, or fails with EINTR, once the signal is handled.
        Completion::Returned(Err(Errno::ERESTARTSYS)) => {
            "? ERESTARTSYS (To be restarted if SA_RESTART is set)".into()
        }
        Completion::Returned(Err(e)) => match linux.note {
            Some(note) => format!("-1 {} ({}: {note})", e.name(), e.message()),
            None => format!("-1 {} ({})", e.name(), e.message()),
        },
        Completion::Exited(_) | Completion::Killed(_) | Completion::NewImage => "?".into(),
        Completion::NotImplemented => "-1 ENOSYS (not implemented by vmkit)".into(),
        Completion::Unsupported => match linux.note {
            Some(note) => format!("? (unsupported: {note})"),
            None => "? (unsupported system call)".into(),
        },
    };
    line(format!(
        "{}({}) = {shown}",
        syscall_name(nr),
        args.join(", ")
    ));
    match completion {
        Completion::Exited(code) => line(format!("+++ exited with {} +++", code & 0xff)),
        Completion::Killed(sig) => line(format!("+++ killed by {} +++", signal_name(*sig as u32))),
        _ => {}
    }
}

/// The line of the log for a signal delivered to a handler, as strace shows it:
/// `--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---` for a fault,
/// `--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=1000, si_uid=1000} ---` for a
/// signal sent by a process.
pub(super) fn log_signal(linux: &Linux, sig: u32, code: i32, words: [u32; 3]) {
    let name = signal_name(sig);
    let fault_codes: &[&str] = match sig {
        4 => &["ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP"],
        5 => &["TRAP_BRKPT", "TRAP_TRACE"],
        7 => &["BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR"],
        8 => &[
            "FPE_INTDIV",
            "FPE_INTOVF",
            "FPE_FLTDIV",
            "FPE_FLTOVF",
            "FPE_FLTUND",
            "FPE_FLTRES",
            "FPE_FLTINV",
        ],
        11 => &["SEGV_MAPERR", "SEGV_ACCERR"],
        _ => &[],
    };
    let fault = code > 0 && (code as usize) <= fault_codes.len();
    let code_name = match code {
        _ if fault => fault_codes[code as usize - 1].to_string(),
        0 => "SI_USER".into(),
        0x80 => "SI_KERNEL".into(),
        -1 => "SI_QUEUE".into(),
        -2 => "SI_TIMER".into(),
        -6 => "SI_TKILL".into(),
        n => n.to_string(),
    };
    let rest = if fault {
        format!("si_addr={}", pointer(words[0]))
    } else if code == 0x80 {
        String::new()
    } else {
        format!("si_pid={}, si_uid={}", words[0], words[1])
    };
    let sep = if rest.is_empty() { "" } else { ", " };
    let prefix = linux.strace_prefix();
    eprintln!("{prefix}--- {name} {{si_signo={name}, si_code={code_name}{sep}{rest}}} ---");
}

/// The last line of the log when a signal ends the process.
pub(super) fn log_killed(linux: &Linux, sig: u32) {
    let prefix = linux.strace_prefix();
    eprintln!("{prefix}+++ killed by {} +++", signal_name(sig));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(bytes: &[u8]) -> String {
        quote_at_most(bytes, SHOWN, bytes.len() > SHOWN)
    }

    #[test]
    fn flags_and_quoting_look_like_strace() {
        assert_eq!(open_flags(0o100000), "O_RDONLY|O_LARGEFILE");
        assert_eq!(
            open_flags(O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC),
            "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
        );
        assert_eq!(quote(b"a\"b\n\x01"), "\"a\\\"b\\n\\1\"");
        assert_eq!(quote(&[b'x'; 40]), format!("\"{}\"...", "x".repeat(32)));
    }
}
