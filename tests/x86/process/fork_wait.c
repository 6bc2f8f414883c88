/* fork + wait: exit statuses (normal, nonzero, killed by a signal), getpid/getppid
 * relations, waitpid WNOHANG, wait4 rusage, waitid (WNOWAIT, P_PGID), waits for a process
 * group, vfork. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, int st) {
    if (WIFEXITED(st))
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %d core=%d\n", what, WTERMSIG(st), WCOREDUMP(st) ? 1 : 0);
    else
        printf("%s: other %#x\n", what, st);
}

int main(void) {
    pid_t me = getpid();
    for (int code = 0; code < 4; code++) {
        fflush(stdout);
        pid_t c = fork();
        if (c < 0) { perror("fork"); return 1; }
        if (c == 0) {
            printf("child %d: parent ok=%d self ok=%d\n", code, getppid() == me, getpid() != me);
            exit(code * 40);
        }
        int st;
        pid_t w = waitpid(c, &st, 0);
        printf("waited right child: %d\n", w == c);
        show("status", st);
    }
    /* A child killed by SIGKILL from its parent. */
    int p[2];
    if (pipe(p) != 0) return 1;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        write(p[1], "x", 1);
        for (;;) sleep(1);
    }
    close(p[1]);
    char b;
    read(p[0], &b, 1);
    int st;
    printf("WNOHANG while running: %d\n", waitpid(c, &st, WNOHANG));
    kill(c, SIGKILL);
    struct rusage ru;
    pid_t w = wait4(c, &st, 0, &ru);
    printf("wait4 right child: %d\n", w == c);
    show("killed", st);
    /* A child ended by SIGTERM, reaped with waitid. */
    c = fork();
    if (c == 0) {
        for (;;) sleep(1);
    }
    kill(c, SIGTERM);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, c, &si, WEXITED) != 0) { perror("waitid"); return 1; }
    printf("waitid: signo=%d code=%d status=%d pid ok=%d\n", si.si_signo, si.si_code, si.si_status, si.si_pid == c);
    /* Nothing left. */
    errno = 0;
    printf("wait with no children: %d\n", wait(&st));
    perror("wait");
    /* exit status of a child that exits with 255 via _exit, waited with wait(). */
    c = fork();
    if (c == 0) _exit(255);
    w = wait(&st);
    printf("wait got it: %d\n", w == c);
    show("_exit(255)", st);
    /* vfork is a fork: the child only calls _exit. */
    fflush(stdout);
    c = vfork();
    if (c == 0) _exit(14);
    w = waitpid(c, &st, 0);
    printf("vfork child: %d\n", w == c);
    show("vfork", st);
    /* Waiting for a process group: 0 (ours) and -pgid (a child's own group). */
    fflush(stdout);
    c = fork();
    if (c == 0) _exit(11);
    w = waitpid(0, &st, 0);
    printf("waitpid(0) got it: %d\n", w == c);
    show("group wait", st);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        usleep(20000);
        _exit(12);
    }
    setpgid(c, c);
    printf("WNOHANG on the group: %d\n", waitpid(-c, &st, WNOHANG));
    w = waitpid(-c, &st, 0);
    printf("waitpid(-pgid) got it: %d\n", w == c);
    show("other group wait", st);
    /* waitid with WNOWAIT leaves the child to be waited for again. */
    fflush(stdout);
    c = fork();
    if (c == 0) _exit(13);
    memset(&si, 0, sizeof si);
    waitid(P_ALL, 0, &si, WEXITED | WNOWAIT);
    printf("WNOWAIT: code=%d status=%d pid ok=%d\n", si.si_code, si.si_status, si.si_pid == c);
    memset(&si, 0, sizeof si);
    waitid(P_PGID, 0, &si, WEXITED);
    printf("P_PGID: code=%d status=%d pid ok=%d\n", si.si_code, si.si_status, si.si_pid == c);
    memset(&si, 0xff, sizeof si);
    errno = 0;
    int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    printf("waitid with no children: %d %s\n", r, strerror(errno));
    return 3;
}
