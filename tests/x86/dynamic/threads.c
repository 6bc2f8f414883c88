/* Threads in a dynamic program: pthread_create/join and a mutex from the shared libc
 * (TLS set up by the dynamic loader, clone of a thread, futex).
 */
#include <pthread.h>
#include <stdio.h>

static int counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int mine;

static void *work(void *arg) {
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        mine++;
    }
    return (void *)(long)mine;
}

int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], 0, work, 0);
    long total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (long)r;
    }
    printf("counter %d, per-thread total %ld, main's own %d\n", counter, total, mine);
    return 0;
}
