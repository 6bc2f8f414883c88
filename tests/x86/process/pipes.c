/* Pipes across fork: a child writes, the parent reads to end of file; a large transfer
 * that fills the pipe (the writer blocks until the reader drains it); the child's stdout
 * redirected into a pipe with dup2; both processes writing to the same stdout in turn;
 * a write to a pipe whose reader is gone fails with EPIPE (SIGPIPE ignored). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

int main(void) {
    int p[2];
    if (pipe(p) != 0) return 1;
    printf("parent before fork\n");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        const char *msg = "hello through the pipe\n";
        write(p[1], msg, strlen(msg));
        printf("child writes to the same stdout\n");
        exit(0);
    }
    close(p[1]);
    char buf[256];
    ssize_t n, total = 0;
    while ((n = read(p[0], buf + total, sizeof buf - 1 - total)) > 0) total += n;
    buf[total] = 0;
    printf("parent read %zd bytes: %s", total, buf);
    close(p[0]);
    int st;
    waitpid(c, &st, 0);
    printf("child status %d\n", WEXITSTATUS(st));

    /* 1 MiB through a pipe: the writer blocks when the pipe is full. */
    if (pipe(p) != 0) return 1;
    fflush(stdout);
    c = fork();
    if (c == 0) {
        close(p[0]);
        static char block[4096];
        for (int i = 0; i < 256; i++) {
            memset(block, 'a' + i % 26, sizeof block);
            for (size_t off = 0; off < sizeof block;) {
                ssize_t w = write(p[1], block + off, sizeof block - off);
                if (w <= 0) _exit(9);
                off += w;
            }
        }
        _exit(0);
    }
    close(p[1]);
    unsigned long sum = 0, count = 0;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) sum += (unsigned char)buf[i];
        count += n;
    }
    waitpid(c, &st, 0);
    printf("big transfer: %lu bytes, sum %lu, writer status %d\n", count, sum, WEXITSTATUS(st));

    /* dup2: the child's stdout goes into the pipe. */
    if (pipe(p) != 0) return 1;
    fflush(stdout);
    c = fork();
    if (c == 0) {
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        printf("redirected line one\nredirected line two\n");
        fflush(stdout);
        _exit(4);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    char line[128];
    while (fgets(line, sizeof line, in)) printf("got: %s", line);
    fclose(in);
    waitpid(c, &st, 0);
    printf("redirected child status %d\n", WEXITSTATUS(st));

    /* No reader left: EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (pipe(p) != 0) return 1;
    close(p[0]);
    errno = 0;
    n = write(p[1], "x", 1);
    printf("write without reader: %zd %s\n", n, strerror(errno));
    /* Nonblocking empty pipe: EAGAIN. */
    if (pipe2(p, O_NONBLOCK) != 0) return 1;
    errno = 0;
    n = read(p[0], buf, 1);
    printf("nonblocking read: %zd %s\n", n, strerror(errno));
    return 0;
}
