//! The loader: what `execve` does for an ELF32 i386 executable, static or dynamic. [`load`]
//! and [`load_at`] (`elf`) map an image's segments; [`build_stack`] (`stack`) writes argc,
//! argv, envp and the auxiliary vector; [`Linux::load_program`] puts the program and its
//! dynamic loader (`PT_INTERP`, read through the sandbox, never from the host directly) in
//! place and sets up the process (break, registers).
//!
//! Placement follows a 64-bit Linux kernel running an i386 process with address
//! randomization off: a fixed-address program (`ET_EXEC`) at its own addresses, a
//! position-independent one (`ET_DYN`) at [`PIE_BASE`], the dynamic loader in the mapping
//! area (where `mmap` would put it), the break just after the program's data.

mod elf;
mod stack;

pub use elf::{identify, is_elf, load, load_at, span, ElfError, LoadedElf, PIE_BASE};
pub use stack::{build_stack, AT_RANDOM_BYTES};

use super::{normalize, Linux, Resolved};
use crate::cpu::{Cpu, ESP};
use std::io::Read;
use vmkit_mem::Memory;
use vmkit_vm::sandbox::OpenHow;

/// The largest dynamic loader read (glibc's is about 200 KiB).
const MAX_INTERPRETER_BYTES: u64 = 64 << 20;

impl Linux {
    /// Loads an ELF32 i386 executable into `mem` as Linux would: maps its segments (and,
    /// for a dynamic executable, its `PT_INTERP` dynamic loader, found through the
    /// sandbox), builds the initial stack with `argv`, `envp` and the auxiliary vector
    /// (`hwcap` is `AT_HWCAP`, the CPU's feature bits), sets up `brk`, and resets `cpu` to
    /// the entry point (the dynamic loader's, if any). Code the caller decoded from `mem`
    /// before is stale afterwards.
    pub fn load_program(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        bytes: &[u8],
        argv: &[String],
        envp: &[String],
        hwcap: u32,
    ) -> Result<(), ElfError> {
        let elf = load(mem, bytes)?;
        self.mmap_next = super::MMAP_BASE;
        let (entry, base) = match &elf.interp {
            None => (elf.entry, 0),
            Some(path) => {
                let interp = self.read_interpreter(path)?;
                let name = || String::from_utf8_lossy(path).into_owned();
                let (low, high, pie) =
                    span(&interp).map_err(|e| ElfError::Interpreter(format!("{}: {e}", name())))?;
                if !pie {
                    return Err(ElfError::Interpreter(format!(
                        "{}: not a shared object (ET_DYN)",
                        name()
                    )));
                }
                let at = self.find_area(mem, high - low).map_err(|_| {
                    ElfError::Interpreter(format!("{}: no room for it in memory", name()))
                })?;
                let loaded = load_at(mem, &interp, (at - low) as u32)
                    .map_err(|e| ElfError::Interpreter(format!("{}: {e}", name())))?;
                if loaded.interp.is_some() {
                    return Err(ElfError::Interpreter(format!(
                        "{}: names a dynamic loader itself",
                        name()
                    )));
                }
                (loaded.entry, loaded.bias)
            }
        };
        let esp = build_stack(mem, &elf, base, argv, envp, hwcap)
            .map_err(|e| ElfError::BadSegment(e.to_string()))?;
        *cpu = Cpu::default();
        cpu.regs[ESP] = esp;
        cpu.eip = entry;
        self.brk_start = elf.brk_start;
        self.brk = elf.brk_start;
        self.task = super::task::Task::default();
        Ok(())
    }

    /// The bytes of the dynamic loader at the guest path `path`.
    fn read_interpreter(&mut self, path: &[u8]) -> Result<Vec<u8>, ElfError> {
        self.read_guest_file(path, MAX_INTERPRETER_BYTES)
            .map_err(|why| {
                ElfError::Interpreter(format!("{}: {why}", String::from_utf8_lossy(path)))
            })
    }

