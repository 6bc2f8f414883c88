/* Lists the directory named on the command line (sorted), then creates, writes, renames
 * and removes files and directories below the writable directory.
 * args: dir out
 * vmkit-flags: --allow-write out
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Prints a call's result, and errno when it failed (read after the call). */
#define SHOW(label, expr)                                                               \
    do {                                                                                \
        long r_ = (long)(expr);                                                         \
        const char *e_ = r_ < 0 ? strerrorname_np(errno) : "";                          \
        printf("%s: %ld%s%s\n", label, r_, r_ < 0 ? " errno=" : "", e_);                \
    } while (0)

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("opendir %s: %s\n", path, strerrorname_np(errno)); return; }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        char *s = malloc(strlen(e->d_name) + 3);
        sprintf(s, "%s%s", e->d_name, e->d_type == DT_DIR ? "/" : e->d_type == DT_LNK ? "@" : "");
        names[n++] = s;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("%s:", path);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *dir = argv[1], *out = argv[2];
    list(dir);
    if (chdir(out)) { perror("chdir"); return 1; }

    umask(022);
    int fd = open("new.txt", O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) { perror("create"); return 1; }
    printf("write: %zd\n", write(fd, "first line\n", 11));
    close(fd);
    SHOW("O_EXCL again", open("new.txt", O_WRONLY | O_CREAT | O_EXCL, 0666));
    fd = open("new.txt", O_WRONLY | O_APPEND);
    write(fd, "appended\n", 9);
    printf("fsync: %d fdatasync: %d\n", fsync(fd), fdatasync(fd));
    close(fd);
    struct stat st;
    stat("new.txt", &st);
    printf("size %lld mode %o\n", (long long)st.st_size, st.st_mode & 0777);
    chmod("new.txt", 0600);
    stat("new.txt", &st);
    printf("after chmod: %o\n", st.st_mode & 0777);

    fd = open("new.txt", O_RDWR);
    printf("ftruncate: %d\n", ftruncate(fd, 5));
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    printf("after truncate: %zd '%.*s'\n", n, (int)n, buf);
    printf("pwrite: %zd\n", pwrite(fd, "XY", 2, 1));
    n = pread(fd, buf, sizeof buf, 0);
    printf("after pwrite: '%.*s'\n", (int)n, buf);
    close(fd);

    struct timespec times[2] = {{1000000000, 0}, {1234567890, 500}};
    printf("utimensat: %d\n", utimensat(AT_FDCWD, "new.txt", times, 0));
    stat("new.txt", &st);
    printf("mtime %lld atime %lld\n", (long long)st.st_mtime, (long long)st.st_atime);

    printf("mkdir: %d\n", mkdir("sub", 0755));
    SHOW("mkdir again", mkdir("sub", 0755));
    printf("rename: %d\n", rename("new.txt", "sub/moved.txt"));
    SHOW("open old name", open("new.txt", O_RDONLY));
    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    printf("openat via dirfd: %d\n", openat(dfd, "moved.txt", O_RDONLY) >= 0);
    printf("fstatat via dirfd: %d\n", fstatat(dfd, "moved.txt", &st, 0));
    SHOW("rmdir non-empty", rmdir("sub"));
    list(".");
    list("sub");
    printf("unlinkat: %d\n", unlinkat(dfd, "moved.txt", 0));
    SHOW("unlink missing", unlink("sub/moved.txt"));
    printf("rmdir: %d\n", rmdir("sub"));
    printf("creat: %d\n", creat("c.txt", 0644) >= 0);
    SHOW("unlink dir", mkdir("d2", 0700) | unlink("d2"));
    rmdir("d2");
    SHOW("symlink", symlink("c.txt", "sym"));
    n = readlink("sym", buf, sizeof buf);
    printf("readlink: %.*s\n", (int)n, buf);
    SHOW("link", link("c.txt", "hard"));
    stat("c.txt", &st);
    printf("nlink: %ld\n", (long)st.st_nlink);
    SHOW("chown to the same ids", chown("c.txt", -1, -1));
    SHOW("sync-free fsync of a directory", fsync(open(".", O_RDONLY)));
    list(".");
    return 0;
}
