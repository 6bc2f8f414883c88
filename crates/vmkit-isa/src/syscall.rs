//! System call numbers for `sys n`. Arguments are in r1, r2, r3; the result is in r0, and a
//! negative result is `-errno` (see [`errno`]).

macro_rules! syscalls {
    ($( $(#[doc = $doc:literal])* $name:ident = $n:literal, $text:literal; )*) => {
        $( $(#[doc = $doc])* pub const $name: u8 = $n; )*

        /// All system calls: number, name and one-line description.
        pub const ALL: &[(u8, &str, &str)] = &[ $( ($n, $text, concat!($($doc),*)), )* ];
    };
}

syscalls! {
    /// exit(code = r1): stop the machine with exit status r1 (a process sees its low 8 bits)
    EXIT = 0, "exit";
    /// read(fd = r1, buf = r2, len = r3) -> bytes read
    READ = 1, "read";
    /// write(fd = r1, buf = r2, len = r3) -> bytes written
    WRITE = 2, "write";
    /// open(path = r1 (NUL-terminated), flags = r2: 0 read, 1 write/create/truncate, 2 append/create) -> fd
    OPEN = 3, "open";
    /// close(fd = r1) -> 0
    CLOSE = 4, "close";
}

/// Name of system call `n`, if defined.
pub fn name(n: u8) -> Option<&'static str> {
    ALL.iter()
        .find(|(k, _, _)| *k == n)
        .map(|(_, name, _)| *name)
}

/// Number of the system call named `name`.
pub fn by_name(name: &str) -> Option<u8> {
    ALL.iter().find(|(_, s, _)| *s == name).map(|(n, _, _)| *n)
}

/// Error numbers returned (negated) by system calls.
pub mod errno {
    /// Operation not permitted / access outside the granted directory.
    pub const EACCES: i64 = 13;
    /// No such file.
    pub const ENOENT: i64 = 2;
    /// Bad file descriptor.
    pub const EBADF: i64 = 9;
    /// Bad address (buffer outside guest memory).
    pub const EFAULT: i64 = 14;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
    /// Too many open files.
    pub const EMFILE: i64 = 24;
    /// Is a directory.
    pub const EISDIR: i64 = 21;
    /// Generic I/O error.
    pub const EIO: i64 = 5;
}
