//! `vmkit`: the command-line front end. Each subcommand lives in its own module; this file
//! only parses arguments and turns outcomes into exit statuses.

#![forbid(unsafe_code)]

// These shadow std's printing macros in every module below (textual macro scope wins over
// the prelude), so that no command can panic on a closed pipe: see `out.rs`.
macro_rules! print {
    ($($t:tt)*) => { $crate::out::stdout_fmt(format_args!($($t)*)) };
}
macro_rules! println {
    () => { $crate::out::stdout_bytes(b"\n") };
    ($($t:tt)*) => { $crate::out::stdout_fmt(format_args!("{}\n", format_args!($($t)*))) };
}
macro_rules! eprint {
    ($($t:tt)*) => { $crate::out::stderr_fmt(format_args!($($t)*)) };
}
macro_rules! eprintln {
    () => { $crate::out::stderr_bytes(b"\n") };
    ($($t:tt)*) => { $crate::out::stderr_fmt(format_args!("{}\n", format_args!($($t)*))) };
}

mod bench;
mod bench_protect;
mod bench_x86;
mod devirt;
mod guest;
mod input;
mod out;
mod protect;
mod run;
mod size;
mod trace;
mod x86;

use clap::{CommandFactory, Parser, Subcommand};
use guest::{Flag, Guest};
use std::path::PathBuf;
use std::process::ExitCode;

/// Build, run, disassemble, trace and measure programs for the vmkit native machine, and
/// print its instruction set (`vmkit isa`).
#[derive(Parser)]
#[command(name = "vmkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that run a program.
#[derive(clap::Args, Clone, Debug)]
pub struct MachineArgs {
    /// Stop after N instructions (exit status 124).
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// Guest memory size, e.g. 1M, 64K, 4G (default: the image's request, else 1M).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_size)]
    pub memory: Option<u64>,
    /// Stack reserve, e.g. 256K (default: the image's request, else memory/8).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_size)]
    pub stack: Option<u64>,
    /// Enforce W^X: code is not writable, data is not executable.
    #[arg(long)]
    pub wx: bool,
    /// Let `sys open` read and write files below DIR; its paths are relative to DIR (nothing is reachable otherwise).
    #[arg(long, value_name = "DIR")]
    pub grant: Option<PathBuf>,
}

