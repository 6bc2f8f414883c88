/* Escape attempts from a root (run by tests/x86_debian.rs inside a small root, natively
 * under chroot and under vmkit run --root; both must print the same). Each attempt tries to
 * read the file named by argv[1], a host path outside the root, through a directory
 * descriptor, `..`, chdir, fchdir and /proc/self/root; and lists what `/..` holds.
 * (Built static: the root has no C library.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void try_open(const char *how, int dirfd, const char *path) {
    int fd = openat(dirfd, path, O_RDONLY);
    if (fd < 0) {
        printf("%s: %s\n", how, strerror(errno));
        return;
    }
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    printf("%s: read %zd bytes: %s\n", how, n, strstr(buf, "SECRET") ? "THE SECRET" : "root's");
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *secret = argv[1];
    char up[4096];
    int root = open("/", O_RDONLY | O_DIRECTORY);
    snprintf(up, sizeof up, "../../../../../../../..%s", secret);
    try_open("dirfd of / and ..", root, up);
    try_open("absolute", AT_FDCWD, secret);
    snprintf(up, sizeof up, "/proc/self/root%s", secret);
    try_open("/proc/self/root", AT_FDCWD, up);
    int etc = openat(root, "etc", O_RDONLY | O_DIRECTORY);
    int parent = openat(etc, "../../..", O_RDONLY | O_DIRECTORY);
    printf("openat(etc, \"../../..\") %s\n", parent >= 0 ? "opened" : strerror(errno));
    if (parent >= 0)
        try_open("from it", parent, secret + 1);
    chdir("/etc");
    for (int i = 0; i < 12; i++)
        chdir("..");
    char cwd[256];
    printf("cwd after chdir(..) x12: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerror(errno));
    try_open("relative from there", AT_FDCWD, secret + 1);
    fchdir(etc);
    chdir("../..");
    printf("cwd after fchdir+chdir: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerror(errno));
    DIR *d = opendir("/..");
    int entries = 0, has_bin = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        entries++;
        has_bin |= strcmp(e->d_name, "bin") == 0;
    }
    printf("/.. lists the root: %s\n", has_bin ? "yes" : "no");
    return 0;
}
