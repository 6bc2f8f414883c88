/* Four threads add to one counter under a mutex, a million times between them; another
 * counter is kept with atomic adds. Both totals must be exact. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static long atomic_counter;

static void *work(void *arg) {
    (void)arg;
    for (int i = 0; i < 250000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        __atomic_fetch_add(&atomic_counter, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("counter %ld atomic %ld\n", counter, atomic_counter);
    return counter == 1000000 && atomic_counter == 1000000 ? 0 : 1;
}
