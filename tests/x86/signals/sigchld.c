/* SIGCHLD between guest processes: a handler counts children that ended (with SA_SIGINFO:
   si_code CLD_EXITED / CLD_KILLED and the status), sigsuspend waits for them without a
   race, SA_RESTART lets a blocking read of a pipe go on across the signal, and SIGCHLD
   set to SIG_IGN reaps children itself (wait then fails with ECHILD). Also kill between
   processes: the parent sends SIGUSR1 to a child that waits for it in sigsuspend. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t ended, exited, killed, last_status;

static void on_chld(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    ended++;
    if (info->si_code == CLD_EXITED)
        exited++;
    if (info->si_code == CLD_KILLED)
        killed++;
    last_status = info->si_status;
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) { got_usr1 = sig; }

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);

    /* Block SIGCHLD, start a child, wait for its SIGCHLD with sigsuspend; then the next one
       (one at a time: two SIGCHLDs pending at once are one, natively too). */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t a = fork();
    if (a == 0)
        _exit(7);
    while (ended < 1)
        sigsuspend(&old);
    pid_t b = fork();
    if (b == 0) {
        pause();
        _exit(0);
    }
    kill(b, SIGTERM);
    while (ended < 2)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("ended %d: exited %d, killed %d\n", (int)ended, (int)exited, (int)killed);
    int status;
    waitpid(a, &status, 0);
    printf("a: exit %d\n", WEXITSTATUS(status));
    waitpid(b, &status, 0);
    printf("b: signalled %d by %d\n", WIFSIGNALED(status), WTERMSIG(status));

    /* SA_RESTART: a read of a pipe goes on across the child's SIGCHLD. */
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t c = fork();
    if (c == 0) {
        close(fds[0]);
        _exit(0); /* SIGCHLD to the parent, which is blocked in read */
    }
    pid_t d = fork();
    if (d == 0) {
        close(fds[0]);
        usleep(200000);
        if (write(fds[1], "late", 4) != 4)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    char buf[8] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    printf("read across SIGCHLD: %zd \"%s\" (errno %s)\n", n, buf, n < 0 ? strerror(errno) : "-");
    waitpid(c, NULL, 0);
    waitpid(d, NULL, 0);

    /* kill to a child that waits in sigsuspend for SIGUSR1. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    signal(SIGUSR1, on_usr1);
    pid_t e = fork();
    if (e == 0) {
        sigset_t none;
        sigemptyset(&none);
        while (!got_usr1)
            sigsuspend(&none);
        _exit(40 + got_usr1);
    }
    kill(e, SIGUSR1);
    waitpid(e, &status, 0);
    printf("child got SIGUSR1: exit %d\n", WEXITSTATUS(status));

    /* SIGCHLD ignored: children are reaped by the kernel, wait gives ECHILD. */
    signal(SIGCHLD, SIG_IGN);
    pid_t f = fork();
    if (f == 0)
        _exit(3);
    errno = 0;
    pid_t w = wait(&status);
    printf("with SIGCHLD ignored, wait: %d (%s)\n", (int)w, strerror(errno));
    return 0;
}
