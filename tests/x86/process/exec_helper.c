/* Run by exec.c through execve (not a test on its own): prints its arguments, one
 * environment variable, which descriptors it inherited, what became of two signal
 * dispositions, and exits with the status its first argument names. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("helper: argc=%d", argc);
    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\nhelper: VMKIT_TEST=%s\n", getenv("VMKIT_TEST") ? getenv("VMKIT_TEST") : "(unset)");
    for (int fd = 3; fd < 8; fd++) printf("helper: fd %d %s\n", fd, fcntl(fd, F_GETFD) >= 0 ? "open" : "closed");
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    printf("helper: SIGUSR1 %s\n", sa.sa_handler == SIG_IGN ? "ignored" : sa.sa_handler == SIG_DFL ? "default" : "handler");
    sigaction(SIGUSR2, NULL, &sa);
    printf("helper: SIGUSR2 %s\n", sa.sa_handler == SIG_IGN ? "ignored" : sa.sa_handler == SIG_DFL ? "default" : "handler");
    char buf[64];
    ssize_t n = read(5, buf, sizeof buf);
    if (n > 0) printf("helper: read from the inherited pipe: %.*s\n", (int)n, buf);
    return argc > 1 ? atoi(argv[argc - 1]) : 0;
}
