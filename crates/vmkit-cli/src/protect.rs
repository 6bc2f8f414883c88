//! `vmkit protect`.

use crate::input::load_program;
use std::path::Path;
use vmkit_protect::{protect as build, Options};

/// Protects `file` into `output` (with the profile in file `profile`, if given) and
/// reports what happened on stderr.
pub fn protect(
    file: &Path,
    output: &Path,
    seed: u64,
    vms: usize,
    only: Vec<String>,
    profile: Option<&Path>,
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
    };
    let (out, report) =
        build(&image, &opts).map_err(|e| format!("error: {}: {e}", file.display()))?;
    let bytes = out.to_bytes();
    std::fs::write(output, &bytes)
        .map_err(|e| format!("error: cannot write {}: {e}", output.display()))?;
    for p in &report.protected {
        eprintln!(
            "protected {} at {:#x} in VM {}: {} instructions -> {} virtual instructions in {} blocks",
            p.name, p.start, p.vm, p.instrs, p.vinstrs, p.blocks
        );
    }
    for s in &report.skipped {
        eprintln!("kept native {} at {:#x}: {}", s.name, s.start, s.reason);
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
