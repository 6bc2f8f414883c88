/* A local AF_UNIX socket pair: both directions, send/recv, shutdown, a closed peer,
 * non-blocking reads, fstat, getsockopt. Compared with the same program run natively. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

int main(void) {
    int sv[2];
    char buf[64];
    signal(SIGPIPE, SIG_IGN);
    show("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    show("write 0->1", write(sv[0], "hello", 5));
    long n = read(sv[1], buf, sizeof buf);
    printf("read 1: %ld %.*s\n", n, (int)n, buf);
    show("send 1->0", send(sv[1], "world!", 6, 0));
    n = recv(sv[0], buf, sizeof buf, 0);
    printf("recv 0: %ld %.*s\n", n, (int)n, buf);
    show("sendto 0->1", sendto(sv[0], "abc", 3, 0, NULL, 0));
    n = recvfrom(sv[1], buf, 2, MSG_PEEK, NULL, NULL);
    printf("peek 1: %ld %.*s\n", n, (int)n, buf);
    n = read(sv[1], buf, sizeof buf);
    printf("read 1: %ld %.*s\n", n, (int)n, buf);

    struct pollfd pfd = {sv[1], POLLIN | POLLOUT, 0};
    show("poll empty", poll(&pfd, 1, 0));
    printf("revents %#x\n", pfd.revents);
    show("write 0->1", write(sv[0], "x", 1));
    show("poll ready", poll(&pfd, 1, 0));
    printf("revents %#x\n", pfd.revents);
    show("read 1", read(sv[1], buf, sizeof buf));
    pfd.events = POLLIN;
    show("poll drained", poll(&pfd, 1, 0));
    printf("revents %#x\n", pfd.revents);

    struct stat st;
    show("fstat", fstat(sv[0], &st));
    printf("S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
    show("lseek", lseek(sv[0], 0, SEEK_SET));
    printf("F_GETFL rdwr %d\n", (fcntl(sv[0], F_GETFL) & O_ACCMODE) == O_RDWR);
    int type = 0;
    socklen_t len = sizeof type;
    show("getsockopt", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len));
    printf("SO_TYPE %d len %u\n", type, (unsigned)len);

    show("shutdown 0 write", shutdown(sv[0], SHUT_WR));
    show("read 1 after shutdown", read(sv[1], buf, sizeof buf));
    pfd.events = POLLIN;
    show("poll after shutdown", poll(&pfd, 1, 0));
    printf("revents %#x\n", pfd.revents);
    show("close 1", close(sv[1]));
    show("write to closed peer", write(sv[0], "x", 1));
    show("close 0", close(sv[0]));
    show("send on a file", send(1, "x", 1, 0));

    int nb[2];
    show("socketpair nonblock", socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, nb));
    show("read empty", read(nb[0], buf, sizeof buf));
    int blocking[2];
    show("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, blocking));
    show("F_SETFL O_NONBLOCK", fcntl(blocking[0], F_SETFL, O_NONBLOCK));
    show("read empty after F_SETFL", read(blocking[0], buf, sizeof buf));
    show("dgram 1", write(nb[1], "one", 3));
    show("dgram 2", write(nb[1], "two!", 4));
    show("read dgram", read(nb[0], buf, sizeof buf));
    show("read dgram", read(nb[0], buf, sizeof buf));
    printf("FD_CLOEXEC %d\n", fcntl(nb[0], F_GETFD) & FD_CLOEXEC);
    show("dup", dup(nb[1]) > 0);
    return 0;
}
