//! `vmkit run`: load a program, run it to the end, report how it ended.

use crate::input::load_program;
use crate::MachineArgs;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use vmkit_machine::{Config, Exit, Machine, Signal};

/// Builds a machine for `file` with the command-line options applied.
pub fn build_machine(file: &Path, args: &MachineArgs) -> Result<Machine, String> {
    let image = load_program(file)?;
    let config = Config {
        memory_size: args.memory.unwrap_or(0),
        stack_size: args.stack.unwrap_or(0),
        wx: args.wx,
    };
    let mut machine = Machine::from_image(&image, &config)
        .map_err(|e| format!("error: {}: {e}", file.display()))?;
    if let Some(dir) = &args.grant {
        if !dir.is_dir() {
            return Err(format!("error: --grant {}: not a directory", dir.display()));
        }
        machine.grant_directory(dir);
    }
    Ok(machine)
}

/// Prints how the machine stopped (on stderr) and returns the process exit status.
pub fn report_exit(machine: &Machine, exit: &Exit, max_steps: Option<u64>) -> i32 {
    match exit {
        Exit::Halted | Exit::Exited(_) => {}
        Exit::Breakpoint => eprintln!(
            "vmkit: breakpoint (brk) at ip={:#x} after {}; exit status {} ({})",
            machine.ip(),
            instructions(machine.steps()),
            Signal::TRAP.exit_status(),
            Signal::TRAP.name()
        ),
        Exit::StepLimit => eprintln!(
            "vmkit: stopped after {} (--max-steps {}); next ip={:#x}",
            instructions(machine.steps()),
            max_steps.unwrap_or(0),
            machine.ip()
        ),
        // A process killed by SIGPIPE dies quietly; so does the guest.
        Exit::Fault(f) if f.kind == vmkit_machine::FaultKind::BrokenPipe => {}
        Exit::Fault(f) => {
            let signal = f.kind.signal();
            eprint!("vmkit: {f}");
            if let Some(place) = machine.symbolize(f.ip) {
                eprintln!("vmkit: the faulting instruction is at {place}");
            }
            eprintln!(
                "vmkit: after {}; exit status {} ({})",
                instructions(machine.steps()),
                signal.exit_status(),
                signal.name()
            );
        }
    }
    exit.status()
}

/// "1 instruction", "2 instructions".
fn instructions(n: u64) -> String {
    if n == 1 {
        "1 instruction".into()
    } else {
        format!("{n} instructions")
    }
}

/// `vmkit run`.
pub fn run(
    file: &Path,
    args: &MachineArgs,
    dump_regs: bool,
    screen: bool,
    json: bool,
) -> Result<i32, String> {
    let mut machine = build_machine(file, args)?;
    let exit = if screen {
        run_with_screen(&mut machine, args.max_steps)?
    } else {
        run_without_screen(&mut machine, args.max_steps)
    };
    let status = report_exit(&machine, &exit, args.max_steps);
    if dump_regs {
        if json {
            let regs: Vec<String> = machine.regs().iter().map(|v| v.to_string()).collect();
            eprintln!(
                "{{\"status\":{status},\"steps\":{},\"ip\":{},\"flags\":{},\"regs\":[{}]}}",
                machine.steps(),
                machine.ip(),
                machine.flags(),
                regs.join(",")
            );
        } else {
            eprint!("{}", machine.format_regs());
        }
    }
    Ok(status)
}

/// Runs with no device attached. Nothing then fills the keyboard mailbox, so a program that
/// draws on the screen and waits for a key (examples/screen.s) would wait silently until the
/// step limit, or for ever without one: it runs in slices, and once such a program has drawn
/// on the screen and is still running, one hint names `--screen`.
fn run_without_screen(machine: &mut Machine, max_steps: Option<u64>) -> Exit {
    /// About half a second of guest time: long enough that a program which merely finishes
    /// never sees the hint, short enough that a waiting one gets it at once.
    const SLICE: u64 = 1 << 28;
    let mut left = max_steps.unwrap_or(u64::MAX);
    let mut hinted = false;
    loop {
        let slice = left.min(SLICE);
        let exit = machine.run_for(slice);
        left -= slice.min(left);
        if exit != Exit::StepLimit || left == 0 {
            return exit;
        }
        if !hinted && screen_drawn(machine) {
            eprintln!(
                "vmkit: hint: the program has drawn on the memory-mapped screen (0xB8000) and is \
                 still running; run it with --screen to see the screen and connect the keyboard \
                 to stdin (without it no key comes and a program waiting for one never ends)"
            );
            hinted = true;
        }
    }
}

/// Whether any character cell of the screen holds text.
fn screen_drawn(machine: &Machine) -> bool {
    machine
        .screen_text()
        .is_some_and(|lines| lines.iter().any(|l| !l.trim().is_empty()))
}

/// Runs in slices so the screen can be redrawn and keys delivered between them.
fn run_with_screen(machine: &mut Machine, max_steps: Option<u64>) -> Result<Exit, String> {
    if machine.screen_text().is_none() {
        return Err(format!(
            "error: --screen needs at least {:#x} bytes of memory (the screen is at {:#x}); use --memory 1M",
            vmkit_machine::devices::DEVICES_END,
            vmkit_machine::devices::SCREEN_BASE
        ));
    }
    const SLICE: u64 = 2_000_000;
    let live = std::io::stdout().is_terminal();
    let keys = spawn_key_reader();
    let mut pending: Option<u8> = None;
    let mut left = max_steps.unwrap_or(u64::MAX);
    let mut last = String::new();
    let exit = loop {
        if pending.is_none() {
            match keys.try_recv() {
                Ok(k) => pending = Some(k),
                // stdin has ended and every key was delivered: say so, so that a program
                // waiting for a key can finish instead of polling until the step limit.
                Err(mpsc::TryRecvError::Disconnected) => {
                    machine.end_keyboard_input();
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
        if let Some(k) = pending {
            if machine.offer_key(k) {
                pending = None;
            }
        }
        let n = left.min(SLICE);
        let exit = machine.run_for(n);
        left -= n.min(left);
        if live {
            let now = machine.screen_ansi().unwrap_or_default();
            if now != last {
                print!("\x1b[H\x1b[2J{now}");
                let _ = std::io::stdout().flush();
                last = now;
            }
        }
        match exit {
            Exit::StepLimit if left > 0 => continue,
            other => break other,
        }
    };
    if !live {
        for line in machine.screen_text().unwrap_or_default() {
            println!("{line}");
        }
    }
    Ok(exit)
}

fn spawn_key_reader() -> mpsc::Receiver<u8> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdin.read(&mut byte) {
            if tx.send(byte[0]).is_err() {
                break;
            }
        }
    });
    rx
}
