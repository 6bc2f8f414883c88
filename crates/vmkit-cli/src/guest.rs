//! Which machine a program runs on, and the refusal of flags meant for the other one.
//!
//! `run` and `trace` take flags for both guests; a flag given to the guest it does not apply
//! to would be silently ignored (`--grant` on an ELF, `--strace` on a `.s` file), so the user
//! would believe it did something. Such a flag is a usage error, reported as clap reports
//! its own (status 2).

use std::path::Path;

/// The two guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guest {
    /// vmkit's own ISA: assembly source or an image.
    Native,
    /// IA-32: a static ELF32 i386 executable, or flat code with `--arch x86 --raw`.
    X86,
}

impl Guest {
    /// The guest for `file`: x86 when asked for (`--arch x86`) or when the file is ELF.
    pub fn of(file: &Path, arch: &str) -> Guest {
        if arch == "x86" || crate::x86::is_elf_file(file) {
            Guest::X86
        } else {
            Guest::Native
        }
    }

    fn programs(self) -> &'static str {
        match self {
            Guest::Native => "vmkit native programs",
            Guest::X86 => "x86 programs",
        }
    }

    fn program(self) -> &'static str {
        match self {
            Guest::Native => "a vmkit native program",
            Guest::X86 => "an x86 program",
        }
    }
}

/// A flag as the user may have given it: its name, the guest it is for, whether it was given.
pub struct Flag {
    /// As the user writes it (`--strace`).
    pub name: &'static str,
    /// The only guest it applies to.
    pub applies_to: Guest,
    /// Whether the command line has it.
    pub given: bool,
}

impl Flag {
    /// A flag for `applies_to`, given or not.
    pub fn new(name: &'static str, applies_to: Guest, given: bool) -> Flag {
        Flag {
            name,
            applies_to,
            given,
        }
    }
}

/// The first given flag that does not apply to `guest`, as a message for a usage error:
/// "--strace applies to x86 programs; examples/fib.s is a vmkit native program".
pub fn misapplied(file: &Path, guest: Guest, flags: &[Flag]) -> Option<String> {
    let flag = flags.iter().find(|f| f.given && f.applies_to != guest)?;
    Some(format!(
        "{} {} to {}; {} is {}",
        flag.name,
        // A flag "applies"; "program arguments" apply.
        if flag.name.starts_with('-') {
            "applies"
        } else {
            "apply"
        },
        flag.applies_to.programs(),
        file.display(),
        guest.program()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_flag_its_guest_and_the_file() {
        let flags = [
            Flag::new("--grant", Guest::Native, false),
            Flag::new("--strace", Guest::X86, true),
        ];
        assert_eq!(
            misapplied(Path::new("examples/fib.s"), Guest::Native, &flags).as_deref(),
            Some("--strace applies to x86 programs; examples/fib.s is a vmkit native program")
        );
        assert_eq!(
            misapplied(Path::new("prog"), Guest::X86, &flags),
            None,
            "flags for the right guest pass"
        );
    }
}
