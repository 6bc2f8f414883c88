/* pthread_create and pthread_join: each thread computes a result from its argument and
 * returns it; the main thread joins them in order and prints what they returned. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

static void *work(void *arg) {
    uintptr_t n = (uintptr_t)arg;
    uintptr_t sum = 0;
    for (uintptr_t i = 1; i <= n * 100000; i++)
        sum += i % 7;
    return (void *)sum;
}

int main(void) {
    pthread_t t[5];
    for (uintptr_t i = 0; i < 5; i++)
        if (pthread_create(&t[i], NULL, work, (void *)(i + 1)) != 0)
            return 1;
    for (int i = 0; i < 5; i++) {
        void *r;
        if (pthread_join(t[i], &r) != 0)
            return 2;
        printf("thread %d returned %lu\n", i, (unsigned long)(uintptr_t)r);
    }
    return 0;
}
