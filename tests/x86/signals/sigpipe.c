/* SIGPIPE: with a handler (it runs, then the write fails with EPIPE), ignored (EPIPE
 * alone), then the default action, which ends the process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_pipe(int sig) { printf("handler: sig=%d\n", sig); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int fds[2];
    pipe(fds);
    close(fds[0]);
    signal(SIGPIPE, on_pipe);
    ssize_t n = write(fds[1], "x", 1);
    printf("write with handler: %zd %s\n", n, strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    n = write(fds[1], "x", 1);
    printf("write ignored: %zd %s\n", n, strerror(errno));
    signal(SIGPIPE, SIG_DFL);
    printf("now the default\n");
    write(fds[1], "x", 1);
    printf("not reached\n");
    return 0;
}
