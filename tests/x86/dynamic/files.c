/* stdio on files through the shared libc: read a file line by line, stat it, write stdout
 * with a full buffer, qsort and bsearch (callbacks from libc into the program).
 * args: data.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    FILE *f = fopen(argc > 1 ? argv[1] : "data.txt", "r");
    if (!f) {
        perror("fopen");
        return 2;
    }
    char *lines[64];
    int n = 0;
    char buf[256];
    while (n < 64 && fgets(buf, sizeof buf, f))
        lines[n++] = strdup(buf);
    fclose(f);
    qsort(lines, n, sizeof lines[0], cmp);
    for (int i = 0; i < n; i++)
        printf("%d: %s", i, lines[i]);
    struct stat st;
    if (stat(argv[1], &st) == 0)
        printf("size %lld regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    FILE *g = fopen("missing.txt", "r");
    if (!g)
        perror("missing");
    char *key = lines[n > 1 ? 1 : 0];
    char **hit = bsearch(&key, lines, n, sizeof lines[0], cmp);
    printf("bsearch %s\n", hit ? "found" : "lost");
    return 0;
}
