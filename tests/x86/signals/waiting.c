/* sigsuspend with a temporary mask, sigtimedwait taking a pending signal without its
 * handler, and timing out. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void on_signal(int sig) { printf("handler %d\n", sig); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGALRM, on_signal);
    signal(SIGUSR1, on_signal);
    sigset_t block, empty, now;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &block, NULL);

    struct itimerval tv = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &tv, NULL);
    int r = sigsuspend(&empty);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("sigsuspend: %d %s; alarm blocked again=%d\n", r, strerror(errno),
           sigismember(&now, SIGALRM));

    raise(SIGUSR1);
    siginfo_t si;
    int sig = sigwaitinfo(&block, &si);
    printf("sigwaitinfo: %d code=%d\n", sig, si.si_code);
    struct timespec ts = {0, 100000000};
    r = sigtimedwait(&block, &si, &ts);
    printf("sigtimedwait: %d %s\n", r, strerror(errno));
    raise(SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("done\n");
    return 0;
}
