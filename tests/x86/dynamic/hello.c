/* A dynamic hello: argv, the environment, stdout and stderr, the exit status.
 * args: alpha two-words -x
 */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++)
        printf("env %s\n", *e);
    fprintf(stderr, "to stderr\n");
    return argc + 4;
}