    /// The contents of the regular file at the guest path `path` (relative paths from the
    /// working directory), read through the sandbox, at most `limit` bytes: how a program
    /// and its dynamic loader are read (never from the host directly). The error says why,
    /// and for a sandbox refusal which flag would make the file visible.
    pub fn read_guest_file(&mut self, path: &[u8], limit: u64) -> Result<Vec<u8>, String> {
        let guest = normalize(&self.cwd, path);
        let entry = match self.sandbox.resolve(&guest, true) {
            Ok(Resolved::Host(e)) if e.exists() => e,
            Ok(Resolved::Host(_)) => return Err("no such file".into()),
            Ok(_) => return Err("not a regular file".into()),
            Err(e) if e.is_refusal() => {
                return Err(format!(
                    "{}: add --root DIR (a tree holding it) or --mount {}",
                    e.note().unwrap_or("refused"),
                    guest.display()
                ))
            }
            Err(e) => return Err(std::io::Error::from_raw_os_error(e.errno()).to_string()),
        };
        let file = entry
            .open(&OpenHow {
                read: true,
                ..OpenHow::default()
            })
            .map_err(|e| e.to_string())?;
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        if meta.len() > limit {
            return Err(format!("larger than {limit} bytes"));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::Sandbox;

    /// A minimal i386 `ET_EXEC` with a `PT_INTERP` naming `interp` and one `PT_LOAD`.
    fn dynamic_exec(interp: &str) -> Vec<u8> {
        let mut f = vec![0u8; 52 + 2 * 32];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 1; // ELFCLASS32
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        let put16 =
            |f: &mut Vec<u8>, at: usize, v: u16| f[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put16(&mut f, 16, 2); // ET_EXEC
        put16(&mut f, 18, 3); // EM_386
        put32(&mut f, 20, 1);
        put32(&mut f, 24, 0x0804_8000); // entry
        put32(&mut f, 28, 52); // phoff
        put16(&mut f, 40, 52); // ehsize
        put16(&mut f, 42, 32); // phentsize
        put16(&mut f, 44, 2); // phnum
        let name_at = f.len() as u32;
        f.extend_from_slice(interp.as_bytes());
        f.push(0);
        let len = f.len() as u32;
        // PT_INTERP
        put32(&mut f, 52, 3);
        put32(&mut f, 56, name_at);
        put32(&mut f, 68, interp.len() as u32 + 1);
        // PT_LOAD: the whole file at 0x08048000, R+X
        put32(&mut f, 84, 1);
        put32(&mut f, 88, 0);
        put32(&mut f, 92, 0x0804_8000);
        put32(&mut f, 100, len);
        put32(&mut f, 104, len);
        put32(&mut f, 108, 5);
        f
    }

    #[test]
    fn the_interpreter_is_named_and_looked_up_in_the_sandbox() {
        let bytes = dynamic_exec("/lib/ld-test.so.1");
        let mut mem = Memory::new(crate::ADDRESS_SPACE);
        mem.protect(0, crate::ADDRESS_SPACE, 0);
        let elf = load(&mut mem, &bytes).unwrap();
        assert_eq!(elf.interp.as_deref(), Some(&b"/lib/ld-test.so.1"[..]));
        assert_eq!(elf.entry, 0x0804_8000);
        assert_eq!(elf.phdr, 0x0804_8000 + 52);
        // Nothing visible: the program is refused before it runs, saying why.
        let mut os = Linux::default();
        os.set_sandbox(Sandbox::new());
        let mut cpu = Cpu::default();
        let mut mem = Memory::new(crate::ADDRESS_SPACE);
        mem.protect(0, crate::ADDRESS_SPACE, 0);
        let err = os
            .load_program(&mut cpu, &mut mem, &bytes, &["p".into()], &[], 0)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("dynamic loader /lib/ld-test.so.1: outside the sandbox"),
            "{text}"
        );
        // A loader that is not a shared object is refused too.
        let dir = std::env::temp_dir().join(format!("vmkit-loader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ld-test.so.1"), &bytes).unwrap();
        os.set_sandbox(Sandbox::new().mount(&dir, Some("/lib")).unwrap());
        let err = os
            .load_program(&mut cpu, &mut mem, &bytes, &["p".into()], &[], 0)
            .unwrap_err();
        assert!(err.to_string().contains("not a shared object"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
