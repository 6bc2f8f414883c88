/* A thread calls exit(): the whole process ends with its status while main waits to join
 * it (forever: the join never returns). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *work(void *arg) {
    (void)arg;
    printf("thread exits the process\n");
    fflush(stdout);
    exit(42);
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
    printf("never printed\n");
    return 0;
}
