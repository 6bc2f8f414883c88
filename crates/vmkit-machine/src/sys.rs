//! `sys n`: the machine's system calls (exit, read, write, and open/close confined to the
//! directory the user granted).

use crate::cpu::Cpu;
use crate::env::Env;
use crate::fault::FaultKind;
use crate::Exit;
use std::path::{Component, Path};
use vmkit_isa::syscall::{self, errno};
use vmkit_mem::Memory;
use vmkit_vm::sandbox::{normalize, OpenHow, PathError, Resolved};

/// Largest single read or write, so a guest cannot make the host allocate without bound.
const MAX_IO: u64 = 1 << 24;
/// Longest path `open` accepts.
const MAX_PATH: u64 = 4096;

fn arg(cpu: &Cpu, i: usize) -> u64 {
    cpu.regs[i]
}

/// Runs `sys n`: sets r0 to the result and returns `None` to continue, or `Some` when the
/// program exited.
pub(crate) fn syscall(
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    n: u8,
) -> Result<Option<Exit>, FaultKind> {
    let result: i64 = match n {
        syscall::EXIT => return Ok(Some(Exit::Exited(arg(cpu, 1) as i64))),
        syscall::WRITE => sys_write(mem, env, arg(cpu, 1), arg(cpu, 2), arg(cpu, 3))?,
        syscall::READ => sys_read(mem, env, arg(cpu, 1), arg(cpu, 2), arg(cpu, 3)),
        syscall::OPEN => sys_open(mem, env, arg(cpu, 1), arg(cpu, 2)),
        syscall::CLOSE => {
            let fd = arg(cpu, 1);
            match fd
                .checked_sub(3)
                .and_then(|i| env.files.get_mut(i as usize))
            {
                Some(slot @ Some(_)) => {
                    *slot = None;
                    0
                }
                _ if fd <= 2 => 0,
                _ => -errno::EBADF,
            }
        }
        _ => return Err(FaultKind::BadSyscall(n)),
    };
    cpu.regs[0] = result as u64;
    Ok(None)
}

/// `write`; a closed pipe on stdout or stderr stops the machine as SIGPIPE stops a process.
fn sys_write(mem: &Memory, env: &mut Env, fd: u64, buf: u64, len: u64) -> Result<i64, FaultKind> {
    let len = len.min(MAX_IO);
    let Ok(data) = mem.read_bytes(buf, len) else {
        return Ok(-errno::EFAULT);
    };
    let data = data.to_vec();
    let res = match fd {
        1 => env.stdio.stdout.write_all(&data),
        2 => env.stdio.stderr.write_all(&data),
        _ => match fd
            .checked_sub(3)
            .and_then(|i| env.files.get_mut(i as usize))
        {
            Some(Some(f)) => std::io::Write::write_all(f, &data),
            _ => return Ok(-errno::EBADF),
        },
    };
    match res {
        Ok(()) => Ok(len as i64),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && fd <= 2 => {
            env.broken_pipe = true;
            Err(FaultKind::BrokenPipe)
        }
        Err(_) => Ok(-errno::EIO),
    }
}

fn sys_read(mem: &mut Memory, env: &mut Env, fd: u64, buf: u64, len: u64) -> i64 {
    let len = len.min(MAX_IO);
    if len > 0 && mem.check_write(buf, 1).is_err() {
        return -errno::EFAULT;
    }
    let mut tmp = vec![0u8; len as usize];
    let res = match fd {
        0 => env.stdio.stdin.read(&mut tmp),
        _ => match fd
            .checked_sub(3)
            .and_then(|i| env.files.get_mut(i as usize))
        {
            Some(Some(f)) => std::io::Read::read(f, &mut tmp),
            _ => return -errno::EBADF,
        },
    };
    match res {
        Ok(n) => match mem.write_bytes(buf, &tmp[..n]) {
            Ok(()) => n as i64,
            Err(_) => -errno::EFAULT,
        },
        Err(_) => -errno::EIO,
    }
}

