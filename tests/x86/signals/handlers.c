/* Handlers without SA_SIGINFO: raise and kill to itself, nesting, SA_NODEFER, masks with
 * sigpending, SA_RESETHAND, and the x87 state a handler gets (fresh) and gives back. */
#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int depth, max_depth, count;

static void on_usr1(int sig) {
    printf("usr1 handler: sig=%d rounding_is_nearest=%d\n", sig, fegetround() == FE_TONEAREST);
    volatile double x = 1.0 / 3.0;
    (void)x;
    raise(SIGUSR2);
    printf("usr1 handler: back from raising usr2\n");
}

static void on_usr2(int sig) { printf("usr2 handler: sig=%d\n", sig); }

static void reentrant(int sig) {
    depth++;
    count++;
    if (depth > max_depth)
        max_depth = depth;
    if (count < 3)
        raise(sig);
    depth--;
}

static void install(int sig, void (*h)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    install(SIGUSR1, on_usr1, 0);
    install(SIGUSR2, on_usr2, 0);
    fesetround(FE_DOWNWARD);
    printf("raise: %d\n", raise(SIGUSR1));
    printf("rounding kept downward: %d\n", fegetround() == FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    printf("kill: %d\n", kill(getpid(), SIGUSR2));

    /* Without SA_NODEFER the signal waits until the handler returns; with it, it nests. */
    install(SIGUSR1, reentrant, 0);
    depth = max_depth = count = 0;
    raise(SIGUSR1);
    printf("deferred: count=%d max_depth=%d\n", count, max_depth);
    install(SIGUSR1, reentrant, SA_NODEFER);
    depth = max_depth = count = 0;
    raise(SIGUSR1);
    printf("nodefer: count=%d max_depth=%d\n", count, max_depth);

    /* A blocked signal stays pending until unblocked, then runs before sigprocmask returns. */
    install(SIGUSR2, on_usr2, 0);
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    raise(SIGUSR2);
    sigpending(&pending);
    printf("pending usr2: %d usr1: %d\n", sigismember(&pending, SIGUSR2),
           sigismember(&pending, SIGUSR1));
    printf("unblocking\n");
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("unblocked\n");

    /* SA_RESETHAND: the handler runs once, then the default action is back. */
    install(SIGUSR2, on_usr2, SA_RESETHAND);
    raise(SIGUSR2);
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    printf("reset to default: %d\n", now.sa_handler == SIG_DFL);

    /* Ignored: nothing happens. */
    signal(SIGUSR1, SIG_IGN);
    printf("ignored raise: %d\n", raise(SIGUSR1));
    /* SIGCHLD's default is to ignore. */
    printf("sigchld raise: %d\n", raise(SIGCHLD));
    return 0;
}
