//! `vmkit devirt`.

use crate::input::load_program;
use std::path::Path;
use std::time::Instant;
use vmkit_protect::{devirtualize, explain};

/// Devirtualizes `file` into `output`; prints the recovery with `explain`, writes the
/// recovered profile to `profile_out`.
pub fn devirt(
    file: &Path,
    output: &Path,
    explain_it: bool,
    profile_out: Option<&Path>,
) -> Result<i32, String> {
    // An empty file is no program at all; assembling it would blame a missing `main`.
    if std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(format!(
            "error: {}: the file is empty: not a protected image",
            file.display()
        ));
    }
    let image = load_program(file)?;
    let t = Instant::now();
    let d = devirtualize(&image).map_err(|e| format!("error: {}: {e}", file.display()))?;
    let took = t.elapsed();
    let bytes = d.image.to_bytes();
    std::fs::write(output, &bytes)
        .map_err(|e| format!("error: cannot write {}: {e}", output.display()))?;
    if let Some(p) = profile_out {
        std::fs::write(p, d.profile.to_text())
            .map_err(|e| format!("error: cannot write {}: {e}", p.display()))?;
    }
    if explain_it {
        // A reader that stops early (`| head`) ends vmkit quietly: see `out.rs`.
        print!("{}", explain(&d));
    }
    for f in &d.functions {
        let vinstrs = f.virtual_instructions();
        let instrs = f.native_instructions();
        eprintln!(
            "recovered {} from VM {}: {} virtual instructions in {} blocks -> {} instructions and the blocks' branches, {} bytes{}",
            named(&f.name, f.start),
            f.vm,
            vinstrs,
            f.block_count(),
            instrs,
            f.bytes,
            f.moved_to
                .map_or(String::new(), |a| format!(" (moved to {a:#x})"))
        );
    }
    if let Some((was, now)) = d.memory_restored {
        eprintln!(
            "restored the program's .memory {now:#x} (the protector had grown it to {was:#x})"
        );
    }
    eprintln!(
        "wrote {} ({} bytes; {} VM{} taken apart in {:.0} ms)",
        output.display(),
        bytes.len(),
        d.vms.len(),
        if d.vms.len() == 1 { "" } else { "s" },
        took.as_secs_f64() * 1000.0
    );
    Ok(0)
}

/// How the report names a function: `fib at 0x1047`, or `the function at 0x1047` when
/// the image has no symbol for it (rather than the address twice).
pub fn named(name: &str, start: u64) -> String {
    if name.starts_with("0x") {
        format!("the function at {start:#x}")
    } else {
        format!("{name} at {start:#x}")
    }
}
