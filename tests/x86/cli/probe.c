/* A small file tool for the CLI's sandbox tests (crates/vmkit-cli/tests/cli.rs):
 *   probe cat FILE | write FILE TEXT | ls DIR | mkdir DIR | rm FILE | readlink PATH
 * Prints "probe: OP PATH: ERRNO" and exits 1 when a call fails. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *op, const char *path) {
    printf("probe: %s %s: %s\n", op, path, strerrorname_np(errno));
    return 1;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *op = argv[1], *path = argv[2];
    if (!strcmp(op, "cat")) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) return fail(op, path);
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
        return n < 0 ? fail(op, path) : 0;
    }
    if (!strcmp(op, "write") && argc > 3) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return fail(op, path);
        return write(fd, argv[3], strlen(argv[3])) < 0 ? fail(op, path) : 0;
    }
    if (!strcmp(op, "ls")) {
        DIR *d = opendir(path);
        if (!d) return fail(op, path);
        char *names[512];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 512) names[n++] = strdup(e->d_name);
        qsort(names, n, sizeof *names, cmp);
        for (int i = 0; i < n; i++) printf("%s\n", names[i]);
        return 0;
    }
    if (!strcmp(op, "mkdir")) return mkdir(path, 0755) ? fail(op, path) : 0;
    if (!strcmp(op, "rm")) return unlink(path) ? fail(op, path) : 0;
    if (!strcmp(op, "readlink")) {
        char buf[4096];
        ssize_t n = readlink(path, buf, sizeof buf);
        if (n < 0) return fail(op, path);
        printf("%.*s\n", (int)n, buf);
        return 0;
    }
    return 2;
}
