//! The one table of i386 system calls, [`for_each_syscall!`]: for each number, its name (the
//! kernel's `syscall_32.tbl`), its argument kinds for `--strace`, and the handler, if vmkit
//! implements the call. Dispatch ([`dispatch`]), the names ([`syscall_name`]) and the strace
//! signatures ([`strace_signature`], [`returns_address`]) are generated from it, so they
//! cannot drift apart. A call with no handler (a known row without one, or a number with no
//! row, named `unknown`) returns `-ENOSYS`, as Linux does for a call it lacks, unless
//! `--strict-syscalls` asks to stop with "unsupported system call N (name)".

use super::fs::{join64, ChownTarget, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, CREAT_FLAGS};
use super::ldt;
use super::net::call as net;
use super::{task, Completion, Errno, Linux, GUEST_UID};
use crate::cpu::Cpu;
use vmkit_mem::Memory;

/// Calls `$callback! { rows }` with the i386 system-call table, one row per known number:
///
/// ```text
/// number "name" ["strace argument kinds"] [-> address] [=> |os, args, cpu, mem| handler];
/// ```
///
/// - The argument kinds are one character per argument (see [`super::strace`]); without
///   them `--strace` shows three hex words.
/// - `-> address` shows a successful result in hex (`brk`, `mmap2`, ...).
/// - The handler is a closure over the personality ([`Linux`]), the six argument registers
///   (ebx, ecx, edx, esi, edi, ebp), the CPU and guest memory. It returns a
///   `Result<u32, Errno>` (the value or error for eax) or a [`Completion`]. A row with no
///   handler is a call vmkit knows by name but does not implement.
macro_rules! for_each_syscall {
    ($callback:ident) => {
        $callback! {
        0 "restart_syscall";
        1 "exit" "d" => |os, a, _, mem| os.exit_thread(mem, a[0] as i32);
        2 "fork" "" => |os, _, cpu, mem| os.fork(cpu, mem);
        3 "read" "fru" => |os, a, _, mem| os.read(mem, a[0], a[1], a[2]);
        4 "write" "fwu" =>
            |os, a, _, mem| { let r = os.write(mem, a[0], a[1], a[2]); os.after_write(r) };
        5 "open" "soM" => |os, a, _, mem| os.open(mem, AT_FDCWD, a[0], a[1], a[2]);
        6 "close" "f" => |os, a, _, _| os.close(a[0]);
        7 "waitpid" "dpx" => |os, a, _, mem| os.wait4(mem, a[0], a[1], a[2], 0);
        8 "creat" "sm" => |os, a, _, mem| os.open(mem, AT_FDCWD, a[0], CREAT_FLAGS, a[1]);
        9 "link" "ss" => |os, a, _, mem| os.link(mem, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
        10 "unlink" "s" => |os, a, _, mem| os.unlink(mem, AT_FDCWD, a[0], 0);
        11 "execve" "spp" => |os, a, cpu, mem| os.execve(cpu, mem, a[0], a[1], a[2]);
        12 "chdir" "s" => |os, a, _, mem| os.chdir(mem, a[0]);
        13 "time" "p" => |os, a, _, mem| os.time(mem, a[0]);
        14 "mknod";
        15 "chmod" "sm" => |os, a, _, mem| os.chmod(mem, AT_FDCWD, a[0], a[1]);
        16 "lchown" "sdd" =>
            |os, a, _, mem| os.chown(mem, ChownTarget::path(AT_FDCWD, a[0], false), a[1], a[2]);
        17 "break";
        18 "oldstat";
        19 "lseek" "fdW" => |os, a, _, _| os.lseek32(a[0], a[1] as i32 as i64, a[2]);
        20 "getpid" "" => |os, _, _, _| Ok(os.pid());
        21 "mount";
        22 "umount";
        23 "setuid" "d" => |_, a, _, _| task::set_id(a[0]);
        24 "getuid" "" => |_, _, _, _| Ok(GUEST_UID);
        25 "stime";
        26 "ptrace";
        27 "alarm" "d" => |os, a, _, _| os.alarm(a[0]);
        28 "oldfstat";
        29 "pause" "" => |os, _, _, _| os.pause();
        30 "utime";
        31 "stty";
        32 "gtty";
        33 "access" "sk" => |os, a, _, mem| os.access(mem, AT_FDCWD, a[0], a[1], 0);
        34 "nice";
        35 "ftime";
        36 "sync" "" => |_, _, _, _| Ok(0);
        37 "kill" "dS" => |os, a, _, _| os.kill_process(a[0], a[1]);
        38 "rename" "ss" => |os, a, _, mem| os.rename(mem, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
        39 "mkdir" "sm" => |os, a, _, mem| os.mkdir(mem, AT_FDCWD, a[0], a[1]);
        40 "rmdir" "s" => |os, a, _, mem| os.unlink(mem, AT_FDCWD, a[0], AT_REMOVEDIR);
        41 "dup" "f" => |os, a, _, _| os.dup(a[0]);
        42 "pipe" "P" => |os, a, _, mem| os.pipe(mem, a[0], 0);
        43 "times";
        44 "prof";
        45 "brk" "p" -> address => |os, a, _, mem| Ok(os.brk(mem, a[0]));
        46 "setgid" "d" => |_, a, _, _| task::set_id(a[0]);
        47 "getgid" "" => |_, _, _, _| Ok(GUEST_UID);
        48 "signal" "Sp" => |os, a, _, mem| os.signal(mem, a[0], a[1]);
        49 "geteuid" "" => |_, _, _, _| Ok(GUEST_UID);
        50 "getegid" "" => |_, _, _, _| Ok(GUEST_UID);
        51 "acct";
        52 "umount2";
        53 "lock";
        54 "ioctl" "fIp" => |os, a, _, mem| os.ioctl(mem, a[0], a[1], a[2]);
        55 "fcntl" "fFx" => |os, a, _, mem| os.fcntl(mem, a[0], a[1], a[2]);
        56 "mpx";
        57 "setpgid" "dd" => |os, a, _, _| os.setpgid(a[0], a[1]);
        58 "ulimit";
        59 "oldolduname";
        60 "umask" "m" => |os, a, _, _| os.set_umask(a[0]);
        61 "chroot";
        62 "ustat";
        63 "dup2" "ff" => |os, a, _, _| os.dup2(a[0], a[1]);
        64 "getppid" "" => |os, _, _, _| os.getppid();
        65 "getpgrp" "" => |os, _, _, _| os.getpgid(0);
        66 "setsid" "" => |os, _, _, _| os.setsid();
        67 "sigaction" "Spp" => |os, a, _, mem| os.old_sigaction(mem, a[0], a[1], a[2]);
        68 "sgetmask" "" => |os, _, _, _| os.sgetmask();
        69 "ssetmask" "x" => |os, a, _, _| os.ssetmask(a[0]);
        70 "setreuid";
        71 "setregid";
        72 "sigsuspend" "xxx" => |os, a, _, _| os.sigsuspend(a[2]);
        73 "sigpending" "p" => |os, a, _, mem| os.sigpending(mem, a[0]);
        74 "sethostname";
        75 "setrlimit" "dp" => |os, a, _, mem| os.setrlimit(mem, a[0], a[1]);
        76 "getrlimit" "dp" => |os, a, _, mem| os.getrlimit(mem, a[0], a[1]);
        77 "getrusage";
        78 "gettimeofday" "pp" => |os, a, _, mem| os.gettimeofday(mem, a[0], a[1]);
        79 "settimeofday";
        80 "getgroups" "dp" => |os, a, _, mem| os.getgroups(mem, a[0], a[1]);
        81 "setgroups";
        82 "select";
        83 "symlink" "ss" => |os, a, _, mem| os.symlink(mem, a[0], AT_FDCWD, a[1]);
        84 "oldlstat";
        85 "readlink" "sru" => |os, a, _, mem| os.readlink(mem, AT_FDCWD, a[0], a[1], a[2]);
        86 "uselib";
        87 "swapon";
        88 "reboot";
        89 "readdir";
        90 "mmap" "p" -> address => |os, a, _, mem| os.old_mmap(mem, a[0]);
        91 "munmap" "pu" => |os, a, _, mem| os.munmap(mem, a[0], a[1]);
        92 "truncate" "sd" => |os, a, _, mem| os.truncate(mem, a[0], a[1] as i32 as i64);
        93 "ftruncate" "fd" => |os, a, _, _| os.ftruncate(a[0], a[1] as i32 as i64);
        94 "fchmod" "fm" => |os, a, _, _| os.fchmod(a[0], a[1]);
        95 "fchown" "fdd" => |os, a, _, mem| os.chown(mem, ChownTarget::Fd(a[0]), a[1], a[2]);
        96 "getpriority" "dd" => |_, _, _, _| Ok(20);
        97 "setpriority" "ddd" => |_, _, _, _| Ok(0);
        98 "profil";
        99 "statfs";
        100 "fstatfs";
        101 "ioperm";
        102 "socketcall" "dp" => |os, a, _, mem| os.socketcall(mem, a[0], a[1]);
        103 "syslog";
        104 "setitimer" "dpp" => |os, a, _, mem| os.setitimer(mem, a[0], a[1], a[2]);
        105 "getitimer" "dp" => |os, a, _, mem| os.getitimer(mem, a[0], a[1]);
        106 "stat";
        107 "lstat";
        108 "fstat";
        109 "olduname";
        110 "iopl";
        111 "vhangup";
        112 "idle";
        113 "vm86old";
        114 "wait4" "dpxp" => |os, a, _, mem| os.wait4(mem, a[0], a[1], a[2], a[3]);
        115 "swapoff";
        116 "sysinfo" "p" => |os, a, _, mem| os.sysinfo(mem, a[0]);
        117 "ipc";
        118 "fsync" "f" => |os, a, _, _| os.fsync(a[0], false);
        119 "sigreturn" "" => |os, _, cpu, mem| os.sigreturn(cpu, mem);
        120 "clone" "xpppp" => |os, a, cpu, mem| os.clone(cpu, mem, a);
        121 "setdomainname";
        122 "uname" "p" => |_, a, _, mem| task::uname(mem, a[0]);
        123 "modify_ldt" "dpu" => |_, a, cpu, mem| ldt::modify_ldt(cpu, mem, a[0], a[1], a[2]);
        124 "adjtimex";
        125 "mprotect" "pux" => |os, a, _, mem| os.mprotect(mem, a[0], a[1], a[2]);
        126 "sigprocmask" "dpp" => |os, a, _, mem| os.sigprocmask(mem, a[0], a[1], a[2]);
        127 "create_module";
        128 "init_module";
        129 "delete_module";
        130 "get_kernel_syms";
        131 "quotactl";
        132 "getpgid" "d" => |os, a, _, _| os.getpgid(a[0]);
        133 "fchdir" "f" => |os, a, _, _| os.fchdir(a[0]);
        134 "bdflush";
        135 "sysfs";
        136 "personality";
        137 "afs_syscall";
        138 "setfsuid";
        139 "setfsgid";
        140 "_llseek" "fLpW" =>
            |os, a, _, mem| os.llseek(mem, a[0], join64(a[2], a[1]), a[3], a[4]);
        141 "getdents" "fpu" => |os, a, _, mem| os.getdents(mem, a[0], a[1], a[2], false);
        142 "_newselect";
        143 "flock" "fx" => |os, a, _, _| os.check_fd(a[0]);
        144 "msync";
        145 "readv" "fpd" => |os, a, _, mem| os.readv(mem, a[0], a[1], a[2]);
        146 "writev" "fpd" =>
            |os, a, _, mem| { let r = os.writev(mem, a[0], a[1], a[2]); os.after_write(r) };
        147 "getsid" "d" => |os, a, _, _| os.getsid(a[0]);
        148 "fdatasync" "f" => |os, a, _, _| os.fsync(a[0], true);
        149 "_sysctl";
        150 "mlock";
        151 "munlock";
        152 "mlockall";
        153 "munlockall";
        154 "sched_setparam";
        155 "sched_getparam";
        156 "sched_setscheduler";
        157 "sched_getscheduler";
        158 "sched_yield" "" => |os, _, _, _| Ok(os.sched_yield());
        159 "sched_get_priority_max";
        160 "sched_get_priority_min";
        161 "sched_rr_get_interval";
        162 "nanosleep" "pp" => |os, a, _, mem| os.clock_nanosleep(mem, 0, 0, a[0], a[1], false);
        163 "mremap" "puux" -> address =>
            |os, a, _, mem| os.mremap(mem, a[0], a[1], a[2], a[3], a[4]);
        164 "setresuid";
        165 "getresuid";
        166 "vm86";
        167 "query_module";
        168 "poll" "pud" =>
            |os, a, _, mem| os.poll(mem, a[0], a[1], Linux::poll_timeout_ms(a[2]));
        169 "nfsservctl";
        170 "setresgid";
        171 "getresgid";
        172 "prctl" "dx" => |_, a, _, mem| task::prctl(mem, a[0], a[1]);
        173 "rt_sigreturn" "" => |os, _, cpu, mem| os.rt_sigreturn(cpu, mem);
        174 "rt_sigaction" "Sppu" => |os, a, _, mem| os.rt_sigaction(mem, a[0], a[1], a[2], a[3]);
        175 "rt_sigprocmask" "dppu" =>
            |os, a, _, mem| os.rt_sigprocmask(mem, a[0], a[1], a[2], a[3]);
        176 "rt_sigpending" "pu" => |os, a, _, mem| os.rt_sigpending(mem, a[0], a[1]);
        177 "rt_sigtimedwait" "pppu" =>
            |os, a, _, mem| os.rt_sigtimedwait(mem, a[0], a[1], a[2], a[3], false);
        178 "rt_sigqueueinfo" "dSp" => |os, a, _, mem| os.rt_sigqueueinfo(mem, a[0], None, a[1], a[2]);
        179 "rt_sigsuspend" "pu" => |os, a, _, mem| os.rt_sigsuspend(mem, a[0], a[1]);
        180 "pread64" "fruL" => |os, a, _, mem| os.pread(mem, a[0], a[1], a[2], join64(a[3], a[4]));
        181 "pwrite64" "fwuL" =>
            |os, a, _, mem| {
                let r = os.pwrite(mem, a[0], a[1], a[2], join64(a[3], a[4]));
                os.after_write(r)
            };
        182 "chown" "sdd" =>
            |os, a, _, mem| os.chown(mem, ChownTarget::path(AT_FDCWD, a[0], true), a[1], a[2]);
        183 "getcwd" "Ru" => |os, a, _, mem| os.getcwd(mem, a[0], a[1]);
        184 "capget";
        185 "capset";
        186 "sigaltstack" "pp" =>
            |os, a, cpu, mem| os.sigaltstack(mem, a[0], a[1], cpu.regs[crate::cpu::ESP]);
        187 "sendfile" "ffpu" =>
            |os, a, _, mem| {
                let r = os.sendfile(mem, a[0], a[1], a[2], a[3], false);
                os.after_write(r)
            };
        188 "getpmsg";
        189 "putpmsg";
        190 "vfork" "" => |os, _, cpu, mem| os.fork(cpu, mem);
        191 "ugetrlimit" "dp" => |os, a, _, mem| os.getrlimit(mem, a[0], a[1]);
        192 "mmap2" "puxxfx" -> address => |os, a, _, mem| os.mmap2(mem, a);
        193 "truncate64" "sL" => |os, a, _, mem| os.truncate(mem, a[0], join64(a[1], a[2]));
        194 "ftruncate64" "fL" => |os, a, _, _| os.ftruncate(a[0], join64(a[1], a[2]));
        195 "stat64" "sp" => |os, a, _, mem| os.stat_path(mem, AT_FDCWD, a[0], a[1], 0, false);
        196 "lstat64" "sp" =>
            |os, a, _, mem| os.stat_path(mem, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW, false);
        197 "fstat64" "fp" => |os, a, _, mem| os.fstat(mem, a[0], a[1]);
        198 "lchown32" "sdd" =>
            |os, a, _, mem| os.chown(mem, ChownTarget::path(AT_FDCWD, a[0], false), a[1], a[2]);
        199 "getuid32" "" => |_, _, _, _| Ok(GUEST_UID);
        200 "getgid32" "" => |_, _, _, _| Ok(GUEST_UID);
        201 "geteuid32" "" => |_, _, _, _| Ok(GUEST_UID);
        202 "getegid32" "" => |_, _, _, _| Ok(GUEST_UID);
        203 "setreuid32";
        204 "setregid32";
        205 "getgroups32" "dp" => |os, a, _, mem| os.getgroups(mem, a[0], a[1]);
        206 "setgroups32";
        207 "fchown32" "fdd" => |os, a, _, mem| os.chown(mem, ChownTarget::Fd(a[0]), a[1], a[2]);
        208 "setresuid32";
        209 "getresuid32";
        210 "setresgid32";
        211 "getresgid32";
        212 "chown32" "sdd" =>
            |os, a, _, mem| os.chown(mem, ChownTarget::path(AT_FDCWD, a[0], true), a[1], a[2]);
        213 "setuid32" "d" => |_, a, _, _| task::set_id(a[0]);
        214 "setgid32" "d" => |_, a, _, _| task::set_id(a[0]);
        215 "setfsuid32";
        216 "setfsgid32";
        217 "pivot_root";
        218 "mincore" "pup" => |os, a, _, mem| os.mincore(mem, a[0], a[1], a[2]);
        219 "madvise" "pud" => |os, a, _, mem| os.madvise(mem, a[0], a[1], a[2]);
        220 "getdents64" "fpu" => |os, a, _, mem| os.getdents(mem, a[0], a[1], a[2], true);
        221 "fcntl64" "fFx" => |os, a, _, mem| os.fcntl(mem, a[0], a[1], a[2]);
        224 "gettid" "" => |os, _, _, _| Ok(os.gettid());
        225 "readahead";
        226 "setxattr";
        227 "lsetxattr";
        228 "fsetxattr";
        229 "getxattr";
        230 "lgetxattr";
        231 "fgetxattr";
        232 "listxattr";
        233 "llistxattr";
        234 "flistxattr";
        235 "removexattr";
        236 "lremovexattr";
        237 "fremovexattr";
        238 "tkill" "dS" => |os, a, _, _| os.tkill(a[0], a[1]);
        239 "sendfile64" "ffpu" =>
            |os, a, _, mem| {
                let r = os.sendfile(mem, a[0], a[1], a[2], a[3], true);
                os.after_write(r)
            };
        240 "futex" "pxdpxx" => |os, a, _, mem| os.futex(mem, a, false);
        241 "sched_setaffinity";
        242 "sched_getaffinity" "dup" =>
            |os, a, _, mem| os.sched_getaffinity(mem, a[0], a[1], a[2]);
        243 "set_thread_area" "p" => |_, a, cpu, mem| task::set_thread_area(cpu, mem, a[0]);
        244 "get_thread_area";
        245 "io_setup";
        246 "io_destroy";
        247 "io_getevents";
        248 "io_submit";
        249 "io_cancel";
        250 "fadvise64" "fxxx" => |os, a, _, _| os.check_fd(a[0]);
        252 "exit_group" "d" => |_, a, _, _| Completion::Exited(a[0] as i32);
        253 "lookup_dcookie";
        254 "epoll_create";
        255 "epoll_ctl";
        256 "epoll_wait";
        257 "remap_file_pages";
        258 "set_tid_address" "p" => |os, a, _, _| Ok(os.set_tid_address(a[0]));
        259 "timer_create";
        260 "timer_settime";
        261 "timer_gettime";
        262 "timer_getoverrun";
        263 "timer_delete";
        264 "clock_settime";
        265 "clock_gettime" "cp" => |os, a, _, mem| os.clock_gettime(mem, a[0], a[1], false);
        266 "clock_getres" "cp" => |os, a, _, mem| os.clock_getres(mem, a[0], a[1], false);
        267 "clock_nanosleep" "cdpp" =>
            |os, a, _, mem| os.clock_nanosleep(mem, a[0], a[1], a[2], a[3], false);
        268 "statfs64" "sup" => |os, a, _, mem| os.statfs64(mem, a[0], a[1], a[2]);
        269 "fstatfs64" "fup" => |os, a, _, mem| os.fstatfs64(mem, a[0], a[1], a[2]);
        270 "tgkill" "ddS" => |os, a, _, _| os.tgkill(a[0], a[1], a[2]);
        271 "utimes";
        272 "fadvise64_64" "fxxxxx" => |os, a, _, _| os.check_fd(a[0]);
        273 "vserver";
        274 "mbind";
        275 "get_mempolicy";
        276 "set_mempolicy";
        277 "mq_open";
        278 "mq_unlink";
        279 "mq_timedsend";
        280 "mq_timedreceive";
        281 "mq_notify";
        282 "mq_getsetattr";
        283 "kexec_load";
        284 "waitid" "ddpxp" => |os, a, _, mem| os.waitid(mem, a[0], a[1], a[2], a[3], a[4]);
        286 "add_key";
        287 "request_key";
        288 "keyctl";
        289 "ioprio_set";
        290 "ioprio_get";
        291 "inotify_init";
        292 "inotify_add_watch";
        293 "inotify_rm_watch";
        294 "migrate_pages";
        295 "openat" "fsoM" => |os, a, _, mem| os.open(mem, a[0], a[1], a[2], a[3]);
        296 "mkdirat" "fsm" => |os, a, _, mem| os.mkdir(mem, a[0], a[1], a[2]);
        297 "mknodat";
        298 "fchownat" "fsdda" =>
            |os, a, _, mem| {
                let follow = a[4] & AT_SYMLINK_NOFOLLOW == 0;
                os.chown(mem, ChownTarget::path(a[0], a[1], follow), a[2], a[3])
            };
        299 "futimesat";
        300 "fstatat64" "fspa" => |os, a, _, mem| os.stat_path(mem, a[0], a[1], a[2], a[3], false);
        301 "unlinkat" "fsa" => |os, a, _, mem| os.unlink(mem, a[0], a[1], a[2]);
        302 "renameat" "fsfs" => |os, a, _, mem| os.rename(mem, a[0], a[1], a[2], a[3], 0);
        303 "linkat" "fsfsa" => |os, a, _, mem| os.link(mem, a[0], a[1], a[2], a[3], a[4]);
        304 "symlinkat" "sfs" => |os, a, _, mem| os.symlink(mem, a[0], a[1], a[2]);
        305 "readlinkat" "fsru" => |os, a, _, mem| os.readlink(mem, a[0], a[1], a[2], a[3]);
        306 "fchmodat" "fsm" => |os, a, _, mem| os.chmod(mem, a[0], a[1], a[2]);
        307 "faccessat" "fsk" => |os, a, _, mem| os.access(mem, a[0], a[1], a[2], 0);
        308 "pselect6";
        309 "ppoll" "pupp" =>
            |os, a, _, mem| {
                let timeout = Linux::ppoll_timeout(mem, a[2], false)?;
                os.poll(mem, a[0], a[1], timeout)
            };
        310 "unshare";
        311 "set_robust_list" "pu" => |os, a, _, _| os.set_robust_list(a[0], a[1]);
        312 "get_robust_list" "dpp" => |os, a, _, mem| os.get_robust_list(mem, a[0], a[1], a[2]);
        313 "splice";
        314 "sync_file_range";
        315 "tee";
        316 "vmsplice";
        317 "move_pages";
        318 "getcpu";
        319 "epoll_pwait";
        320 "utimensat" "fspa" => |os, a, _, mem| os.utimensat(mem, a[0], a[1], a[2], a[3], false);
        321 "signalfd";
        322 "timerfd_create";
        323 "eventfd";
        324 "fallocate";
        325 "timerfd_settime";
        326 "timerfd_gettime";
        327 "signalfd4";
        328 "eventfd2";
        329 "epoll_create1";
        330 "dup3" "ffo" => |os, a, _, _| os.dup3(a[0], a[1], a[2]);
        331 "pipe2" "Po" => |os, a, _, mem| os.pipe(mem, a[0], a[1]);
        332 "inotify_init1";
        333 "preadv";
        334 "pwritev";
        335 "rt_tgsigqueueinfo" "ddSp" =>
            |os, a, _, mem| os.rt_sigqueueinfo(mem, a[0], Some(a[1]), a[2], a[3]);
        336 "perf_event_open";
        337 "recvmmsg" "fpux" => |os, a, _, mem| os.socket_call(mem, net::RECVMMSG, a);
        338 "fanotify_init";
        339 "fanotify_mark";
        340 "prlimit64" "ddpp" => |os, a, _, mem| os.prlimit64(mem, a[0], a[1], a[2], a[3]);
        341 "name_to_handle_at";
        342 "open_by_handle_at";
        343 "clock_adjtime";
        344 "syncfs" "f" => |os, a, _, _| os.check_fd(a[0]);
        345 "sendmmsg" "fpux" => |os, a, _, mem| os.socket_call(mem, net::SENDMMSG, a);
        346 "setns";
        347 "process_vm_readv";
        348 "process_vm_writev";
        349 "kcmp";
        350 "finit_module";
        351 "sched_setattr";
        352 "sched_getattr";
        353 "renameat2" "fsfsx" => |os, a, _, mem| os.rename(mem, a[0], a[1], a[2], a[3], a[4]);
        354 "seccomp";
        355 "getrandom" "pux" => |os, a, _, mem| os.getrandom(mem, a[0], a[1]);
        356 "memfd_create";
        357 "bpf";
        358 "execveat" "fsppx" =>
            |os, a, cpu, mem| os.execveat(cpu, mem, a[0], a[1], a[2], a[3], a[4]);
        359 "socket" "ddd" => |os, a, _, mem| os.socket_call(mem, net::SOCKET, a);
        360 "socketpair" "dddP" => |os, a, _, mem| os.socket_call(mem, net::SOCKETPAIR, a);
        361 "bind" "fpu" => |os, a, _, mem| os.socket_call(mem, net::BIND, a);
        362 "connect" "fpu" => |os, a, _, mem| os.socket_call(mem, net::CONNECT, a);
        363 "listen" "fd" => |os, a, _, mem| os.socket_call(mem, net::LISTEN, a);
        364 "accept4" "fppx" => |os, a, _, mem| os.socket_call(mem, net::ACCEPT4, a);
        365 "getsockopt" "fddpp" => |os, a, _, mem| os.socket_call(mem, net::GETSOCKOPT, a);
        366 "setsockopt" "fddpu" => |os, a, _, mem| os.socket_call(mem, net::SETSOCKOPT, a);
        367 "getsockname" "fpp" => |os, a, _, mem| os.socket_call(mem, net::GETSOCKNAME, a);
        368 "getpeername" "fpp" => |os, a, _, mem| os.socket_call(mem, net::GETPEERNAME, a);
        369 "sendto" "fwuxpu" => |os, a, _, mem| os.socket_call(mem, net::SENDTO, a);
        370 "sendmsg" "fpx" => |os, a, _, mem| os.socket_call(mem, net::SENDMSG, a);
        371 "recvfrom" "fruxpp" => |os, a, _, mem| os.socket_call(mem, net::RECVFROM, a);
        372 "recvmsg" "fpx" => |os, a, _, mem| os.socket_call(mem, net::RECVMSG, a);
        373 "shutdown" "fd" => |os, a, _, mem| os.socket_call(mem, net::SHUTDOWN, a);
        374 "userfaultfd";
        375 "membarrier";
        376 "mlock2";
        377 "copy_file_range";
        378 "preadv2";
        379 "pwritev2";
        380 "pkey_mprotect";
        381 "pkey_alloc";
        382 "pkey_free";
        383 "statx" "fsaxp" => |os, a, _, mem| os.stat_path(mem, a[0], a[1], a[4], a[2], true);
        384 "arch_prctl";
        385 "io_pgetevents";
        386 "rseq" "puxx" => |_, _, _, _| Err(Errno::ENOSYS);
        393 "semget";
        394 "semctl";
        395 "shmget";
        396 "shmctl";
        397 "shmat";
        398 "shmdt";
        399 "msgget";
        400 "msgsnd";
        401 "msgrcv";
        402 "msgctl";
        403 "clock_gettime64" "cp" => |os, a, _, mem| os.clock_gettime(mem, a[0], a[1], true);
        404 "clock_settime64";
        405 "clock_adjtime64";
        406 "clock_getres_time64" "cp" => |os, a, _, mem| os.clock_getres(mem, a[0], a[1], true);
        407 "clock_nanosleep_time64" "cdpp" =>
            |os, a, _, mem| os.clock_nanosleep(mem, a[0], a[1], a[2], a[3], true);
        408 "timer_gettime64";
        409 "timer_settime64";
        410 "timerfd_gettime64";
        411 "timerfd_settime64";
        412 "utimensat_time64" "fspa" =>
            |os, a, _, mem| os.utimensat(mem, a[0], a[1], a[2], a[3], true);
        413 "pselect6_time64";
        414 "ppoll_time64" "pupp" =>
            |os, a, _, mem| {
                let timeout = Linux::ppoll_timeout(mem, a[2], true)?;
                os.poll(mem, a[0], a[1], timeout)
            };
        416 "io_pgetevents_time64";
        417 "recvmmsg_time64";
        418 "mq_timedsend_time64";
        419 "mq_timedreceive_time64";
        420 "semtimedop_time64";
        421 "rt_sigtimedwait_time64" "pppu" =>
            |os, a, _, mem| os.rt_sigtimedwait(mem, a[0], a[1], a[2], a[3], true);
        422 "futex_time64" "pxdpxx" => |os, a, _, mem| os.futex(mem, a, true);
        423 "sched_rr_get_interval_time64";
        424 "pidfd_send_signal";
        425 "io_uring_setup";
        426 "io_uring_enter";
        427 "io_uring_register";
        428 "open_tree";
        429 "move_mount";
        430 "fsopen";
        431 "fsconfig";
        432 "fsmount";
        433 "fspick";
        434 "pidfd_open";
        435 "clone3" "pu" => |os, a, cpu, mem| os.clone3(cpu, mem, a[0], a[1]);
        436 "close_range";
        437 "openat2";
        438 "pidfd_getfd";
        439 "faccessat2" "fska" => |os, a, _, mem| os.access(mem, a[0], a[1], a[2], a[3]);
        440 "process_madvise";
        441 "epoll_pwait2";
        442 "mount_setattr";
        443 "quotactl_fd";
        444 "landlock_create_ruleset";
        445 "landlock_add_rule";
        446 "landlock_restrict_self";
        447 "memfd_secret";
        448 "process_mrelease";
        449 "futex_waitv";
        450 "set_mempolicy_home_node";
        451 "cachestat";
        452 "fchmodat2" "fsma" => |os, a, _, mem| os.chmod(mem, a[0], a[1], a[2]);
        453 "map_shadow_stack";
        454 "futex_wake";
        455 "futex_wait";
        456 "futex_requeue";
        457 "statmount";
        458 "listmount";
        459 "lsm_get_self_attr";
        460 "lsm_set_self_attr";
        461 "lsm_list_modules";
        462 "mseal";
        463 "setxattrat";
        464 "getxattrat";
        465 "listxattrat";
        466 "removexattrat";
        467 "open_tree_attr";
        }
    };
}

/// The argument kinds of a row, or the default (three hex words).
macro_rules! signature_or_default {
    () => {
        "xxx"
    };
    ($sig:literal) => {
        $sig
    };
}

/// Whether a row says `-> address`.
macro_rules! is_address {
    () => {
        false
    };
    (address) => {
        true
    };
}

/// A row's handler run on the call's operands, or `NotImplemented` for a row without one.
macro_rules! run_handler {
    ($os:ident, $args:ident, $cpu:ident, $mem:ident;) => {
        Completion::NotImplemented
    };
    ($os:ident, $args:ident, $cpu:ident, $mem:ident; $handler:expr) => {
        call($handler, $os, $args, $cpu, $mem)
    };
}

/// Generates the lookups and the dispatch from the rows of [`for_each_syscall!`].
macro_rules! syscall_lookups {
    ($(
        $nr:literal $name:literal $($sig:literal)? $(-> $ret:ident)? $(=> $handler:expr)?;
    )*) => {
        /// The name of i386 system call `nr`, or `"unknown"`.
        pub fn syscall_name(nr: u32) -> &'static str {
            match nr {
                $($nr => $name,)*
                _ => "unknown",
            }
        }

        /// The `--strace` argument kinds of call `nr` (see [`super::strace`]).
        pub(super) fn strace_signature(nr: u32) -> &'static str {
            match nr {
                $($nr => signature_or_default!($($sig)?),)*
                _ => "xxx",
            }
        }

        /// Whether call `nr` returns an address (shown in hex by `--strace`).
        pub(super) fn returns_address(nr: u32) -> bool {
            match nr {
                $($nr => is_address!($($ret)?),)*
                _ => false,
            }
        }

        /// Runs call `nr` with arguments `args`.
        pub(super) fn dispatch(
            os: &mut Linux,
            nr: u32,
            args: [u32; 6],
            cpu: &mut Cpu,
            mem: &mut Memory,
        ) -> Completion {
            match nr {
                $($nr => run_handler!(os, args, cpu, mem; $($handler)?),)*
                _ => Completion::NotImplemented,
            }
        }
    };
}

