/* Writes to stdout until a write fails (crates/vmkit-cli/tests/closed_pipe.rs runs it with
 * stdout's reader gone). With an argument, SIGPIPE is ignored first: then the write must
 * fail with EPIPE, reported on stderr, exit status 3. Without one, SIGPIPE's default action
 * ends the program (status 141) at the first write. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        signal(SIGPIPE, SIG_IGN);
    for (;;) {
        if (write(1, "y\n", 2) < 0) {
            fprintf(stderr, "write: %s\n", errno == EPIPE ? "EPIPE" : strerror(errno));
            return 3;
        }
    }
}
