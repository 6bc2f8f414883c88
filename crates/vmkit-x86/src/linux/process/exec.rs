//! `execve` and `execveat`: a program the sandbox shows replaces the guest's in the same
//! vmkit process: a fresh address space, the descriptors kept except those marked
//! close-on-exec, caught signals reset to their default action (ignored ones stay ignored),
//! the same sandbox and limits. A `#!` script runs its interpreter, found through the
//! sandbox, as Linux does. No host program is ever run.

use super::super::errno::Errno;
use super::super::fs::fd::Node;
use super::super::fs::sandbox::OpenHow;
use super::super::fs::AT_EMPTY_PATH;
use super::super::fs::AT_SYMLINK_NOFOLLOW;
use super::super::loader;
use super::super::Resolved;
use super::super::{guest, Completion, Linux, MMAP_BASE};
use crate::cpu::Cpu;
use std::io::Read;
use std::path::PathBuf;
use vmkit_mem::Memory;

/// Largest program file `execve` reads.
const MAX_PROGRAM: u64 = 1 << 30;
/// The room arguments and environment may take together (Linux: a quarter of the 8 MiB
/// stack limit).
const ARG_MAX: usize = 2 << 20;
/// How many `#!` interpreters may be chained (Linux allows 4 rewrites).
const MAX_INTERP_DEPTH: usize = 4;

/// The NUL-terminated strings of a `NULL`-terminated pointer array (argv, envp); a null
/// array is empty.
fn strings(mem: &Memory, array: u32, room: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if array == 0 {
        return Ok(out);
    }
    for k in 0u32.. {
        let ptr = guest::u32_at(mem, array.wrapping_add(4 * k))?;
        if ptr == 0 {
            break;
        }
        let s = guest::c_string(mem, ptr, ARG_MAX).map_err(|e| match e {
            Errno::ENAMETOOLONG => Errno::E2BIG,
            e => e,
        })?;
        *room = room.checked_sub(s.len() + 1 + 4).ok_or(Errno::E2BIG)?;
        out.push(s);
    }
    Ok(out)
}

/// The interpreter line of a `#!` script: (interpreter, optional argument), as Linux
/// reads it from the first 256 bytes.
fn shebang(bytes: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), Errno> {
    let head = &bytes[2..bytes.len().min(256)];
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let line: Vec<u8> = line.to_vec();
    let start = line.iter().position(|b| !blank(b)).ok_or(Errno::ENOEXEC)?;
    let end = line.iter().rposition(|b| !blank(b)).map_or(0, |e| e + 1);
    let line = &line[start..end];
    let split = line.iter().position(blank).unwrap_or(line.len());
    let interp = line[..split].to_vec();
    let rest: Vec<u8> = line[split..]
        .iter()
        .skip_while(|b| blank(b))
        .copied()
        .collect();
    Ok((interp, (!rest.is_empty()).then_some(rest)))
}

/// `execve`'s text in `--strace`, as strace writes it.
fn strace_line(path: &[u8], argv: &[Vec<u8>], envp: u32, vars: usize) -> String {
    let q = |s: &[u8]| format!("{:?}", String::from_utf8_lossy(s));
    let args: Vec<String> = argv.iter().map(|a| q(a)).collect();
    format!(
        "execve({}, [{}], {envp:#x} /* {vars} vars */) = 0",
        q(path),
        args.join(", ")
    )
}

impl Linux {
    /// `execve(path, argv, envp)`.
    pub(in crate::linux) fn execve(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        path: u32,
        argv: u32,
        envp: u32,
    ) -> Completion {
        self.execveat(cpu, mem, super::super::fs::AT_FDCWD, path, argv, envp, 0)
    }

