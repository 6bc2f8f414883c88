/* A signal with no handler ends the process (128 + signal); SA_RESETHAND's second one too.
 * stderr shows the ordering against vmkit's report. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void once(int sig) { printf("handled %d once\n", sig); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = once;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    fprintf(stderr, "about to die\n");
    raise(SIGUSR1);
    printf("not reached\n");
    return 0;
}