fn read_c_string(mem: &Memory, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    for i in 0..MAX_PATH {
        let b = mem.read(addr.checked_add(i)?, 1).ok()? as u8;
        if b == 0 {
            return String::from_utf8(out).ok();
        }
        out.push(b);
    }
    None
}

/// Prints the one hint a refused `sys open` gets, the first time.
fn hint(env: &mut Env, text: impl FnOnce() -> String) {
    if env.hints && !env.hinted {
        env.hinted = true;
        eprintln!("vmkit: hint: {}", text());
    }
}

/// `open`: the path is relative to the `--grant` directory and resolved by the shared
/// sandbox (`vmkit_vm::sandbox`): every component is walked without letting the host follow
/// links, so a link (dangling or not, at any component) that leads out of the directory is
/// refused, and the open acts on exactly what was checked. Opening never blocks (a FIFO
/// without a writer reads as empty).
fn sys_open(mem: &Memory, env: &mut Env, path: u64, flags: u64) -> i64 {
    let Some(guest) = read_c_string(mem, path) else {
        return -errno::EFAULT;
    };
    if guest.is_empty() {
        return -errno::ENOENT;
    }
    let root = env.fs_root.clone().unwrap_or_default();
    let sandbox = match &env.sandbox {
        Some(Ok(s)) => s.clone(),
        Some(Err(e)) => {
            let e = e.clone();
            hint(env, || format!("sys open \"{guest}\" refused: --grant {e}"));
            return -errno::EACCES;
        }
        None => {
            hint(env, || {
                format!(
                    "the program opened \"{guest}\", but sys open works only with --grant DIR \
                     (paths are then relative to DIR)"
                )
            });
            return -errno::EACCES;
        }
    };
    let rel = Path::new(&guest);
    if rel.is_absolute() || rel.components().any(|c| c == Component::ParentDir) {
        hint(env, || {
            format!(
                "the program opened \"{guest}\": sys open takes paths relative to the --grant \
                 directory {}; absolute paths and `..` are refused",
                root.display()
            )
        });
        return -errno::EACCES;
    }
    let how = match flags {
        0 => OpenHow {
            read: true,
            ..OpenHow::default()
        },
        1 => OpenHow {
            write: true,
            truncate: true,
            ..OpenHow::default()
        },
        2 => OpenHow {
            write: true,
            append: true,
            ..OpenHow::default()
        },
        _ => return -errno::EINVAL,
    };
    let refused = |env: &mut Env, e: PathError| -> i64 {
        if e.is_refusal() {
            hint(env, || {
                format!(
                    "the program opened \"{guest}\", which leads outside the --grant directory {} \
                     (through a symbolic link)",
                    root.display()
                )
            });
        }
        -(e.errno() as i64)
    };
    let entry = match sandbox.resolve(&normalize(Path::new("/"), guest.as_bytes()), true) {
        Ok(Resolved::Host(e)) => e,
        Ok(_) => return -errno::EACCES,
        Err(e) => return refused(env, e),
    };
    let opened = if entry.exists() {
        match entry.metadata() {
            Ok(m) if m.is_dir() => return -errno::EISDIR,
            Ok(_) => {}
            Err(e) => return -host_errno(&e),
        }
        if flags != 0 {
            if let Err(e) = sandbox.check_write_object(entry.host()) {
                return refused(env, e);
            }
        }
        entry.open(&how)
    } else {
        if flags == 0 {
            return -errno::ENOENT;
        }
        if let Err(e) = sandbox.check_write_entry(entry.host()) {
            return refused(env, e);
        }
        // 0o666 less the process's umask, as `creat` gives.
        entry.open(&OpenHow {
            create: Some(0o666),
            truncate: false,
            ..how
        })
    };
    match opened {
        Ok(f) => {
            if let Some(i) = env.files.iter().position(Option::is_none) {
                env.files[i] = Some(f);
                i as i64 + 3
            } else if env.files.len() < 1024 {
                env.files.push(Some(f));
                env.files.len() as i64 + 2
            } else {
                -errno::EMFILE
            }
        }
        Err(e) => -host_errno(&e),
    }
}