    /// `execveat(dirfd, path, argv, envp, flags)`.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::linux) fn execveat(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        dirfd: u32,
        path: u32,
        argv: u32,
        envp: u32,
        flags: u32,
    ) -> Completion {
        match self.exec(cpu, mem, dirfd, path, argv, envp, flags) {
            Ok(completion) => completion,
            Err(e) => Err(e).into(),
        }
    }

    /// The program file at `path` (from `dirfd`): its guest path and bytes. `EACCES` for
    /// what is not an executable regular file.
    fn program_file(
        &mut self,
        mem: &Memory,
        dirfd: u32,
        path: u32,
        flags: u32,
    ) -> Result<(PathBuf, Vec<u8>), Errno> {
        let raw = guest::path(mem, path)?;
        let guest_path = if raw.is_empty() && flags & AT_EMPTY_PATH != 0 {
            let file = self.fds.get(dirfd)?;
            let file = file.borrow();
            match (&file.node, &file.guest_path) {
                (Node::File(_) | Node::Path, Some(g)) => g.clone(),
                _ => return Err(Errno::ENOENT),
            }
        } else {
            self.guest_path(mem, dirfd, path)?.0
        };
        self.open_program(guest_path, flags & AT_SYMLINK_NOFOLLOW == 0)
    }

    /// Reads the program at guest path `guest` through the sandbox. `/proc/self/exe` is
    /// the running program (busybox runs its applets so): the one the embedder loaded, or
    /// the one the last `execve` read through the sandbox.
    fn open_program(&mut self, guest: PathBuf, follow: bool) -> Result<(PathBuf, Vec<u8>), Errno> {
        if guest == std::path::Path::new("/proc/self/exe") {
            if !self.process.exe_is_guest {
                let mut bytes = Vec::new();
                std::fs::File::open(&self.exe)?
                    .take(MAX_PROGRAM)
                    .read_to_end(&mut bytes)?;
                return Ok((self.exe.clone(), bytes));
            }
            let exe = self.exe.clone();
            return self.open_program(exe, true);
        }
        self.last_path = Some(guest.clone());
        let target = self
            .sandbox
            .resolve(&guest, follow)
            .map_err(|e| self.refuse(e))?;
        let entry = match target {
            Resolved::Host(e) if e.exists() => e,
            Resolved::Host(_) => return Err(Errno::ENOENT),
            Resolved::Device(_) | Resolved::Virtual => return Err(Errno::EACCES),
        };
        let meta = entry.metadata()?;
        if meta.file_type().is_symlink() {
            return Err(Errno::ELOOP);
        }
        if !meta.is_file() {
            return Err(Errno::EACCES);
        }
        entry.access(1).map_err(|_| Errno::EACCES)?;
        let file = entry.open(&OpenHow {
            read: true,
            ..OpenHow::default()
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_PROGRAM).read_to_end(&mut bytes)?;
        Ok((guest, bytes))
    }

    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        dirfd: u32,
        path: u32,
        argv_at: u32,
        envp_at: u32,
        flags: u32,
    ) -> Result<Completion, Errno> {
        if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
            return Err(Errno::EINVAL);
        }
        let shown_path = guest::path(mem, path)?;
        let mut room = ARG_MAX;
        let mut argv = strings(mem, argv_at, &mut room)?;
        let envp = strings(mem, envp_at, &mut room)?;
        let (mut guest_path, mut bytes) = self.program_file(mem, dirfd, path, flags)?;
        // `#!` scripts: the interpreter runs with the script's path as an argument.
        let mut script_name = shown_path.clone();
        for depth in 0.. {
            if !bytes.starts_with(b"#!") {
                break;
            }
            if depth == MAX_INTERP_DEPTH {
                return Err(Errno::ELOOP);
            }
            let (interp, arg) = shebang(&bytes)?;
            let mut new_argv = vec![interp.clone()];
            new_argv.extend(arg);
            new_argv.push(script_name.clone());
            new_argv.extend(argv.iter().skip(1).cloned());
            argv = new_argv;
            let interp_guest = super::super::normalize(&self.cwd, &interp);
            (guest_path, bytes) = self.open_program(interp_guest, true)?;
            script_name = interp;
        }
        if !loader::is_elf(&bytes) || !matches!(loader::identify(&bytes), Ok(None)) {
            return Err(Errno::ENOEXEC);
        }
        // The point of no return: the old program is gone.
        let text = |v: &[Vec<u8>]| -> Vec<String> {
            v.iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        if self.strace {
            self.process.exec_line = Some(strace_line(&shown_path, &argv, envp_at, envp.len()));
        }
        self.fds.close_on_exec();
        self.signals.reset_for_exec();
        let task = self.task.clone();
        let size = mem.size();
        mem.unmap(0, size);
        self.mmap_next = MMAP_BASE;
        self.code_changed = None;
        let loaded = self.load_program(
            cpu,
            mem,
            &bytes,
            &text(&argv),
            &text(&envp),
            crate::cpu::cpuid::FEATURES_EDX,
        );
        self.task = task;
        self.task.keep_only_current(self.process.pid);
        self.thread_mut().signals.reset_for_exec();
        if loaded.is_err() {
            // Nothing is left to return to, as on Linux.
            return Ok(Completion::Killed(11));
        }
        if guest_path != self.exe {
            self.exe = guest_path;
            self.process.exe_is_guest = true;
        }
        let pid = self.process.pid;
        self.table()?.set_execed(pid);
        Ok(Completion::NewImage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_lines() {
        assert_eq!(
            shebang(b"#!/bin/sh\necho").unwrap(),
            (b"/bin/sh".to_vec(), None)
        );
        assert_eq!(
            shebang(b"#! /usr/bin/env  python3 -u \n").unwrap(),
            (b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec()))
        );
        assert_eq!(shebang(b"#!   \n"), Err(Errno::ENOEXEC));
    }
}
