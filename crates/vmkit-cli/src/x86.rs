//! `vmkit run --arch x86`: 32-bit x86 guests.

use crate::MachineArgs;
use std::path::Path;
use vmkit_x86::{X86Exit, X86Machine};

/// Runs flat x86 code (`--raw`).
pub fn run(
    file: &Path,
    args: &MachineArgs,
    raw: bool,
    base: u64,
    dump_regs: bool,
) -> Result<i32, String> {
    if !raw {
        return Err(
            "error: --arch x86 currently runs flat machine code only: add --raw (static ELF executables are the next step of this guest)"
                .into(),
        );
    }
    let code =
        std::fs::read(file).map_err(|e| format!("error: cannot read {}: {e}", file.display()))?;
    let base = u32::try_from(base)
        .ok()
        .filter(|b| (*b as u64) + code.len() as u64 <= 0xC000_0000 - (1 << 20))
        .ok_or_else(|| {
            format!("error: --base {base:#x}: the code must fit below the stack at 0xbff00000")
        })?;
    let mut vm = X86Machine::new();
    vm.load_raw(base, &code, true)
        .map_err(|e| format!("error: cannot load {}: {e}", file.display()))?;
    let exit = match args.max_steps {
        Some(n) => vm.run_for(n),
        None => vm.run(),
    };
    match &exit {
        X86Exit::Exited(_) => {}
        X86Exit::StepLimit => eprintln!(
            "vmkit: stopped after {} instructions (--max-steps); next eip={:#010x}",
            vm.steps(),
            vm.cpu.eip
        ),
        X86Exit::Fault(f) => {
            eprint!("vmkit: {f}");
            let n = vm.steps();
            eprintln!(
                "vmkit: after {n} instruction{}; exit status {}",
                if n == 1 { "" } else { "s" },
                exit.status()
            );
        }
    }
    if dump_regs {
        eprint!("{}", vm.cpu.format());
    }
    Ok(exit.status())
}
