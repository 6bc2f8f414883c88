/* Reads the file named on the command line, stats it, seeks in it; readlink, access,
 * getcwd. Run in a fixture directory (see x86_programs.rs).
 * args: data.txt link dir
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Prints a call's result, and errno when it failed (read after the call). */
#define SHOW(label, expr)                                                               \
    do {                                                                                \
        long r_ = (long)(expr);                                                         \
        const char *e_ = r_ < 0 ? strerrorname_np(errno) : "";                          \
        printf("%s: %ld%s%s\n", label, r_, r_ < 0 ? " errno=" : "", e_);                \
    } while (0)

static void show_stat(const char *what, const struct stat *st) {
    printf("%s: size=%lld mode=%o nlink=%ld reg=%d dir=%d lnk=%d blksize>0=%d\n", what,
           (long long)st->st_size, st->st_mode & 07777, (long)st->st_nlink, S_ISREG(st->st_mode),
           S_ISDIR(st->st_mode), S_ISLNK(st->st_mode), st->st_blksize > 0);
}

/* An address the program does not own (hidden from the compiler's warnings). */
void *volatile bad_pointer = (void *)16;

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *file = argv[1], *link = argv[2], *dir = argv[3];
    int fd = open(file, O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("read %zd bytes, first line: %.*s\n", n, (int)strcspn(buf, "\n"), buf);

    struct stat st, fst, lst;
    if (stat(file, &st) || fstat(fd, &fst)) { perror("stat"); return 1; }
    show_stat("stat", &st);
    show_stat("fstat", &fst);
    printf("same inode and device: %d\n", st.st_ino == fst.st_ino && st.st_dev == fst.st_dev);
    printf("mtime equal: %d\n", st.st_mtime == fst.st_mtime);
    if (lstat(link, &lst)) { perror("lstat"); return 1; }
    show_stat("lstat link", &lst);
    if (stat(link, &lst)) { perror("stat link"); return 1; }
    show_stat("stat link", &lst);
    printf("link leads to the file: %d\n", lst.st_ino == st.st_ino);
    if (stat(dir, &lst)) { perror("stat dir"); return 1; }
    show_stat("stat dir", &lst);
    struct statx sx;
    if (statx(AT_FDCWD, file, 0, STATX_BASIC_STATS, &sx)) { perror("statx"); return 1; }
    printf("statx: size=%llu mode=%o ino equal=%d\n", (unsigned long long)sx.stx_size,
           sx.stx_mode & 07777, sx.stx_ino == st.st_ino);

    /* Seeking: absolute, relative, from the end, 64-bit; pread does not move. */
    printf("lseek set 6 -> %ld\n", (long)lseek(fd, 6, SEEK_SET));
    n = read(fd, buf, 5);
    printf("read after seek: %.*s\n", (int)n, buf);
    printf("lseek cur -3 -> %ld\n", (long)lseek(fd, -3, SEEK_CUR));
    printf("lseek end -4 -> %ld\n", (long)lseek(fd, -4, SEEK_END));
    n = read(fd, buf, 100);
    printf("tail: %.*s", (int)n, buf);
    printf("lseek64 set 2 -> %lld\n", (long long)lseek64(fd, 2, SEEK_SET));
    n = pread(fd, buf, 4, 0);
    printf("pread at 0: %.*s, position still %ld\n", (int)n, buf, (long)lseek(fd, 0, SEEK_CUR));
    SHOW("lseek negative", (long)lseek(fd, -100, SEEK_SET));
    /* A private file mapping is a copy of the file; past its end, zeros. */
    char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) { perror("mmap"); return 1; }
    map[0] = 'F';
    printf("mmap: %.*s / byte past the end: %d\n", (int)strcspn(map, "\n"), map, map[4000]);
    munmap(map, 8192);
    close(fd);
    SHOW("read closed fd", read(fd, buf, 1));

    /* Errors the program can see. */
    SHOW("open missing", open("no-such-file", O_RDONLY));
    SHOW("open file/x", open("data.txt/x", O_RDONLY));
    SHOW("open dir O_WRONLY", open(dir, O_WRONLY));
    SHOW("open O_DIRECTORY file", open(file, O_RDONLY | O_DIRECTORY));
    SHOW("read bad pointer", read(open(file, O_RDONLY), bad_pointer, 10));

    char target[256];
    n = readlink(link, target, sizeof target);
    printf("readlink: %.*s\n", (int)(n > 0 ? n : 0), target);
    SHOW("readlink of a file", readlink(file, target, sizeof target));
    SHOW("access R_OK", access(file, R_OK));
    SHOW("access missing", access("nope", F_OK));

    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) { perror("getcwd"); return 1; }
    printf("getcwd ends with /fixture: %d\n", strlen(cwd) > 8 && !strcmp(cwd + strlen(cwd) - 8, "/fixture"));
    if (chdir(dir)) { perror("chdir"); return 1; }
    char cwd2[4096];
    getcwd(cwd2, sizeof cwd2);
    printf("after chdir: %s\n", cwd2 + strlen(cwd));
    printf("relative open after chdir: %d\n", open("a", O_RDONLY) >= 0);
    if (chdir("..")) { perror("chdir .."); return 1; }
    getcwd(cwd2, sizeof cwd2);
    printf("back: %d\n", !strcmp(cwd, cwd2));
    return 0;
}
