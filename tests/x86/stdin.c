/* Reads stdin: counts lines, words and bytes, echoes the longest line. */
#include <stdio.h>
#include <string.h>
int main(void) {
    char line[1024], longest[1024] = "";
    long lines = 0, words = 0, bytes = 0;
    while (fgets(line, sizeof line, stdin)) {
        lines++;
        bytes += strlen(line);
        char *p = line;
        int in = 0;
        for (; *p; p++) {
            if (*p == ' ' || *p == '\n' || *p == '\t') in = 0;
            else if (!in) { in = 1; words++; }
        }
        if (strlen(line) > strlen(longest)) strcpy(longest, line);
    }
    printf("%ld %ld %ld\nlongest: %s", lines, words, bytes, longest);
    return 0;
}