/// Which guest a program is for, and where flat x86 code loads (`run` and `trace`).
#[derive(clap::Args, Clone, Debug)]
pub struct GuestArgs {
    /// The guest architecture: `native` (vmkit's own ISA) or `x86` (IA-32).
    #[arg(long, default_value = "native", value_parser = ["native", "x86"])]
    pub arch: String,
    /// With --arch x86: FILE is flat machine code (as PyVM's execute_file), loaded at --base.
    #[arg(long, requires = "arch")]
    pub raw: bool,
    /// Load address for --raw code (default 0: PyVM loads there, and its example relies
    /// on it).
    #[arg(long, value_name = "ADDR", value_parser = size::parse_size)]
    pub base: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program (assembly source or image, recognised by content).
    #[command(
        after_help = "Examples:\n  vmkit run examples/hello.s\n  vmkit run --max-steps 1000000 --dump-regs examples/fib.s\n  vmkit run --screen examples/screen.s\n  vmkit run --arch x86 --raw examples/x86/pyvm_hello.bin\n  vmkit run ./hello-static-i386 -- arg1 arg2\n  vmkit run --strace ./cat-i386 -- notes.txt\n  vmkit run --mount /usr/share/dict:/dict ./grep-i386 -- word /dict/words\n  vmkit run --allow-write out ./busybox -- cp notes.txt out/\n  vmkit run --root target/debian-i386-root /bin/bash -- -c 'echo hi'\n\nFile-system sandbox (x86 programs): the guest sees the current directory tree, read-only, at its own path, the host's i386 loader and libraries (/lib/ld-linux.so.2, /lib32, /usr/lib32, /lib/i386-linux-gnu, /usr/lib/i386-linux-gnu, /etc/ld.so.cache where they exist), plus /dev/null, /dev/zero and /dev/urandom; with --root DIR it sees DIR as its / instead; --mount and --host-fs add read-only trees, --allow-write makes a visible directory writable. Anything else is refused with EACCES (--strace shows why). See docs/x86.md.\n\nThe guest's exit status becomes vmkit's; a fault exits with 128+signal (SIGSEGV 139, SIGILL 132, SIGFPE 136, SIGABRT 134 for host-function errors, SIGPIPE 141), `brk` with 133 (SIGTRAP), the step limit with 124."
    )]
    Run {
        /// Program: `.s` source, `.vmi` image, or a static ELF32 i386 executable.
        file: PathBuf,
        /// Arguments for an x86 program (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
        /// x86 programs: log every system call with its arguments and result.
        #[arg(long)]
        strace: bool,
        /// x86 programs: stop on a system call vmkit does not implement ("unsupported system
        /// call N (name)", exit status 159) instead of returning ENOSYS to the program as
        /// Linux does for a call it lacks.
        #[arg(long)]
        strict_syscalls: bool,
        /// x86 programs: the execution engine: `jit` (translated to host code; the default
        /// on x86-64 Linux hosts), `interp` (the interpreter) or `reference` (one
        /// instruction at a time through the reference semantics).
        #[arg(long, value_name = "ENGINE", value_parser = ["interp", "jit", "reference"])]
        engine: Option<String>,
        /// x86 programs: start with an empty environment instead of the host's.
        #[arg(long)]
        clear_env: bool,
        /// x86 programs: set an environment variable (repeatable).
        #[arg(long, value_name = "K=V")]
        env: Vec<String>,
        /// x86 programs: make a host file or directory visible, read-only, at GUEST (default:
        /// its own path). Repeatable.
        #[arg(long, value_name = "HOST[:GUEST]")]
        mount: Vec<String>,
        /// x86 programs: allow creating, changing and removing files below this host
        /// directory (it must be visible). Repeatable.
        #[arg(long, value_name = "DIR")]
        allow_write: Vec<PathBuf>,
        /// x86 programs: make the whole host file system visible, read-only.
        #[arg(long)]
        host_fs: bool,
        /// x86 programs: make DIR the guest's `/`, read-only, as `chroot DIR` does (e.g. Debian
        /// i386 packages unpacked with `dpkg -x`); the program path and every absolute path,
        /// links included, resolve inside it. --mount and --allow-write still apply.
        #[arg(long, value_name = "DIR", conflicts_with = "host_fs")]
        root: Option<PathBuf>,
        /// x86 programs: most address space the guest may map (as `ulimit -v`), e.g. 64M;
        /// beyond it mmap, mremap and brk fail with ENOMEM.
        #[arg(long, value_name = "SIZE", value_parser = size::parse_size)]
        memory_limit: Option<u64>,
        #[command(flatten)]
        machine: MachineArgs,
        /// Print registers when the program stops.
        #[arg(long)]
        dump_regs: bool,
        /// Show the 80x25 text screen (memory-mapped at 0xB8000); stdin feeds the keyboard.
        #[arg(long)]
        screen: bool,
        /// With --dump-regs: print the final state as JSON on stderr.
        #[arg(long, requires = "dump_regs")]
        json: bool,
        #[command(flatten)]
        guest: GuestArgs,
    },
    /// Assemble source into an image.
    #[command(after_help = "Example:\n  vmkit asm examples/fib.s -o fib.vmi")]
    Asm {
        /// Source file.
        src: PathBuf,
        /// Output image (default: the source name with `.vmi`; `-` for stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Disassemble an image (or source, after assembling it) to stdout; the output
    /// assembles back to identical bytes.
    #[command(
        after_help = "Example:\n  vmkit dis fib.vmi > fib-again.s && vmkit asm fib-again.s -o fib2.vmi && cmp fib.vmi fib2.vmi"
    )]
    Dis {
        /// Image or source file.
        file: PathBuf,
    },
    /// Virtualize a native program: its functions run in VMProtect-2-style virtual machines
    /// that the output image carries as native code.
    #[command(
        after_help = "Examples:\n  vmkit protect examples/fib.s -o fib.protected.vmi && vmkit run fib.protected.vmi\n  vmkit protect --seed 7 --vms 2 examples/sieve.s -o sieve.vmi\n  vmkit protect --function fib examples/fib.s -o fib.vmi\n\nEvery choice (register roles, VIP direction, the encryption chains, the handler permutation and aliases, junk code) comes from --seed: the same seed gives the same image. Functions that something else in the program points into (self-modifying code, computed jumps) stay native; the report on stderr says which and why. See docs/protector.md."
    )]
    Protect {
        /// Program: source or image.
        file: PathBuf,
        /// Where to write the protected image.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Seed for every per-build choice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of different VM instances; functions are dealt out to them in turn (never
        /// more VMs than protected functions: the report says when fewer are built).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
        vms: u64,
        /// Protect only this function (symbol name or 0x address, also of a function only
        /// pointers reach); repeatable.
        #[arg(long = "function", value_name = "NAME")]
        functions: Vec<String>,
        /// Use this profile (as `vmkit devirt --profile-out` writes it) instead of drawing
        /// one from the seed: the program gets the same virtual code it had.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["vms", "functions"])]
        profile: Option<PathBuf>,
        /// Do not name the VM's parts (vm0.vm_entry, vm0.calc_jmp, handlers) in the
        /// image's symbols; `vmkit dis` shows them by default.
        #[arg(long)]
        strip: bool,
    },
    /// Undo `vmkit protect`: recover the plain program from a protected image alone.
    #[command(
        after_help = "Examples:\n  vmkit protect examples/fib.s -o fib.p.vmi && vmkit devirt fib.p.vmi -o fib.plain.vmi && vmkit run fib.plain.vmi\n  vmkit devirt --explain fib.p.vmi -o fib.plain.vmi | less\n  vmkit devirt fib.p.vmi -o fib.plain.vmi --profile-out fib.profile && vmkit protect --profile fib.profile fib.plain.vmi -o again.vmi\n\nNo seed or side file is needed: the VM's chains, register roles and direction are read from vm_entry and calc_jmp, each handler is classified by running it on random VM states, and the virtual code is lifted by running the protector's lowering templates backwards. See docs/protector.md."
    )]
    Devirt {
        /// A protected image.
        file: PathBuf,
        /// Where to write the plain image.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Print what was recovered: per VM the chains, registers, direction and every
        /// handler; per function the virtual code listing with its native instructions.
        #[arg(long)]
        explain: bool,
        /// Write the recovered profile here (for `vmkit protect --profile`).
        #[arg(long, value_name = "FILE")]
        profile_out: Option<PathBuf>,
    },
    /// Run a program printing one line per executed instruction with the registers it changed.
    #[command(
        after_help = "Examples:\n  vmkit trace --max-steps 50 examples/fib.s\n  vmkit trace --arch x86 --raw examples/x86/pyvm_hello.bin\n  vmkit trace --max-steps 1000 ./hello-static-i386 -- arg\n\nx86 programs run on the reference engine, one instruction at a time, with the sandbox `vmkit run` gives by default (the current directory, read-only)."
    )]
    Trace {
        /// Program: `.s` source, `.vmi` image, or a static ELF32 i386 executable.
        file: PathBuf,
        /// Arguments for an x86 program (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        machine: MachineArgs,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        guest: GuestArgs,
    },
    /// Measure speed: the native machine against native Rust (`native`, the default), or
    /// the x86 guest against the real CPU and qemu-i386 on the same i386 programs (`x86`).
    #[command(
        after_help = "Examples:\n  vmkit bench\n  vmkit bench --quick --json\n  vmkit bench x86\n  vmkit bench x86 --quick --qemu /usr/bin/qemu-i386\n\n`vmkit bench x86` needs gcc -m32 (gcc-multilib); qemu-i386 (qemu-user), busybox (.ci/fetch-busybox) and the Debian i386 root with lua5.4 and gzip (.ci/fetch-debian-root; run as root, for chroot) are used when found. Every program runs natively, under qemu-i386 and under `vmkit run --engine interp` and `--engine jit`."
    )]
    Bench {
        /// What to measure: `native` (vmkit's own ISA), `x86` (the IA-32 guest) or `protect`
        /// (the cost of `vmkit protect` on the native benchmarks).
        #[arg(default_value = "native", value_parser = ["native", "x86", "protect"])]
        suite: String,
        /// Smaller problem sizes (a few seconds in all).
        #[arg(long)]
        quick: bool,
        /// Print results as JSON.
        #[arg(long)]
        json: bool,
        /// x86: the qemu-user emulator to compare with (a name in PATH, or a path).
        #[arg(long, value_name = "PROGRAM", default_value = "qemu-i386")]
        qemu: String,
        /// x86: busybox-static for i386 (default: target/busybox-i386/bin/busybox).
        #[arg(long, value_name = "PATH")]
        busybox: Option<PathBuf>,
        /// x86: a root of Debian i386 packages with lua5.4 and gzip, for the Lua and gzip -9
        /// workloads (default: target/debian-i386-root; .ci/fetch-debian-root makes it).
        #[arg(long, value_name = "DIR")]
        debian_root: Option<PathBuf>,
    },
    /// Print the instruction set reference table (Markdown).
    Isa,
}

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| clap_exit(e));
    let status = match cli.command {
        Command::Run {
            file,
            args,
            strace,
            strict_syscalls,
            engine,
            clear_env,
            env,
            mount,
            allow_write,
            host_fs,
            root,
            memory_limit,
            machine,
            dump_regs,
            screen,
            json,
            guest: GuestArgs { arch, raw, base },
        } => {
            // Under --root the program is a guest path: only the x86 guest has one.
            let guest = if root.is_some() {
                Guest::X86
            } else {
                Guest::of(&file, &arch)
            };
            let flags = [
                Flag::new("--strace", Guest::X86, strace),
                Flag::new("--strict-syscalls", Guest::X86, strict_syscalls),
                Flag::new("--engine", Guest::X86, engine.is_some()),
                Flag::new("--clear-env", Guest::X86, clear_env),
                Flag::new("--env", Guest::X86, !env.is_empty()),
                Flag::new("--mount", Guest::X86, !mount.is_empty()),
                Flag::new("--allow-write", Guest::X86, !allow_write.is_empty()),
                Flag::new("--host-fs", Guest::X86, host_fs),
                Flag::new("--root", Guest::X86, root.is_some()),
                Flag::new("--memory-limit", Guest::X86, memory_limit.is_some()),
                Flag::new("--screen", Guest::Native, screen),
                Flag::new("--json", Guest::Native, json),
            ];
            refuse_misapplied("run", &file, guest, &args, &machine, raw, base, &flags);
            let options = x86::Options {
                args,
                strace,
                strict_syscalls,
                // The parser accepts only the engines' names.
                engine: engine.and_then(|e| e.parse().ok()),
                clear_env,
                env,
                raw,
                base: base.unwrap_or(0),
                dump_regs,
                mounts: mount,
                allow_write,
                host_fs,
                root,
                memory_limit,
            };
            match guest {
                Guest::X86 => x86::run(&file, &machine, &options),
                Guest::Native => run::run(&file, &machine, dump_regs, screen, json),
            }
        }
        Command::Asm { src, output } => input::asm(&src, output.as_deref()),
        Command::Dis { file } => input::dis(&file),
        Command::Protect {
            file,
            output,
            seed,
            vms,
            functions,
            profile,
            strip,
        } => protect::protect(
            &file,
            &output,
            seed,
            vms as usize,
            functions,
            profile.as_deref(),
            strip,
        ),
        Command::Devirt {
            file,
            output,
            explain,
            profile_out,
        } => devirt::devirt(&file, &output, explain, profile_out.as_deref()),
        Command::Trace {
            file,
            args,
            machine,
            json,
            guest: GuestArgs { arch, raw, base },
        } => {
            let guest = Guest::of(&file, &arch);
            refuse_misapplied("trace", &file, guest, &args, &machine, raw, base, &[]);
            match guest {
                Guest::X86 => {
                    let options = x86::Options {
                        args,
                        raw,
                        base: base.unwrap_or(0),
                        ..x86::Options::default()
                    };
                    trace::trace_x86(&file, &machine, &options, json)
                }
                Guest::Native => trace::trace(&file, &machine, json),
            }
        }
        Command::Bench {
            suite,
            quick,
            json,
            qemu,
            busybox,
            debian_root,
        } => {
            if suite == "protect" {
                bench_protect::bench(quick, json, 1)
            } else if suite == "x86" {
                bench_x86::bench(&bench_x86::Options {
                    quick,
                    json,
                    qemu,
                    busybox,
                    debian_root,
                })
            } else {
                bench::bench(quick, json)
            }
        }
        Command::Isa => {
            print!("{}", vmkit_isa::reference_markdown());
            Ok(0)
        }
    };
    out::flush_stdout();
    match status {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// Ends with a usage error (clap's format, status 2) when a flag of `run` or `trace`
/// (`subcommand`) was given for the guest that `file` is not for: see `guest.rs`.
#[allow(clippy::too_many_arguments)]
fn refuse_misapplied(
    subcommand: &str,
    file: &std::path::Path,
    guest: Guest,
    args: &[String],
    machine: &MachineArgs,
    raw: bool,
    base: Option<u64>,
    only_for_one: &[Flag],
) {
    let mut flags = vec![
        Flag::new("program arguments", Guest::X86, !args.is_empty()),
        Flag::new("--raw", Guest::X86, raw),
        Flag::new("--grant", Guest::Native, machine.grant.is_some()),
        Flag::new("--memory", Guest::Native, machine.memory.is_some()),
        Flag::new("--stack", Guest::Native, machine.stack.is_some()),
        Flag::new("--wx", Guest::Native, machine.wx),
    ];
    flags.extend(
        only_for_one
            .iter()
            .map(|f| Flag::new(f.name, f.applies_to, f.given)),
    );
    let message = guest::misapplied(file, guest, &flags).or_else(|| {
        (base.is_some() && !raw).then(|| "--base applies to flat code (--arch x86 --raw)".into())
    });
    if let Some(message) = message {
        let mut cli = Cli::command();
        cli.build();
        let kind = clap::error::ErrorKind::ArgumentConflict;
        clap_exit(match cli.find_subcommand_mut(subcommand) {
            Some(cmd) => cmd.error(kind, message),
            None => cli.error(kind, message),
        })
    }
}

/// `clap::Error::exit`, but written through `out.rs`: clap ignores write errors, so
/// `vmkit --help | head -1` would end with status 0 where every other command ends with 141.
fn clap_exit(e: clap::Error) -> ! {
    use std::io::IsTerminal;
    let styled = e.render();
    if e.use_stderr() {
        let text = if std::io::stderr().is_terminal() {
            styled.ansi().to_string()
        } else {
            styled.to_string()
        };
        eprint!("{text}");
    } else {
        let text = if std::io::stdout().is_terminal() {
            styled.ansi().to_string()
        } else {
            styled.to_string()
        };
        print!("{text}");
        out::flush_stdout();
    }
    std::process::exit(e.exit_code())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;
    use vmkit_machine::Signal;

    /// `vmkit run --help` lists fault statuses as text; they must agree with the signal table.
    #[test]
    fn run_help_statuses_match_the_signal_table() {
        let cli = Cli::command();
        let help = cli
            .find_subcommand("run")
            .and_then(|run| run.get_after_help())
            .unwrap()
            .to_string();
        for sig in [
            Signal::SEGV,
            Signal::ILL,
            Signal::FPE,
            Signal::ABRT,
            Signal::PIPE,
        ] {
            let entry = format!("{} {}", sig.name(), sig.exit_status());
            assert!(help.contains(&entry), "`{entry}` missing from run's help");
        }
        let trap = format!("{} ({})", Signal::TRAP.exit_status(), Signal::TRAP.name());
        assert!(help.contains(&trap), "`{trap}` missing from run's help");
    }
}
