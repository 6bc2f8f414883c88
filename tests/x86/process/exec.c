/* execve: of another program (arguments, environment, close-on-exec descriptors kept or
 * closed, caught signals reset and ignored ones kept), of a `#!` script whose
 * interpreter is that program, and the errors: a missing file, a file that is not
 * executable, a file that is not a program. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void handler(int sig) { (void)sig; }

static void run(char *const argv[]) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char *env[] = {"VMKIT_TEST=from-exec", "PATH=/bin", NULL};
        execve(argv[0], argv, env);
        printf("execve %s failed: %s\n", argv[0], strerror(errno));
        exit(99);
    }
    int st;
    waitpid(c, &st, 0);
    printf("%s: status %d\n", argv[0], WEXITSTATUS(st));
}

int main(void) {
    int keep = open("exec.c", O_RDONLY);              /* 3 */
    int gone = open("exec.c", O_RDONLY | O_CLOEXEC);  /* 4 */
    int p[2];
    pipe(p);                                           /* 5, 6 */
    write(p[1], "piped", 5);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    fcntl(p[0], F_SETFL, O_NONBLOCK); /* only the first helper finds bytes */
    printf("fds %d %d %d %d\n", keep, gone, p[0], p[1]);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, handler);
    char *a1[] = {"./exec_helper", "one", "two words", "7", NULL};
    run(a1);
    /* A script whose interpreter is the helper (with an argument on the #! line). */
    char *a2[] = {"./script.sh", "arg", "5", NULL};
    run(a2);
    char *a3[] = {"./missing", NULL};
    run(a3);
    char *a4[] = {"./data.txt", NULL};
    run(a4);
    char *a5[] = {"./notprog", NULL};
    run(a5);
    char *a6[] = {"./", NULL};
    run(a6);
    /* execve in the process itself, with argv from the caller. */
    fflush(stdout);
    char *a7[] = {"exec_helper", "last", "3", NULL};
    execv("./exec_helper", a7);
    return 1;
}
