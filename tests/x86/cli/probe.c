/* A small file tool for the CLI's sandbox tests (crates/vmkit-cli/tests/cli.rs):
 *   probe cat FILE | write FILE TEXT | ls DIR | mkdir DIR | rm FILE | readlink PATH
 *         | chmod PATH OCTAL | touch PATH | trunc PATH | stat PATH | link OLD NEW
 *         | symlink TARGET NEW | rename OLD NEW
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
    if (!strcmp(op, "chmod") && argc > 3)
        return chmod(path, strtol(argv[3], 0, 8)) ? fail(op, path) : 0;
    if (!strcmp(op, "touch")) return utimensat(AT_FDCWD, path, 0, 0) ? fail(op, path) : 0;
    if (!strcmp(op, "trunc")) return truncate(path, 0) ? fail(op, path) : 0;
    if (!strcmp(op, "stat")) {
        struct stat st;
        if (stat(path, &st)) return fail(op, path);
        printf("%s\n", S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file"
                       : S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket"
                       : S_ISCHR(st.st_mode) ? "chr" : "other");
        return 0;
    }
    if (!strcmp(op, "link") && argc > 3) return link(path, argv[3]) ? fail(op, path) : 0;
    if (!strcmp(op, "symlink") && argc > 3) return symlink(path, argv[3]) ? fail(op, argv[3]) : 0;
    if (!strcmp(op, "rename") && argc > 3) return rename(path, argv[3]) ? fail(op, path) : 0;
    return 2;
}