for_each_syscall!(syscall_lookups);

/// Runs one handler (a closure, so that the table's rows can name their operands).
#[inline(always)]
fn call<R: Into<Completion>>(
    handler: impl FnOnce(&mut Linux, [u32; 6], &mut Cpu, &mut Memory) -> R,
    os: &mut Linux,
    args: [u32; 6],
    cpu: &mut Cpu,
    mem: &mut Memory,
) -> Completion {
    handler(os, args, cpu, mem).into()
}

#[cfg(test)]
mod tests {
    use super::{returns_address, strace_signature, syscall_name};

    #[test]
    fn numbers_match_the_kernel_table() {
        for (nr, name) in [
            (1, "exit"),
            (5, "open"),
            (140, "_llseek"),
            (195, "stat64"),
            (220, "getdents64"),
            (252, "exit_group"),
            (295, "openat"),
            (383, "statx"),
            (403, "clock_gettime64"),
            (450, "set_mempolicy_home_node"),
            (452, "fchmodat2"),
            (467, "open_tree_attr"),
        ] {
            assert_eq!(syscall_name(nr), name, "{nr}");
        }
        assert_eq!(syscall_name(222), "unknown");
        assert_eq!(syscall_name(100_000), "unknown");
    }

    /// Dispatch, names and strace signatures come from [`for_each_syscall!`] alone: no other
    /// file of the personality matches on a system-call number or names the calls.
    #[test]
    fn there_is_no_second_syscall_table() {
        fn check(dir: &std::path::Path) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    check(&path);
                } else if path.file_name().unwrap() != "syscalls.rs" {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for table in ["match nr {", "\"restart_syscall\"", "\"_llseek\""] {
                        assert!(!text.contains(table), "{}: {table}", path.display());
                    }
                }
            }
        }
        check(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/linux"));
    }

    #[test]
    fn strace_signatures_and_results() {
        assert_eq!(strace_signature(5), "soM");
        assert_eq!(strace_signature(14), "xxx");
        assert_eq!(strace_signature(100_000), "xxx");
        assert!(returns_address(192));
        assert!(!returns_address(5));
    }
}
