#define _GNU_SOURCE
/* SA_SIGINFO: what siginfo_t and the ucontext say, for raise (tgkill) and kill. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static void on_signal(int sig, siginfo_t *si, void *p) {
    ucontext_t *uc = p;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("sig=%d si_signo=%d si_code=%d si_errno=%d pid_is_mine=%d uid_is_mine=%d\n", sig,
           si->si_signo, si->si_code, si->si_errno, si->si_pid == getpid(),
           si->si_uid == getuid());
    printf("  blocked in handler: self=%d usr2(sa_mask)=%d; saved mask has self=%d\n",
           sigismember(&now, sig), sigismember(&now, SIGUSR2),
           sigismember(&uc->uc_sigmask, sig));
    printf("  eip saved=%d esp saved=%d fpregs=%d uc_link=%p\n",
           uc->uc_mcontext.gregs[REG_EIP] != 0, uc->uc_mcontext.gregs[REG_ESP] != 0,
           uc->uc_mcontext.fpregs != NULL, (void *)uc->uc_link);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGTERM);
    struct sigaction back;
    sigaction(SIGUSR1, NULL, &back);
    printf("flags have SA_SIGINFO=%d; usr2 in sa_mask=%d\n", (back.sa_flags & SA_SIGINFO) != 0,
           sigismember(&back.sa_mask, SIGUSR2));
    printf("kill(a pid that is not here): %d\n", kill(999999, 0));
    return 0;
}
