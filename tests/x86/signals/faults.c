/* Synchronous signals to handlers, left with siglongjmp: SIGSEGV (NULL, a read-only page),
 * SIGFPE (integer division by zero, INT_MIN / -1), and the mask restored each time. */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf env;
static volatile int last_code;
static void *volatile last_addr;

static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    last_code = si->si_code;
    last_addr = si->si_addr;
    siglongjmp(env, sig);
}

static int volatile zero = 0, minus_one = -1, big = INT_MIN;

static void blocked_now(const char *what) {
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("  after %s: segv blocked=%d fpe blocked=%d\n", what, sigismember(&now, SIGSEGV),
           sigismember(&now, SIGFPE));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    for (int i = 0; i < 3; i++) {
        int sig = sigsetjmp(env, 1);
        if (sig == 0) {
            volatile int *p = NULL;
            printf("%d\n", *p);
        } else {
            printf("null read %d: sig=%d code=%d addr_is_null=%d\n", i, sig, last_code,
                   last_addr == NULL);
        }
    }
    blocked_now("siglongjmp(env, 1)");

    char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int sig = sigsetjmp(env, 1);
    if (sig == 0) {
        page[100] = 1;
    } else {
        printf("read-only write: sig=%d code=%d addr_ok=%d\n", sig, last_code,
               last_addr == page + 100);
    }
    volatile int *wild = (int *)(uintptr_t)0xdead0000;
    sig = sigsetjmp(env, 1);
    if (sig == 0)
        *wild = 1;
    else
        printf("wild write: sig=%d code=%d addr_ok=%d\n", sig, last_code,
               last_addr == (void *)wild);

    sig = sigsetjmp(env, 1);
    if (sig == 0)
        printf("%d\n", 7 / zero);
    else
        printf("divide by zero: sig=%d code=%d addr_set=%d\n", sig, last_code, last_addr != NULL);
    sig = sigsetjmp(env, 1);
    if (sig == 0)
        printf("%d\n", big / minus_one);
    else
        printf("INT_MIN / -1: sig=%d code=%d\n", sig, last_code);
    blocked_now("the last one");

    /* Without the mask restored (sigsetjmp(env, 0)), SIGFPE stays blocked after the jump. */
    sig = sigsetjmp(env, 0);
    if (sig == 0)
        printf("%d\n", 7 / zero);
    else
        printf("again: sig=%d\n", sig);
    blocked_now("siglongjmp(env, 0)");
    return 0;
}
