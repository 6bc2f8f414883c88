/* System calls Linux does not have (holes in the i386 table) fail with ENOSYS and the
 * program goes on: natively and under vmkit, where every call vmkit lacks does the same. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void) {
    static const long holes[] = {222, 223, 251, 285, 387, 1000};
    for (unsigned i = 0; i < sizeof holes / sizeof holes[0]; i++) {
        errno = 0;
        long r = syscall(holes[i], 1, 2, 3);
        printf("syscall(%ld) = %ld, errno %d (%s)\n", holes[i], r, errno, strerror(errno));
    }
    printf("still running: pid > 0 is %d\n", getpid() > 0);
    return 0;
}
