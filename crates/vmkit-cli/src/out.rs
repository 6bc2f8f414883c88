//! Every byte the CLI itself writes to stdout or stderr goes through here.
//!
//! A reader that stops early (`vmkit dis fib.vmi | head`) closes the pipe. The standard
//! `print!` family panics on the resulting `EPIPE` (Rust ignores `SIGPIPE`, so the write
//! fails instead of killing the process). Here a closed stdout or stderr ends the process
//! quietly with status 141, as a process killed by `SIGPIPE` ends and as a guest that
//! writes into a closed pipe ends (the machines map that case to 141 too), so `set -o
//! pipefail` scripts see the same status whichever wrote last. Any other write error
//! (`> /dev/full`) on stdout is reported on stderr with status 1; on stderr it is ignored.
//!
//! `main.rs` shadows `print!`, `println!`, `eprint!` and `eprintln!` with macros that call
//! these functions, so every command, including ones added later, gets this behaviour
//! without thinking about it.
//!
//! The host's `SIGPIPE` stays ignored on purpose: the x86 guest must see `EPIPE` and its
//! own `SIGPIPE` disposition, not have vmkit killed under it.

use std::fmt;
use std::io::{self, Write};
use vmkit_machine::Signal;

/// The exit status when stdout or stderr is closed under us: 128 + SIGPIPE (13).
pub const CLOSED_PIPE_STATUS: i32 = Signal::PIPE.exit_status();

/// Writes formatted text to stdout.
pub fn stdout_fmt(args: fmt::Arguments) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        stdout_failed(e)
    }
}

/// Writes bytes to stdout (guest output captured by `trace`, for instance).
pub fn stdout_bytes(bytes: &[u8]) {
    if let Err(e) = io::stdout().lock().write_all(bytes) {
        stdout_failed(e)
    }
}

/// Flushes stdout; `main` calls it before exiting so a late error is not lost.
pub fn flush_stdout() {
    if let Err(e) = io::stdout().lock().flush() {
        stdout_failed(e)
    }
}

/// Writes formatted text to stderr.
pub fn stderr_fmt(args: fmt::Arguments) {
    stderr_result(io::stderr().lock().write_fmt(args));
}

/// Writes bytes to stderr.
pub fn stderr_bytes(bytes: &[u8]) {
    stderr_result(io::stderr().lock().write_all(bytes));
}

/// A writer for code that wants `impl Write` (a `BufWriter` around it, for instance);
/// its errors end the process the same way.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        stdout_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        flush_stdout();
        Ok(())
    }
}

fn stdout_failed(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE_STATUS);
    }
    // Drop what is still buffered: the next flush (at exit) would only fail again.
    let _ = writeln!(io::stderr(), "error: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// A closed stderr (`2>&1 | head`) ends the process like a closed stdout. Other stderr
/// errors (`2>/dev/full`) are ignored: diagnostics that cannot be shown must not end a run.
fn stderr_result(r: io::Result<()>) {
    if matches!(&r, Err(e) if e.kind() == io::ErrorKind::BrokenPipe) {
        std::process::exit(CLOSED_PIPE_STATUS);
    }
}
