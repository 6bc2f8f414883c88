/* vmkit-only: determinism. Four threads print without any synchronisation, each line as it goes,
 * and spin between lines. The interleaving depends on scheduling, so it is not compared
 * with native: two runs under vmkit must print the same bytes. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static volatile unsigned long shared;

static void *work(void *arg) {
    long id = (long)arg;
    char line[64];
    for (int i = 0; i < 40; i++) {
        for (volatile int k = 0; k < 3000 * (id + 1); k++)
            shared++; /* a racy update: lost increments show in the total */
        int n = snprintf(line, sizeof line, "thread %ld step %d\n", id, i);
        write(1, line, n);
        if (i % 7 == id)
            sched_yield();
    }
    return NULL;
}

int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("shared %lu\n", shared);
    return 0;
}
