/* A thread that sleeps lets the others run: main sleeps while a worker does its work and
 * signals, so main finds it done when it wakes. gettid differs per thread; tgkill with
 * signal 0 probes a live thread. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile int done, stop;
static pid_t worker_tid;

static void *work(void *arg) {
    (void)arg;
    worker_tid = syscall(SYS_gettid);
    unsigned long x = 0;
    for (int i = 0; i < 20000; i++)
        x += i ^ (x >> 3);
    done = x != 0;
    while (!stop)
        sched_yield();
    return NULL;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    printf("after the sleep the worker is %s\n", done ? "done" : "not done");
    printf("main tid is pid: %d; worker tid differs: %d\n", syscall(SYS_gettid) == getpid(),
           worker_tid != getpid() && worker_tid != 0);
    printf("tgkill 0 to worker: %ld\n", syscall(SYS_tgkill, getpid(), worker_tid, 0));
    stop = 1;
    pthread_join(t, NULL);
    /* Not probed again after the join: natively the kernel may still hold the exited
       thread for a moment after it cleared its tid (tgkill then gives 0, or ESRCH). */
    return 0;
}
