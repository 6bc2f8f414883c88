/* The docs' `./grep-i386 WORD FILE`: prints the lines of FILE that contain WORD; exits 1
 * when none does, 2 when FILE cannot be read. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: grep WORD FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, argv[1])) {
            fputs(line, stdout);
            found = 1;
        }
    return found ? 0 : 1;
}
