/* SA_RESTART against EINTR on a blocking read (stdin stays open and empty): the first
 * SIGALRM (SA_RESTART) lets the read go on; its handler re-installs itself without
 * SA_RESTART and re-arms, and the second makes the read fail with EINTR.
 * stdin: open */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int alarms;

static void on_alarm(int sig) {
    alarms++;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0;
    sigaction(sig, &sa, NULL);
    alarm(1);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    char buf[16];
    ssize_t n = read(0, buf, sizeof buf);
    printf("read: %zd %s after %d alarms\n", n, strerror(errno), alarms);
    return 0;
}
