//! `sys n`: the machine's system calls (exit, read, write, and open/close confined to the
//! directory the user granted).

use crate::cpu::Cpu;
use crate::env::Env;
use crate::exec::Flow;
use crate::fault::FaultKind;
use crate::Exit;
use std::fs::OpenOptions;
use std::path::{Component, Path, PathBuf};
use vmkit_isa::syscall::{self, errno};
use vmkit_mem::Memory;

/// Largest single read or write, so a guest cannot make the host allocate without bound.
const MAX_IO: u64 = 1 << 24;
/// Longest path `open` accepts.
const MAX_PATH: u64 = 4096;

fn arg(cpu: &Cpu, i: usize) -> u64 {
    cpu.regs[i]
}

pub(crate) fn syscall(
    cpu: &mut Cpu,
    mem: &mut Memory,
    env: &mut Env,
    n: u8,
) -> Result<Flow, FaultKind> {
    let result: i64 = match n {
        syscall::EXIT => return Ok(Flow::Stop(Exit::Exited(arg(cpu, 1) as i64))),
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
    Ok(Flow::Next)
}

/// `write`; a closed pipe on stdout or stderr stops the machine as SIGPIPE stops a process.
fn sys_write(mem: &Memory, env: &mut Env, fd: u64, buf: u64, len: u64) -> Result<i64, FaultKind> {
    let len = len.min(MAX_IO);
    let Ok(data) = mem.read_bytes(buf, len) else {
        return Ok(-errno::EFAULT);
    };
    let data = data.to_vec();
    let res = match fd {
        1 => env.stdout.write_all(&data),
        2 => env.stderr.write_all(&data),
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
        0 => env.stdin.read(&mut tmp),
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

/// Resolves a guest path inside `root`, refusing absolute paths, `..` and symlinks that lead
/// outside.
pub(crate) fn confine(root: &Path, guest: &str) -> Option<PathBuf> {
    let rel = Path::new(guest);
    if rel.is_absolute() {
        return None;
    }
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let joined = root.join(rel);
    // The file may not exist yet (create): check the deepest existing ancestor.
    let mut probe = joined.as_path();
    loop {
        if let Ok(real) = probe.canonicalize() {
            return real.starts_with(&root).then_some(joined);
        }
        probe = probe.parent()?;
    }
}

fn sys_open(mem: &Memory, env: &mut Env, path: u64, flags: u64) -> i64 {
    let Some(guest) = read_c_string(mem, path) else {
        return -errno::EFAULT;
    };
    if guest.is_empty() {
        return -errno::ENOENT;
    }
    let Some(root) = &env.fs_root else {
        return -errno::EACCES;
    };
    let Some(host) = confine(root, &guest) else {
        return -errno::EACCES;
    };
    if host.is_dir() {
        return -errno::EISDIR;
    }
    let mut opts = OpenOptions::new();
    match flags {
        0 => opts.read(true),
        1 => opts.write(true).create(true).truncate(true),
        2 => opts.append(true).create(true),
        _ => return -errno::EINVAL,
    };
    match opts.open(&host) {
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => -errno::ENOENT,
        Err(_) => -errno::EACCES,
    }
}

#[cfg(test)]
mod tests {
    use super::confine;

    #[test]
    fn paths_are_confined() {
        let dir = std::env::temp_dir().join(format!("vmkit-confine-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        assert!(confine(&dir, "a.txt").is_some());
        assert!(confine(&dir, "sub/b.txt").is_some());
        assert!(confine(&dir, "../x").is_none());
        assert!(confine(&dir, "sub/../../x").is_none());
        assert!(confine(&dir, "/etc/passwd").is_none());
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("/etc", dir.join("escape"));
            assert!(confine(&dir, "escape/passwd").is_none());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
