/* alarm + pause, setitimer ticks, getitimer, and sleeps a signal cuts short. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int ticks;

static void on_alarm(int sig) {
    ticks++;
    (void)sig;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    printf("alarm: %u\n", alarm(1));
    int r = pause();
    printf("pause: %d errno=%s ticks=%d\n", r, strerror(errno), ticks);

    struct itimerval tv = {{0, 50000}, {0, 50000}};
    printf("setitimer: %d\n", setitimer(ITIMER_REAL, &tv, NULL));
    while (ticks < 4)
        pause();
    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    printf("ticks=%d interval=%ld.%06ld\n", ticks, (long)now.it_interval.tv_sec,
           (long)now.it_interval.tv_usec);
    struct itimerval off = {{0, 0}, {0, 0}}, old;
    setitimer(ITIMER_REAL, &off, &old);
    getitimer(ITIMER_REAL, &now);
    printf("disarmed: %ld.%06ld old interval %ld.%06ld\n", (long)now.it_value.tv_sec,
           (long)now.it_value.tv_usec, (long)old.it_interval.tv_sec,
           (long)old.it_interval.tv_usec);
    struct itimerval bad = {{0, 1000000}, {0, 0}};
    r = setitimer(ITIMER_REAL, &bad, NULL);
    printf("bad usec: %d %s\n", r, strerror(errno));

    alarm(5);
    printf("alarm left: %u\n", alarm(1) > 3);
    unsigned left = sleep(10);
    printf("sleep cut short: %d\n", left > 0 && left <= 10);

    alarm(1);
    struct timespec req = {10, 0}, rem = {0, 0};
    r = nanosleep(&req, &rem);
    printf("nanosleep: %d %s rem_ok=%d\n", r, strerror(errno), rem.tv_sec > 0 && rem.tv_sec < 10);
    printf("ticks=%d\n", ticks);
    return 0;
}
