/* Process groups and sessions as shells use them: a child moves itself (and is moved by
 * its parent) into a new group, a grandchild inherits it, kill(-pgid) ends the whole
 * group; setsid in a child makes a new session; the errors of setpgid, getpgid and kill. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, int st) {
    if (WIFEXITED(st))
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %d\n", what, WTERMSIG(st));
}

int main(void) {
    pid_t me = getpid();
    int r;
    pid_t mygroup = getpgrp();
    printf("getpgid(0) is getpgrp: %d\n", getpgid(0) == mygroup);
    printf("getsid(0) is getsid(me): %d\n", getsid(0) == getsid(me));
    int p[2];
    pipe(p);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        printf("child starts in parent's group: %d\n", getpgrp() == mygroup);
        printf("child in parent's session: %d\n", getsid(0) == getsid(me));
        if (setpgid(0, 0) != 0) perror("setpgid");
        printf("child leads its group: %d\n", getpgrp() == getpid());
        fflush(stdout);
        pid_t g = fork();
        if (g == 0) {
            printf("grandchild in child's group: %d\n", getpgrp() == getppid());
            fflush(stdout);
            write(p[1], "g", 1);
            for (;;) sleep(1);
        }
        write(p[1], "c", 1);
        int st;
        waitpid(g, &st, 0);
        _exit(0);
    }
    close(p[1]);
    char b[2];
    read(p[0], b, 1);
    read(p[0], b + 1, 1);
    /* The parent sets the same group too (shells do both, to win the race). */
    r = setpgid(c, c);
    printf("parent setpgid(child): %d\n", r);
    printf("getpgid(child) is child: %d\n", getpgid(c) == c);
    printf("child's group is not ours: %d\n", getpgid(c) != mygroup);
    errno = 0;
    r = setpgid(c, 0x3ffffff0);
    printf("setpgid to a missing group: %d %s\n", r, strerror(errno));
    errno = 0;
    r = getpgid(0x3ffffff0);
    printf("getpgid of nobody: %d %s\n", r, strerror(errno));
    errno = 0;
    r = kill(0x3ffffff0, SIGTERM);
    printf("kill nobody: %d %s\n", r, strerror(errno));
    printf("kill probe of child: %d\n", kill(c, 0));
    printf("kill(-group, SIGKILL): %d\n", kill(-c, SIGKILL));
    int st;
    waitpid(c, &st, 0);
    show("child", st);

    /* setsid in a child: a new session and group led by it. */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        pid_t s = setsid();
        printf("setsid returns own pid: %d\n", s == getpid());
        printf("new session: %d, new group: %d\n", getsid(0) == getpid(), getpgrp() == getpid());
        errno = 0;
        r = setsid();
    printf("setsid again: %d %s\n", r, strerror(errno));
        errno = 0;
        r = setpgid(0, 0);
    printf("setpgid as session leader: %d %s\n", r, strerror(errno));
        fflush(stdout);
        _exit(6);
    }
    waitpid(c, &st, 0);
    show("session child", st);
    errno = 0;
    r = setpgid(0x3ffffff0, 0);
    printf("setpgid of a non-child: %d %s\n", r, strerror(errno));
    return 0;
}
