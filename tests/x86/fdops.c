/* Descriptor operations: dup/dup2/dup3, fcntl, pipes, stdout redirection, ioctl on a
 * non-terminal, process identity and clocks (compared as relations, not values). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Prints a call's result, and errno when it failed (read after the call). */
#define SHOW(label, expr)                                                               \
    do {                                                                                \
        long r_ = (long)(expr);                                                         \
        const char *e_ = r_ < 0 ? strerrorname_np(errno) : "";                          \
        printf("%s: %ld%s%s\n", label, r_, r_ < 0 ? " errno=" : "", e_);                \
    } while (0)

static int handled;
static void on_usr1(int sig) { handled = sig; }

int main(void) {
    int p[2];
    if (pipe(p)) { perror("pipe"); return 1; }
    printf("pipe write: %zd\n", write(p[1], "through the pipe", 16));
    char buf[64];
    ssize_t n = read(p[0], buf, sizeof buf);
    printf("pipe read: %zd %.*s\n", n, (int)n, buf);
    int d = dup(p[1]);
    printf("dup is lowest free: %d\n", d == p[1] + 1);
    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    printf("writev to dup: %zd\n", writev(d, iov, 2));
    close(d);
    close(p[1]);
    n = read(p[0], buf, sizeof buf);
    printf("read: %.*s; then EOF: %zd\n", (int)n, buf, read(p[0], buf, sizeof buf));
    close(p[0]);

    if (pipe2(p, O_CLOEXEC)) { perror("pipe2"); return 1; }
    printf("FD_CLOEXEC: %d\n", fcntl(p[0], F_GETFD));
    fcntl(p[0], F_SETFD, 0);
    printf("after F_SETFD: %d\n", fcntl(p[0], F_GETFD));
    printf("F_GETFL accmode: %d %d\n", fcntl(p[0], F_GETFL) & O_ACCMODE, fcntl(p[1], F_GETFL) & O_ACCMODE);
    int hi = fcntl(p[0], F_DUPFD, 20);
    printf("F_DUPFD >= 20: %d\n", hi);
    int hc = fcntl(p[0], F_DUPFD_CLOEXEC, 30);
    printf("F_DUPFD_CLOEXEC: %d cloexec %d\n", hc, fcntl(hc, F_GETFD));
    printf("dup2: %d\n", dup2(p[1], 40));
    SHOW("dup3 same fd", dup3(40, 40, 0));
    write(40, "x", 1);
    printf("read via F_DUPFD copy: %zd\n", read(hi, buf, 1));
    SHOW("close bad", close(77));
    SHOW("lseek on pipe", (long)lseek(p[0], 0, SEEK_SET));

    /* stdout is a pipe in the test: not a terminal. */
    struct termios t;
    SHOW("tcgetattr(stdout)", tcgetattr(1, &t));
    SHOW("isatty(stdout)", isatty(1));

    /* Signal dispositions are recorded and read back; kill(0) probes. */
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr1;
    printf("sigaction: %d\n", sigaction(SIGUSR1, &sa, NULL));
    sigaction(SIGUSR1, NULL, &old);
    printf("handler kept: %d\n", old.sa_handler == on_usr1);
    sigset_t set, oldset;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigprocmask(SIG_SETMASK, NULL, &oldset);
    printf("SIGUSR2 blocked: %d\n", sigismember(&oldset, SIGUSR2));
    printf("kill 0: %d\n", kill(getpid(), 0));
    signal(SIGCHLD, SIG_IGN);
    printf("raise ignored: %d handled=%d\n", raise(SIGCHLD), handled);

    /* Identity and time. */
    printf("getpid==gettid: %d ppid>0: %d\n", getpid() == gettid(), getppid() > 0);
    printf("uid==euid: %d gid==egid: %d\n", getuid() == geteuid(), getgid() == getegid());
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec nap = {0, 2000000};
    printf("nanosleep: %d\n", nanosleep(&nap, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("slept >= 2ms: %d\n", ns >= 2000000);
    printf("time sane: %d\n", time(NULL) > 1600000000);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile > 0: %d\n", rl.rlim_cur > 0);
    cpu_set_t cpus;
    SHOW("affinity", sched_getaffinity(0, sizeof cpus, &cpus));
    printf("cpus >= 1: %d\n", CPU_COUNT(&cpus) >= 1);
    printf("umask: %o\n", umask(077));
    printf("umask back: %o\n", umask(022));

    /* Redirect stdout to /dev/null and back. */
    fflush(stdout);
    int saved = dup(1);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    printf("this goes nowhere\n");
    fflush(stdout);
    dup2(saved, 1);
    printf("/dev/null read: %zd\n", read(null = open("/dev/null", O_RDONLY), buf, 10));
    int zero = open("/dev/zero", O_RDONLY);
    n = read(zero, buf, 8);
    printf("/dev/zero: %zd %d\n", n, buf[0] | buf[7]);
    return 0;
}
