//! `vmkit run` for 32-bit x86 guests: static ELF i386 executables (recognised by their
//! header) and flat machine code (`--arch x86 --raw`).

use crate::MachineArgs;
use std::path::Path;
use vmkit_x86::{Sandbox, X86Exit, X86Machine};

/// x86-specific `run` options.
#[derive(Default)]
pub struct Options {
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Log system calls.
    pub strace: bool,
    /// Stop on an unimplemented system call instead of returning ENOSYS.
    pub strict_syscalls: bool,
    /// `--engine`: the execution engine (the machine's default if `None`).
    pub engine: Option<vmkit_x86::Engine>,
    /// Empty environment.
    pub clear_env: bool,
    /// Extra environment variables.
    pub env: Vec<String>,
    /// Flat code instead of ELF.
    pub raw: bool,
    /// Load address for flat code.
    pub base: u64,
    /// Print registers at the end.
    pub dump_regs: bool,
    /// `--mount HOST[:GUEST]` specifications.
    pub mounts: Vec<String>,
    /// `--allow-write DIR` directories.
    pub allow_write: Vec<std::path::PathBuf>,
    /// `--host-fs`: the whole host file system, read-only.
    pub host_fs: bool,
    /// `--root DIR`: DIR is the guest's `/`, and the program a path inside it.
    pub root: Option<std::path::PathBuf>,
    /// `--memory-limit`: the guest's address-space limit in bytes.
    pub memory_limit: Option<u64>,
}

/// Whether `path` starts with the ELF magic.
pub fn is_elf_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    // Opening a FIFO would wait for a writer; what is not a regular file is left to the
    // reader, which refuses it by name.
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && vmkit_x86::is_elf(&magic)
}

/// The guest's environment: the host's (as under qemu-user) unless cleared, plus `--env`.
fn environment(options: &Options) -> Result<Vec<String>, String> {
    let mut env: Vec<String> = if options.clear_env {
        Vec::new()
    } else {
        // vmkit's own settings (VMKIT_JIT_STATS, ...) are the host's, not the guest's.
        std::env::vars()
            .filter(|(k, _)| !k.starts_with("VMKIT_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    for kv in &options.env {
        let Some((key, _)) = kv.split_once('=') else {
            return Err(format!("error: --env {kv}: expected KEY=VALUE"));
        };
        env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(kv.clone());
    }
    Ok(env)
}

/// The file-system policy from the command line: with `--root DIR`, DIR as `/`; otherwise
/// the current directory tree read-only and the host's i386 loader and libraries
/// ([`Sandbox::host_i386_libraries`]); then `--host-fs`, the `--mount`s and the
/// `--allow-write` directories.
pub fn sandbox(options: &Options) -> Result<Sandbox, String> {
    let err = |e: vmkit_x86::SandboxError| format!("error: sandbox: {e}");
    let mut sandbox = match &options.root {
        Some(dir) => {
            Sandbox::root(dir).map_err(|e| format!("error: --root {}: {e}", dir.display()))?
        }
        None => Sandbox::current_dir().map_err(err)?.host_i386_libraries(),
    };
    if options.host_fs {
        let cwd = sandbox.initial_dir().to_path_buf();
        sandbox = sandbox.host_fs().working_dir(cwd);
    }
    for spec in &options.mounts {
        let (host, guest) = match spec.rsplit_once(':') {
            Some((h, g)) if g.starts_with('/') && !h.is_empty() => (h, Some(g)),
            _ => (spec.as_str(), None),
        };
        sandbox = sandbox
            .mount(host, guest)
            .map_err(|e| format!("error: --mount {spec}: {e}"))?;
    }
    for dir in &options.allow_write {
        sandbox = sandbox
            .allow_write(dir)
            .map_err(|e| format!("error: --allow-write {}: {e}", dir.display()))?;
    }
    Ok(sandbox)
}

/// Runs an x86 guest program.
pub fn run(file: &Path, args: &MachineArgs, options: &Options) -> Result<i32, String> {
    let mut vm = load(file, options)?;
    let exit = match args.max_steps {
        Some(n) => vm.run_for(n),
        None => vm.run(),
    };
    report_exit(&vm, &exit);
    if options.dump_regs {
        eprint!("{}", vm.cpu().format());
    }
    Ok(exit.status())
}

/// A machine with `file` loaded (ELF, or flat code with `--raw`) and the sandbox and
/// system-call options applied, ready to run.
pub fn load(file: &Path, options: &Options) -> Result<X86Machine, String> {
    let mut vm =
        X86Machine::try_new().map_err(|e| format!("error: cannot start the x86 guest: {e}"))?;
    vm.set_memory_limit(options.memory_limit);
    vm.set_strace(options.strace);
    vm.set_strict_syscalls(options.strict_syscalls);
    if let Some(engine) = options.engine {
        vm.set_engine(engine);
    }
    // For tests and experiments: how often a block runs before it is translated.
    if let Some(n) = std::env::var("VMKIT_JIT_THRESHOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        vm.set_jit_threshold(n);
    }
    // Ctrl-C and signals from other processes reach the guest, as they reach a process.
    vm.forward_host_signals()
        .map_err(|e| format!("error: cannot forward host signals to the guest: {e}"))?;
    vm.set_sandbox(sandbox(options)?);
    if options.root.is_some() && !options.raw {
        // The program is a path in the root, read through the sandbox like any guest file.
        vm.set_command_line(&options.args);
        let mut argv = vec![file.display().to_string()];
        argv.extend(options.args.iter().cloned());
        let path = file
            .to_str()
            .ok_or_else(|| format!("error: {}: a guest path must be UTF-8", file.display()))?;
        vm.load_elf_path(path, &argv, &environment(options)?)
            .map_err(|e| format!("error: {e}"))?;
        return Ok(vm);
    }
    let bytes = crate::input::read_input(file, crate::input::MAX_X86_PROGRAM_BYTES)?;
    if options.raw {
        let base = u32::try_from(options.base)
            .ok()
            .filter(|b| (*b as u64) + bytes.len() as u64 <= 0xC000_0000 - (1 << 20))
            .ok_or_else(|| {
                format!(
                    "error: --base {:#x}: the code must fit below the stack at 0xbff00000",
                    options.base
                )
            })?;
        vm.load_raw(base, &bytes)
            .map_err(|e| format!("error: cannot load {}: {e}", file.display()))?;
    } else {
        if !vmkit_x86::is_elf(&bytes) {
            return Err(format!(
                "error: {} is not an ELF executable; for flat machine code add --raw",
                file.display()
            ));
        }
        vm.set_exe_path(std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()));
        // A refused access to a file named here gets a hint (which flag allows it).
        vm.set_command_line(&options.args);
        let mut argv = vec![file.display().to_string()];
        argv.extend(options.args.iter().cloned());
        vm.load_elf(&bytes, &argv, &environment(options)?)
            .map_err(|e| format!("error: {}: {e}", file.display()))?;
    }
    Ok(vm)
}

/// Prints how the guest stopped (on stderr), unless it simply exited.
pub fn report_exit(vm: &X86Machine, exit: &X86Exit) {
    if let Some(report) = vm.exit_report(exit) {
        eprint!("{report}");
    }
}