/// A host error as the guest's errno: Linux's number (ENOENT 2, ENXIO 6 for a FIFO without
/// a reader or a socket, ENOTDIR 20, ELOOP 40, ...), or EIO when the host gave none.
fn host_errno(e: &std::io::Error) -> i64 {
    e.raw_os_error().map_or(errno::EIO, i64::from)
}

#[cfg(test)]
mod tests {
    use crate::{Config, Exit, Machine};

    /// Runs `sys open(path, flags)` in a machine granted `dir` and returns r0.
    fn open_in(dir: &std::path::Path, path: &str, flags: u8) -> i64 {
        let src = format!(
            "main:\n    mov r1, p\n    mov r2, {flags}\n    sys open\n    halt\n.data\np: .asciz \"{path}\"\n"
        );
        let image = vmkit_asm::assemble_str("open.s", &src).unwrap().image;
        let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
        vm.set_hints(false);
        vm.grant_directory(dir);
        assert_eq!(vm.run_for(1000), Exit::Halted);
        vm.reg(vmkit_isa::Reg::new(0).unwrap()) as i64
    }

    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn paths_are_confined_at_every_component() {
        let root = std::env::temp_dir().join(format!("vmkit-confine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let _guard = Dir(root.clone());
        let dir = root.join("grant");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/secret"), "s").unwrap();
        let link = |target: &std::path::Path, name: &str| {
            std::os::unix::fs::symlink(target, dir.join(name)).unwrap()
        };
        link(&root.join("outside/created"), "dangling");
        link(
            std::path::Path::new("../outside/created_rel"),
            "dangling_rel",
        );
        link(&root.join("outside"), "out_dir");
        link(std::path::Path::new("sub/.."), "back");
        link(std::path::Path::new("loop"), "loop");
        assert_eq!(open_in(&dir, "a.txt", 1), 3);
        assert_eq!(open_in(&dir, "sub/b.txt", 2), 3);
        assert_eq!(open_in(&dir, "back/a.txt", 0), 3);
        assert_eq!(open_in(&dir, "../x", 0), -13);
        assert_eq!(open_in(&dir, "sub/../../x", 0), -13);
        assert_eq!(open_in(&dir, "/etc/passwd", 0), -13);
        assert_eq!(open_in(&dir, "out_dir/secret", 0), -13);
        assert_eq!(open_in(&dir, "out_dir/new", 1), -13);
        // A dangling link opened for write+create must not create its target outside.
        assert_eq!(open_in(&dir, "dangling", 1), -13);
        assert_eq!(open_in(&dir, "dangling_rel", 2), -13);
        assert!(!root.join("outside/created").exists());
        assert!(!root.join("outside/created_rel").exists());
        assert_eq!(open_in(&dir, "loop", 0), -40);
        assert_eq!(open_in(&dir, "a.txt/x", 0), -20);
        assert_eq!(open_in(&dir, "sub", 0), -21);
        assert_eq!(open_in(&dir, "missing", 0), -2);
    }

    #[test]
    fn fifos_sockets_and_devices_in_the_grant_do_not_block_the_open() {
        let dir = std::env::temp_dir().join(format!("vmkit-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _guard = Dir(dir.clone());
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status();
        if !matches!(made, Ok(s) if s.success()) {
            eprintln!("mkfifo unavailable; skipped");
            return;
        }
        // Without a writer a blocking open would wait forever, out of --max-steps' reach.
        assert_eq!(open_in(&dir, "fifo", 0), 3);
        // Without a reader, a write open is ENXIO, as a non-blocking open is on Linux.
        assert_eq!(open_in(&dir, "fifo", 1), -6);
        // A socket cannot be opened at all; a link to a host device leads outside the grant.
        let _sock = std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap();
        assert_eq!(open_in(&dir, "sock", 0), -6);
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        assert_eq!(open_in(&dir, "zero", 0), -13);
    }
}
