/* main calls pthread_exit: the other threads run on, and the process ends (status 0)
 * when the last of them returns. A detached thread runs to its end too. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int detached_done;

static void *detached(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    detached_done = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *last(void *arg) {
    pthread_t main_thread = *(pthread_t *)arg;
    void *r;
    /* Joining the exited main thread works, and gives what it passed. */
    pthread_join(main_thread, &r);
    pthread_mutex_lock(&lock);
    while (!detached_done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    printf("main said %ld; detached thread done; last thread returns\n", (long)r);
    return NULL;
}

int main(void) {
    static pthread_t self;
    self = pthread_self();
    pthread_t t, d;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, NULL, last, &self);
    pthread_create(&d, &attr, detached, NULL);
    printf("main exits its thread\n");
    fflush(stdout);
    pthread_exit((void *)5);
}
