/* sigqueue's value and SI_QUEUE reach an SA_SIGINFO handler; the old signal() system call
 * installs a one-shot handler; sgetmask/ssetmask see the first 32 signals of the mask. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void on_queue(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    printf("sig=%d code=%d value=%d pid_is_mine=%d\n", sig, si->si_code, si->si_value.sival_int,
           si->si_pid == getpid());
}

static void once(int sig) { printf("one-shot handler %d\n", sig); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_queue;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGRTMIN + 1, &sa, NULL);
    union sigval v = {.sival_int = 42};
    printf("sigqueue: %d\n", sigqueue(getpid(), SIGUSR1, v));
    v.sival_int = 7;
    printf("sigqueue rt: %d\n", sigqueue(getpid(), SIGRTMIN + 1, v));

    long old = syscall(SYS_signal, SIGUSR2, once);
    printf("signal(): old=%ld\n", old);
    raise(SIGUSR2);
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    printf("back to default: %d\n", now.sa_handler == SIG_DFL);

    long prev = syscall(SYS_ssetmask, 1L << (SIGUSR1 - 1));
    long cur = syscall(SYS_sgetmask);
    sigset_t set;
    sigprocmask(SIG_BLOCK, NULL, &set);
    printf("ssetmask old=%ld now=%ld usr1 blocked=%d\n", prev, cur, sigismember(&set, SIGUSR1));
    return 0;
}
