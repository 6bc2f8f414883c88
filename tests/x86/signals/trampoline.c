/* A handler installed without SA_RESTORER (straight through the system call, as the C
 * library never does) returns through the kernel's own sigreturn path: the vDSO natively,
 * vmkit's trampoline page. Both frame kinds. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long long mask;
};

static volatile int seen;

static void plain(int sig) { seen += sig; }
static void with_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    seen += 100 * si->si_signo + sig;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct kernel_sigaction ka = {(void *)plain, 0, NULL, 0};
    printf("rt_sigaction: %ld\n", syscall(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 8));
    ka.handler = (void *)with_info;
    ka.flags = SA_SIGINFO;
    printf("rt_sigaction: %ld\n", syscall(SYS_rt_sigaction, SIGUSR2, &ka, NULL, 8));
    syscall(SYS_kill, getpid(), SIGUSR1);
    printf("back from the plain handler: seen=%d\n", seen);
    syscall(SYS_kill, getpid(), SIGUSR2);
    printf("back from the SA_SIGINFO handler: seen=%d\n", seen);
    struct kernel_sigaction old;
    syscall(SYS_rt_sigaction, SIGUSR2, NULL, &old, 8);
    printf("restorer flag=%d\n", (old.flags & 0x04000000) != 0);
    return 0;
}
