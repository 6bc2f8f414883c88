//! Reading programs: a file is an image if it starts with the image magic, otherwise it is
//! assembly source. Also the `asm` and `dis` subcommands, which are just these conversions.

use std::path::Path;
use vmkit_image::Image;

/// A loaded program and where it came from.
pub fn load_program(path: &Path) -> Result<Image, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
    if vmkit_image::is_image(&bytes) {
        return Image::from_bytes(&bytes).map_err(|e| format!("error: {}: {e}", path.display()));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(format!(
            "error: {} is neither a vmkit image (no VMKI magic) nor UTF-8 assembly source",
            path.display()
        ));
    }
    match vmkit_asm::assemble_file(path) {
        Ok(out) => {
            for w in &out.warnings {
                eprint!("{}", w.render());
            }
            Ok(out.image)
        }
        Err(diags) => Err(format!("{diags}")),
    }
}

/// `vmkit asm`.
pub fn asm(src: &Path, output: Option<&Path>) -> Result<i32, String> {
    if std::fs::read(src).is_ok_and(|b| vmkit_image::is_image(&b)) {
        return Err(format!(
            "error: {} is already an image (it starts with the VMKI magic); `vmkit dis` turns it back into source",
            src.display()
        ));
    }
    let out = vmkit_asm::assemble_file(src).map_err(|d| format!("{d}"))?;
    for w in &out.warnings {
        eprint!("{}", w.render());
    }
    let target = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| src.with_extension("vmi"));
    let bytes = out.image.to_bytes();
    if target == Path::new("-") {
        // `-o -`: the image goes to stdout, for a pipe.
        crate::out::stdout_bytes(&bytes);
    } else {
        std::fs::write(&target, &bytes)
            .map_err(|e| format!("error: cannot write {}: {e}", target.display()))?;
    }
    eprintln!(
        "wrote {} ({} bytes, {} segments, {} symbols)",
        target.display(),
        bytes.len(),
        out.image.segments.len(),
        out.image.symbols.len()
    );
    Ok(0)
}

/// `vmkit dis`.
pub fn dis(file: &Path) -> Result<i32, String> {
    let image = load_program(file)?;
    print!("{}", vmkit_asm::disassemble(&image));
    Ok(0)
}
