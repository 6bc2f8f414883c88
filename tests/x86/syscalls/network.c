/* The network is closed under vmkit: sockets of every family but AF_UNIX are refused with
 * EACCES, and an AF_UNIX socket reaches nothing outside the guest (nscd's socket: ENOENT,
 * as Linux says when nscd does not run). Natively these calls succeed, so the expected
 * output is written in crates/vmkit-cli/tests/x86_syscalls.rs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerror(errno));
    else
        printf("%s: ok\n", what);
}

int main(void) {
    show("socket(AF_INET, SOCK_STREAM)", socket(AF_INET, SOCK_STREAM, 0));
    show("socket(AF_INET, SOCK_DGRAM)", socket(AF_INET, SOCK_DGRAM, 0));
    show("socket(AF_INET6, SOCK_STREAM)", socket(AF_INET6, SOCK_STREAM, 0));
    show("socket(AF_NETLINK, SOCK_RAW)", socket(AF_NETLINK, SOCK_RAW, 0));
    show("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    show("socket(AF_UNIX)", fd);
    struct sockaddr_un nscd = {AF_UNIX, "/var/run/nscd/socket"};
    show("connect(nscd)", connect(fd, (struct sockaddr *)&nscd, sizeof nscd));
    struct sockaddr_un here = {AF_UNIX, "network.c"};
    show("connect(a visible file)", connect(fd, (struct sockaddr *)&here, sizeof here));
    struct sockaddr_un abstract = {AF_UNIX, "\0vmkit-test"};
    show("connect(abstract)", connect(fd, (struct sockaddr *)&abstract, sizeof abstract));
    show("bind", bind(fd, (struct sockaddr *)&here, sizeof here));
    show("listen", listen(fd, 1));
    struct sockaddr_in in = {AF_INET, htons(80), {htonl(0x7f000001)}};
    show("connect(AF_INET address)", connect(fd, (struct sockaddr *)&in, sizeof in));
    show("connect(not a socket)", connect(1, (struct sockaddr *)&nscd, sizeof nscd));
    show("close", close(fd));
    return 0;
}
