/* vmkit-only: a guest deadlock (natively it hangs): two threads each hold one mutex and
 * want the other's. vmkit ends the process with status 125 and says so. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t m1 = PTHREAD_MUTEX_INITIALIZER, m2 = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t barrier;

static void *other(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m2);
    pthread_barrier_wait(&barrier);
    pthread_mutex_lock(&m1);
    return NULL;
}

int main(void) {
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, other, NULL);
    pthread_mutex_lock(&m1);
    pthread_barrier_wait(&barrier);
    printf("both hold one\n");
    fflush(stdout);
    pthread_mutex_lock(&m2);
    printf("never printed\n");
    return 0;
}
