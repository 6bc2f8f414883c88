/* An unmasked x87 exception reaches a SIGFPE handler with its si_code (division by zero,
 * invalid operation); the handler starts with a fresh FPU and leaves with siglongjmp. */
#define _GNU_SOURCE
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static sigjmp_buf env;
static volatile int code;
static volatile int handler_masked;

static void on_fpe(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    code = si->si_code;
    handler_masked = fegetexcept() == 0;
    siglongjmp(env, sig);
}

static volatile double zero = 0.0, minus_one = -1.0;

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fpe;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGFPE, &sa, NULL);

    feenableexcept(FE_DIVBYZERO);
    int sig = sigsetjmp(env, 1);
    if (sig == 0) {
        volatile double r = 1.0 / zero;
        printf("no trap: %g\n", r);
    } else {
        printf("1/0: sig=%d code=%d fresh fpu in handler=%d\n", sig, code, handler_masked);
    }
    feclearexcept(FE_ALL_EXCEPT);
    feenableexcept(FE_INVALID);
    sig = sigsetjmp(env, 1);
    if (sig == 0) {
        volatile double r = __builtin_sqrt(minus_one);
        printf("no trap: %g\n", r);
    } else {
        printf("sqrt(-1): sig=%d code=%d\n", sig, code);
    }
    printf("after: exceptions enabled=%#x\n", fegetexcept());
    return 0;
}
