/* pthread_once runs its routine once among racing threads; each thread's __thread
 * variables are its own (and the main thread's stay as they were). pthread_key values
 * are per thread too, and their destructors run at thread exit. */
#include <pthread.h>
#include <stdio.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_calls;
static __thread int tls_value = 7;
static __thread char tls_name[16] = "main";
static pthread_key_t key;
static int destructed;

static void init(void) { init_calls++; }
static void destroy(void *p) { destructed += (int)(long)p; }

static void *work(void *arg) {
    int id = (int)(long)arg;
    pthread_once(&once, init);
    tls_value += id * 10;
    snprintf(tls_name, sizeof tls_name, "thread%d", id);
    pthread_setspecific(key, (void *)(long)id);
    for (volatile int i = 0; i < 200000; i++)
        ;
    return (void *)(long)(tls_value * 100 + (tls_name[6] - '0') * 10 +
                          (int)(long)pthread_getspecific(key));
}

int main(void) {
    pthread_key_create(&key, destroy);
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, work, (void *)(i + 1));
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        printf("thread %d: %ld\n", i + 1, (long)r);
    }
    pthread_once(&once, init);
    printf("init ran %d time(s); main tls %d %s; destructors %d\n", init_calls, tls_value,
           tls_name, destructed);
    return 0;
}
