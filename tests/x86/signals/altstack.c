/* sigaltstack: an SA_ONSTACK handler runs on the alternate stack and sees SS_ONSTACK;
 * one without SA_ONSTACK does not; the stack can not be changed while on it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *alt;
static const size_t alt_size = 64 * 1024;

static void on_signal(int sig) {
    char here;
    stack_t now;
    sigaltstack(NULL, &now);
    int on_alt = &here >= alt && &here < alt + alt_size;
    printf("sig %d: on alternate stack=%d ss_flags=%d\n", sig, on_alt, now.ss_flags);
    stack_t other = {.ss_sp = alt, .ss_size = alt_size, .ss_flags = 0};
    if (on_alt)
        printf("  changing it while on it: %d\n", sigaltstack(&other, NULL));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alt = malloc(alt_size);
    stack_t ss = {.ss_sp = alt, .ss_size = alt_size, .ss_flags = 0};
    stack_t old;
    printf("sigaltstack: %d\n", sigaltstack(&ss, &old));
    printf("old: flags=%d size=%zu\n", old.ss_flags, old.ss_size);
    stack_t small = {.ss_sp = alt, .ss_size = 100, .ss_flags = 0};
    printf("too small: %d\n", sigaltstack(&small, NULL));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR1);
    raise(SIGUSR2);
    stack_t after;
    sigaltstack(NULL, &after);
    printf("after: flags=%d size=%zu same=%d\n", after.ss_flags, after.ss_size,
           after.ss_sp == alt);
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    raise(SIGUSR1);
    return 0;
}
