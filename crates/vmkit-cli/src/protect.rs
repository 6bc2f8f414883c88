//! `vmkit protect`.

use crate::devirt::named;
use crate::input::load_program;
use std::path::Path;
use vmkit_protect::{protect as build, Options};

/// Protects `file` into `output` (with the profile in file `profile`, if given; without
/// naming the VM's parts in the symbols if `strip`) and reports what happened on stderr.
pub fn protect(
    file: &Path,
    output: &Path,
    seed: u64,
    vms: usize,
    only: Vec<String>,
    profile: Option<&Path>,
    strip: bool,
) -> Result<i32, String> {
    let image = load_program(file)?;
    let profile = match profile {
        None => None,
        Some(p) => {
            let bytes = crate::input::read_input(p, crate::input::MAX_PROGRAM_BYTES)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("error: {} is not UTF-8 text", p.display()))?;
            Some(
                vmkit_protect::Profile::parse(&text)
                    .map_err(|e| format!("error: {}:{e}", p.display()))?,
            )
        }
    };
    let opts = Options {
        seed,
        vms,
        only,
        profile,
        strip_vm_symbols: strip,
    };
    let (out, report) =
        build(&image, &opts).map_err(|e| format!("error: {}: {e}", file.display()))?;
    let bytes = out.to_bytes();
    std::fs::write(output, &bytes)
        .map_err(|e| format!("error: cannot write {}: {e}", output.display()))?;
    for p in &report.protected {
        eprintln!(
            "protected {} in VM {}: {} instructions -> {} virtual instructions in {} blocks",
            named(&p.name, p.start),
            p.vm,
            p.instrs,
            p.vinstrs,
            p.blocks
        );
        for j in &p.indirect_jumps {
            eprintln!(
                "  its indirect jump at {j:#x} leaves the VM: what it reaches (a jump table's cases) runs natively unless protected itself"
            );
        }
    }
    for s in &report.skipped {
        eprintln!("kept native {}: {}", named(&s.name, s.start), s.reason);
    }
    for (at, n) in &report.pointer_code {
        eprintln!(
            "kept native code at {at:#x} ({n} instruction{}): only a pointer reaches it (a jump table's case, a callback); `--function {at:#x}` protects it",
            if *n == 1 { "" } else { "s" }
        );
    }
    for (at, name) in &report.unreached {
        eprintln!(
            "kept native {name} at {at:#x}: nothing calls or jumps to it (a function only pointers reach?); `--function {name}` protects it"
        );
    }
    for (at, i) in &report.below_sp {
        eprintln!(
            "warning: `{}` at {at:#x} uses memory below sp, which the VM's entry and exit overwrite (there is no red zone: docs/isa.md)",
            vmkit_isa::format_instr(i, *at, &vmkit_isa::NoSymbols)
        );
    }
    if let Some(asked) = report.vms_capped {
        eprintln!(
            "note: --vms {asked} asked for more VMs than the {} protected function{}: built {} (a VM nothing enters is dead weight)",
            report.protected.len(),
            if report.protected.len() == 1 { "" } else { "s" },
            report.profile.vms.len()
        );
    }
    if let Some((was, now)) = report.memory_grown {
        eprintln!(
            "note: the program's .memory {was:#x} is too small for the VM: grew it to {now:#x}, so the initial sp is {now:#x} instead of {was:#x} (vmkit devirt restores it)"
        );
    }
    eprintln!(
        "wrote {} ({} bytes: {} VM{}, {} bytes of VM code, {} bytes of tables and virtual code; was {} bytes)",
        output.display(),
        bytes.len(),
        report.profile.vms.len(),
        if report.profile.vms.len() == 1 { "" } else { "s" },
        report.vm_code_bytes,
        report.bytecode_bytes,
        image.to_bytes().len()
    );
    Ok(0)
}
