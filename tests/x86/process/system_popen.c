/* system() and popen()/pclose(): the C library runs /bin/sh (under vmkit, busybox's sh
 * mounted at /bin). Exit statuses come back through the shell.
 * vmkit-sh: busybox */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int main(void) {
    fflush(stdout);
    int st = system("echo from system; exit 3");
    printf("system: exited %d status %d\n", WIFEXITED(st), WEXITSTATUS(st));
    fflush(stdout);
    st = system("printf 'a\\nb\\n' | while read x; do echo \"line $x\"; done");
    printf("system pipeline: %d\n", WEXITSTATUS(st));
    FILE *f = popen("echo one; echo two; exit 4", "r");
    char line[64];
    while (fgets(line, sizeof line, f)) printf("popen read: %s", line);
    st = pclose(f);
    printf("pclose: %d\n", WEXITSTATUS(st));
    fflush(stdout);
    f = popen("while read x; do echo \"got $x\"; done", "w");
    fputs("alpha\nbeta\n", f);
    st = pclose(f);
    printf("pclose writer: %d\n", WEXITSTATUS(st));
    fflush(stdout);
    st = system("exit 300");
    printf("system exit 300: %d\n", WEXITSTATUS(st));
    return 0;
}
