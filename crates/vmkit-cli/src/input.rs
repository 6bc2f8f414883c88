//! Reading programs: a file is an image if it starts with the image magic, otherwise it is
//! assembly source. Also the `asm` and `dis` subcommands, which are just these conversions.
//!
//! Every file a command reads whole (a program, an image, an x86 executable, a profile)
//! goes through [`read_input`]: only regular files, and at most a documented size, so that
//! `vmkit run /dev/zero` or a FIFO is a clear error instead of a read without end.

use std::path::Path;
use vmkit_image::Image;

/// Largest native program the commands read, source or image: 64 MiB, the largest image
/// the assembler writes. A source is then held to the assembler's own, lower limit
/// ([`vmkit_asm::MAX_SOURCE_FILE_BYTES`]).
pub const MAX_PROGRAM_BYTES: u64 = vmkit_asm::MAX_IMAGE_BYTES;

/// Largest x86 program (ELF or `--raw` code): 256 MiB. An i386 process has 3 GiB of user
/// space, but no real program file comes near this; the file is held in memory whole.
pub const MAX_X86_PROGRAM_BYTES: u64 = 256 << 20;

/// Reads the regular file at `path` whole, at most `limit` bytes; the error names the path.
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    vmkit_asm::read_limited(path, limit)
        .map_err(|e| format!("error: cannot read {}: {e}", path.display()))
}

/// A loaded program and where it came from.
pub fn load_program(path: &Path) -> Result<Image, String> {
    let bytes = read_input(path, MAX_PROGRAM_BYTES)?;
    if vmkit_image::is_image(&bytes) {
        return Image::from_bytes(&bytes).map_err(|e| format!("error: {}: {e}", path.display()));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(format!(
            "error: {} is neither a vmkit image (no VMKI magic) nor UTF-8 assembly source",
            path.display()
        ));
    }
    match vmkit_asm::assemble_source(path, &bytes) {
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
    let bytes = read_input(src, MAX_PROGRAM_BYTES)?;
    if vmkit_image::is_image(&bytes) {
        return Err(format!(
            "error: {} is already an image (it starts with the VMKI magic); `vmkit dis` turns it back into source",
            src.display()
        ));
    }
    let out = vmkit_asm::assemble_source(src, &bytes).map_err(|d| format!("{d}"))?;
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
