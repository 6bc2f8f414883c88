/* A thread dies holding a robust mutex: the next locker gets EOWNERDEAD, makes the mutex
 * consistent and goes on. A thread waiting for the mutex when its owner dies is woken. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t m;
static pthread_barrier_t barrier;

static void *die_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    pthread_barrier_wait(&barrier);
    for (volatile int i = 0; i < 300000; i++)
        ;
    return NULL; /* ends without unlocking */
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_barrier_wait(&barrier);
    int r = pthread_mutex_lock(&m);
    printf("waiter: lock %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : r == 0 ? "ok" : "other");
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

int main(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_t t, w;
    pthread_create(&t, NULL, die_holding, NULL);
    pthread_create(&w, NULL, waiter, NULL);
    pthread_join(t, NULL);
    pthread_join(w, NULL);
    int r = pthread_mutex_lock(&m);
    printf("main: lock %s\n", r == 0 ? "ok" : "other");
    pthread_mutex_unlock(&m);

    /* Again with nobody waiting: main itself sees the owner's death. */
    pthread_barrier_destroy(&barrier);
    pthread_barrier_init(&barrier, NULL, 1);
    pthread_create(&t, NULL, die_holding, NULL);
    pthread_join(t, NULL);
    r = pthread_mutex_lock(&m);
    printf("main: lock %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : r == 0 ? "ok" : "other");
    pthread_mutex_consistent(&m);
    pthread_mutex_unlock(&m);
    return 0;
}
