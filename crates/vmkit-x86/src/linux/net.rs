//! Sockets: the network is closed. `socketcall` (the i386 multiplexer) and the direct calls
//! (`socket`, `socketpair`, `connect`, `bind`, ...) come here.
//!
//! - A socket of any family but `AF_UNIX` (`AF_INET`, `AF_INET6`, `AF_NETLINK`,
//!   `AF_PACKET`...) is refused with `EACCES`, the answer of a kernel whose security policy
//!   forbids it, which programs report as "Permission denied" and carry on from (glibc's
//!   resolver and `getaddrinfo`'s interface probe fall back); `--strace` says the network is
//!   closed.
//! - An `AF_UNIX` socket can be made, but nothing outside the guest can be reached with it:
//!   `connect` to a path the sandbox does not show fails with `ENOENT`, as Linux does when
//!   nothing is listening there (glibc's `getpwuid` probes nscd this way, quietly), and to
//!   a path it shows (or an abstract name) with `ECONNREFUSED`; `bind` and `listen` are
//!   refused with `EACCES`.
//! - `socketpair(AF_UNIX)` works: a real host socket pair behind two guest descriptors,
//!   read, written, polled and closed like any open file; being host descriptors, they
//!   survive a host `fork` of the process with the data in flight. `send`/`recv` (and
//!   `sendto`/`recvfrom` without an address) and `shutdown` work on it.

use super::fs::fd::{flags::O_NONBLOCK, flags::O_RDWR, Node, OpenFile};
use super::fs::AT_FDCWD;
use super::{guest, Errno, Linux, Resolved};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use vmkit_mem::Memory;

/// The `socketcall` numbers (`SYS_SOCKET`...), which the direct calls share here.
pub(super) mod call {
    /// `socket`.
    pub const SOCKET: u32 = 1;
    /// `bind`.
    pub const BIND: u32 = 2;
    /// `connect`.
    pub const CONNECT: u32 = 3;
    /// `listen`.
    pub const LISTEN: u32 = 4;
    /// `accept`.
    pub const ACCEPT: u32 = 5;
    /// `getsockname`.
    pub const GETSOCKNAME: u32 = 6;
    /// `getpeername`.
    pub const GETPEERNAME: u32 = 7;
    /// `socketpair`.
    pub const SOCKETPAIR: u32 = 8;
    /// `send`.
    pub const SEND: u32 = 9;
    /// `recv`.
    pub const RECV: u32 = 10;
    /// `sendto`.
    pub const SENDTO: u32 = 11;
    /// `recvfrom`.
    pub const RECVFROM: u32 = 12;
    /// `shutdown`.
    pub const SHUTDOWN: u32 = 13;
    /// `setsockopt`.
    pub const SETSOCKOPT: u32 = 14;
    /// `getsockopt`.
    pub const GETSOCKOPT: u32 = 15;
    /// `sendmsg`.
    pub const SENDMSG: u32 = 16;
    /// `recvmsg`.
    pub const RECVMSG: u32 = 17;
    /// `accept4`.
    pub const ACCEPT4: u32 = 18;
    /// `recvmmsg`.
    pub const RECVMMSG: u32 = 19;
    /// `sendmmsg`.
    pub const SENDMMSG: u32 = 20;
}

/// How many argument words each `socketcall` number takes (index: the number).
const ARG_WORDS: [u32; 21] = [
    0, 3, 3, 3, 2, 3, 3, 3, 4, 4, 4, 6, 6, 2, 5, 5, 3, 3, 4, 5, 4,
];

const AF_UNIX: u32 = 1;
/// `SOCK_NONBLOCK` and `SOCK_CLOEXEC` in a socket type (the same bits on i386 and x86-64).
const SOCK_NONBLOCK: u32 = 0o4000;
const SOCK_CLOEXEC: u32 = 0o2000000;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_SEQPACKET: u32 = 5;
/// `send`/`recv` flags passed on to the host; the rest are refused with `EOPNOTSUPP`.
const MSG_PASSED: u32 = 0x1 /* OOB */ | 0x2 /* PEEK */ | 0x40 /* DONTWAIT */ | 0x100 /* WAITALL */
    | 0x4000 /* NOSIGNAL */ | 0x8000 /* MORE */;
const MSG_NOSIGNAL: u32 = 0x4000;
const SOL_SOCKET: u32 = 1;

/// What `--strace` says of a refused network call.
const CLOSED: &str = "the network is closed in the sandbox";

impl Linux {
    /// `socketcall(call, args)`: the i386 multiplexer; the arguments are words in guest
    /// memory.
    pub(super) fn socketcall(
        &mut self,
        mem: &mut Memory,
        call: u32,
        args: u32,
    ) -> Result<u32, Errno> {
        let Some(&words) = ARG_WORDS.get(call as usize).filter(|&&n| n > 0) else {
            return Err(Errno::EINVAL);
        };
        let mut a = [0u32; 6];
        for (i, slot) in a.iter_mut().enumerate().take(words as usize) {
            *slot = guest::u32_at(mem, args.wrapping_add(4 * i as u32))?;
        }
        self.socket_call(mem, call, a)
    }

    /// One socket call (`call` is its `socketcall` number) with its arguments.
    pub(super) fn socket_call(
        &mut self,
        mem: &mut Memory,
        call: u32,
        a: [u32; 6],
    ) -> Result<u32, Errno> {
        use call::*;
        match call {
            SOCKET => self.socket(a[0], a[1], a[2]),
            SOCKETPAIR => self.socketpair(mem, a[0], a[1], a[2], a[3]),
            CONNECT => self.connect(mem, a[0], a[1], a[2]),
            BIND | LISTEN => {
                self.socket_fd(a[0])?;
                self.note = Some(CLOSED);
                Err(Errno::EACCES)
            }
            // Nothing can listen, so nothing can be accepted: Linux's answer for a socket
            // that is not listening.
            ACCEPT | ACCEPT4 => {
                self.socket_fd(a[0])?;
                Err(Errno::EINVAL)
            }
            SEND => self.send(mem, a[0], a[1], a[2], a[3], 0),
            SENDTO => self.send(mem, a[0], a[1], a[2], a[3], a[4]),
            RECV => self.recv(mem, a[0], a[1], a[2], a[3], 0),
            RECVFROM => self.recv(mem, a[0], a[1], a[2], a[3], a[5]),
            SHUTDOWN => {
                let fd = self.socket_fd(a[0])?;
                // SAFETY: `fd` is an open socket this process owns; shutdown only uses it.
                host_result(unsafe { libc::shutdown(fd.as_raw_fd(), a[1] as i32) })
            }
            GETSOCKNAME | GETPEERNAME => self.sockname(mem, call == GETPEERNAME, a[0], a[1], a[2]),
            GETSOCKOPT => self.getsockopt(mem, a[0], a[1], a[2], a[3], a[4]),
            SETSOCKOPT => {
                self.socket_fd(a[0])?;
                // Options of sockets that never leave the guest change nothing it can see.
                if a[1] == SOL_SOCKET {
                    Ok(0)
                } else {
                    Err(Errno::ENOPROTOOPT)
                }
            }
            // Passing descriptors (SCM_RIGHTS) and batches are not supported.
            SENDMSG | RECVMSG | SENDMMSG | RECVMMSG => {
                self.socket_fd(a[0])?;
                Err(Errno::EOPNOTSUPP)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `socket`: `AF_UNIX` makes a host socket; every other family is refused.
    fn socket(&mut self, family: u32, ty: u32, protocol: u32) -> Result<u32, Errno> {
        if family != AF_UNIX {
            self.note = Some(CLOSED);
            return Err(Errno::EACCES);
        }
        let kind = unix_type(ty)?;
        if protocol != 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        // SAFETY: socket has no memory arguments; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        self.install_socket(fd, ty)
    }

    /// `socketpair(AF_UNIX, ...)`: a host socket pair; the descriptors go to `sv`.
    fn socketpair(
        &mut self,
        mem: &mut Memory,
        family: u32,
        ty: u32,
        protocol: u32,
        sv: u32,
    ) -> Result<u32, Errno> {
        if family != AF_UNIX {
            self.note = Some(CLOSED);
            return Err(Errno::EACCES);
        }
        let kind = unix_type(ty)?;
        if protocol != 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        guest::store(mem, sv, &[0; 8])?;
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                kind | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let first = self.install_socket(a, ty)?;
        let second = self.install_socket(b, ty);
        self.store_fd_pair(mem, sv, first, second)
    }

    /// Puts a host socket behind the lowest free guest descriptor, with the type's
    /// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`.
    fn install_socket(&mut self, fd: OwnedFd, ty: u32) -> Result<u32, Errno> {
        let mut flags = O_RDWR;
        if ty & SOCK_NONBLOCK != 0 {
            flags |= O_NONBLOCK;
            // SAFETY: `fd` is open; F_SETFL takes an integer.
            host_result(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
        }
        let file = OpenFile::new(Node::File(std::fs::File::from(fd)), flags);
        self.fds.open(file, ty & SOCK_CLOEXEC != 0)
    }

    /// `connect`: nothing outside the guest is reachable.
    fn connect(&mut self, mem: &mut Memory, fd: u32, addr: u32, len: u32) -> Result<u32, Errno> {
        self.socket_fd(fd)?;
        if len < 2 {
            return Err(Errno::EINVAL);
        }
        let family = u16::from_le_bytes(guest::bytes(mem, addr, 2)?.try_into().unwrap_or([0; 2]));
        if family as u32 != AF_UNIX {
            self.note = Some(CLOSED);
            return Err(Errno::EACCES);
        }
        let path = guest::bytes(mem, addr.wrapping_add(2), len.min(110) - 2)?;
        let abstract_name = path.first() == Some(&0);
        let shown = !abstract_name
            && matches!(
                self.lookup(mem, AT_FDCWD, addr.wrapping_add(2), true),
                Ok(l) if matches!(&l.target, Resolved::Host(e) if e.exists())
            );
        self.note = Some("no socket outside the sandbox can be reached");
        if abstract_name || shown {
            Err(Errno::ECONNREFUSED)
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// `send`/`sendto` on a connected socket (a socket pair); an address is refused.
    fn send(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        buf: u32,
        len: u32,
        flags: u32,
        addr: u32,
    ) -> Result<u32, Errno> {
        let sock = self.socket_fd(fd)?;
        if addr != 0 {
            self.note = Some(CLOSED);
            return Err(Errno::EACCES);
        }
        if flags & !MSG_PASSED != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let data = guest::bytes(mem, buf, len)?;
        // The guest's SIGPIPE is raised by the personality (after_write), never the host's.
        let host_flags = (flags | MSG_NOSIGNAL) as i32;
        // SAFETY: `data` is valid for `len` bytes for the call.
        let n = unsafe {
            libc::send(
                sock.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                host_flags,
            )
        };
        if n < 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        Ok(n as u32)
    }

    /// `recv`/`recvfrom`: a socket pair's peer has no address, so `*addrlen` becomes 0.
    fn recv(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        buf: u32,
        len: u32,
        flags: u32,
        addr_len: u32,
    ) -> Result<u32, Errno> {
        let sock = self.socket_fd(fd)?;
        if flags & !MSG_PASSED != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let len = len.min(1 << 20);
        guest::store(mem, buf, &vec![0; len as usize]).map_err(|_| Errno::EFAULT)?;
        let mut tmp = vec![0u8; len as usize];
        // SAFETY: `tmp` has room for `len` bytes.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                tmp.as_mut_ptr().cast(),
                tmp.len(),
                flags as i32,
            )
        };
        if n < 0 {
            return Err(Errno::from_io(&std::io::Error::last_os_error()));
        }
        guest::store(mem, buf, &tmp[..n as usize])?;
        if addr_len != 0 {
            guest::store_u32(mem, addr_len, 0)?;
        }
        Ok(n as u32)
    }

    /// `getsockname`/`getpeername`: sockets here are never bound, so the address is the
    /// family alone (an unnamed `AF_UNIX` socket); a peer exists only for a socket pair.
    fn sockname(
        &mut self,
        mem: &mut Memory,
        peer: bool,
        fd: u32,
        addr: u32,
        len_at: u32,
    ) -> Result<u32, Errno> {
        let sock = self.socket_fd(fd)?;
        if peer {
            // SAFETY: an all-zero sockaddr_storage is valid; getpeername writes at most its size.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut n = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: `storage` has room for `n` bytes.
            let r = unsafe {
                libc::getpeername(
                    sock.as_raw_fd(),
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut n,
                )
            };
            host_result(r)?;
        }
        let room = guest::u32_at(mem, len_at)?;
        let family = (AF_UNIX as u16).to_le_bytes();
        guest::store(mem, addr, &family[..room.min(2) as usize])?;
        guest::store_u32(mem, len_at, 2)?;
        Ok(0)
    }

    /// `getsockopt`: `SO_TYPE`, `SO_DOMAIN`, `SO_ERROR` and the buffer sizes, from the host
    /// socket.
    fn getsockopt(
        &mut self,
        mem: &mut Memory,
        fd: u32,
        level: u32,
        name: u32,
        val: u32,
        len_at: u32,
    ) -> Result<u32, Errno> {
        const SO_TYPE: u32 = 3;
        const SO_ERROR: u32 = 4;
        const SO_SNDBUF: u32 = 7;
        const SO_RCVBUF: u32 = 8;
        const SO_DOMAIN: u32 = 39;
        let sock = self.socket_fd(fd)?;
        if level != SOL_SOCKET
            || ![SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_DOMAIN].contains(&name)
        {
            return Err(Errno::ENOPROTOOPT);
        }
        let room = guest::u32_at(mem, len_at)?;
        let mut v: i32 = 0;
        let mut n = 4 as libc::socklen_t;
        // SAFETY: `v` has room for the 4 bytes these options write.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                name as i32,
                (&mut v as *mut i32).cast(),
                &mut n,
            )
        };
        host_result(r)?;
        let bytes = v.to_le_bytes();
        guest::store(mem, val, &bytes[..room.min(4) as usize])?;
        guest::store_u32(mem, len_at, 4)?;
        Ok(0)
    }

    /// The host socket behind guest descriptor `fd`: `EBADF` for no descriptor, `ENOTSOCK`
    /// for one that is not a socket.
    fn socket_fd(&self, fd: u32) -> Result<OwnedFd, Errno> {
        let file = self.fds.get(fd)?;
        let file = file.borrow();
        let Node::File(f) = file.node() else {
            return Err(Errno::ENOTSOCK);
        };
        let meta = f.metadata()?;
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(Errno::ENOTSOCK);
        }
        // A second descriptor for the call, so that no borrow of the table is held.
        Ok(f.try_clone()?.into())
    }
}

/// The host socket type of a guest `AF_UNIX` type (stream, datagram, sequenced packets).
fn unix_type(ty: u32) -> Result<i32, Errno> {
    match ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC) {
        SOCK_STREAM => Ok(libc::SOCK_STREAM),
        SOCK_DGRAM => Ok(libc::SOCK_DGRAM),
        SOCK_SEQPACKET => Ok(libc::SOCK_SEQPACKET),
        _ => Err(Errno::EINVAL),
    }
}

/// 0, or the host's errno for a failed call.
fn host_result(r: i32) -> Result<u32, Errno> {
    if r < 0 {
        Err(Errno::from_io(&std::io::Error::last_os_error()))
    } else {
        Ok(0)
    }
}
