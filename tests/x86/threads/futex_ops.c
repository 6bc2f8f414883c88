/* The futex operations called directly: EAGAIN when the word differs, timeouts (relative
 * for FUTEX_WAIT, absolute for FUTEX_WAIT_BITSET), EINVAL for bad arguments, FUTEX_WAKE_OP's
 * arithmetic and comparison, FUTEX_CMP_REQUEUE moving waiters to another futex, and
 * bitsets choosing whom FUTEX_WAKE_BITSET wakes. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long futex(uint32_t *uaddr, int op, uint32_t val, const void *timeout, uint32_t *uaddr2,
                  uint32_t val3) {
    long r = syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
    return r < 0 ? -errno : r;
}

static const char *name(long r) {
    static char buf[16];
    switch (r) {
    case -EAGAIN: return "EAGAIN";
    case -ETIMEDOUT: return "ETIMEDOUT";
    case -EINVAL: return "EINVAL";
    case -ENOSYS: return "ENOSYS";
    default: snprintf(buf, sizeof buf, "%ld", r); return buf;
    }
}

static uint32_t a, b, word;
static volatile int ready;
static int woken_by[4];

static void *waiter(void *arg) {
    long id = (long)arg;
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    long r = futex(&a, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    woken_by[id] = r == 0 ? 1 : 100;
    return NULL;
}

static void *bit_waiter(void *arg) {
    long id = (long)arg;
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    long r = futex(&b, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 1u << id);
    woken_by[id] = r == 0 ? 2 : 200;
    return NULL;
}

static void settle(int n) {
    while (ready < n)
        sched_yield();
    usleep(50000); /* long enough for them to be asleep in the kernel */
}

int main(void) {
    printf("wait, wrong value: %s\n", name(futex(&a, FUTEX_WAIT, 1, NULL, NULL, 0)));
    struct timespec rel = {0, 10 * 1000 * 1000};
    printf("wait, 10 ms: %s\n", name(futex(&a, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0)));
    struct timespec past = {1, 0};
    printf("wait_bitset, past deadline: %s\n",
           name(futex(&a, FUTEX_WAIT_BITSET, 0, &past, NULL, FUTEX_BITSET_MATCH_ANY)));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 10 * 1000 * 1000;
    if (now.tv_nsec >= 1000000000) {
        now.tv_sec++;
        now.tv_nsec -= 1000000000;
    }
    printf("wait_bitset, realtime deadline: %s\n",
           name(futex(&a, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 0, &now, NULL, ~0u)));
    printf("wait, realtime flag: %s\n",
           name(futex(&a, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 0, &rel, NULL, 0)));
    printf("wait_bitset, bitset 0: %s\n", name(futex(&a, FUTEX_WAIT_BITSET, 0, NULL, NULL, 0)));
    printf("wake, unaligned: %s\n",
           name(futex((uint32_t *)((char *)&a + 1), FUTEX_WAKE, 1, NULL, NULL, 0)));
    printf("wake, nobody: %s\n", name(futex(&a, FUTEX_WAKE, 1, NULL, NULL, 0)));
    printf("cmp_requeue, wrong value: %s\n",
           name(futex(&a, FUTEX_CMP_REQUEUE, 1, (void *)1, &b, 5)));
    printf("requeue, negative count: %s\n",
           name(futex(&a, FUTEX_REQUEUE, 1, (void *)-1, &b, 0)));

    word = 5;
    long r = futex(&a, FUTEX_WAKE_OP, 1, (void *)1, &word, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5));
    printf("wake_op add: %s, word %u\n", name(r), word);
    r = futex(&a, FUTEX_WAKE_OP, 1, (void *)1, &word,
              FUTEX_OP(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_GT, 100));
    printf("wake_op or 1<<4: %s, word %u\n", name(r), word);
    r = futex(&a, FUTEX_WAKE_OP, 1, (void *)1, &word, FUTEX_OP(FUTEX_OP_ANDN, 1, FUTEX_OP_CMP_LT, 0));
    printf("wake_op andn: %s, word %u\n", name(r), word);
    r = futex(&a, FUTEX_WAKE_OP, 1, (void *)1, &word, FUTEX_OP(FUTEX_OP_XOR, 0xff, FUTEX_OP_CMP_NE, 0));
    printf("wake_op xor: %s, word %u\n", name(r), word);
    r = futex(&a, FUTEX_WAKE_OP, 1, (void *)1, &word, FUTEX_OP(FUTEX_OP_SET, -2, FUTEX_OP_CMP_GE, 0));
    printf("wake_op set -2: %s, word %d\n", name(r), (int)word);

    /* Three waiters on a: one woken, two moved to b, then both woken from b. */
    pthread_t t[4];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, waiter, (void *)i);
    settle(3);
    printf("cmp_requeue: %s\n", name(futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)10, &b, 0)));
    usleep(20000);
    int woken = woken_by[0] + woken_by[1] + woken_by[2];
    printf("woken so far: %d\n", woken);
    printf("wake a: %s\n", name(futex(&a, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0)));
    printf("wake b: %s\n", name(futex(&b, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0)));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("woken: %d %d %d\n", woken_by[0], woken_by[1], woken_by[2]);

    /* Bitsets: waiters 0..3 wait with bit 1<<id; wake bits 0 and 2, then the rest. */
    ready = 0;
    for (long i = 0; i < 4; i++) {
        woken_by[i] = 0;
        pthread_create(&t[i], NULL, bit_waiter, (void *)i);
    }
    settle(4);
    printf("wake_bitset 0b0101: %s\n",
           name(futex(&b, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 5)));
    usleep(20000);
    printf("woken: %d %d %d %d\n", woken_by[0], woken_by[1], woken_by[2], woken_by[3]);
    printf("wake_bitset 0: %s\n", name(futex(&b, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 0)));
    printf("wake_bitset all: %s\n",
           name(futex(&b, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, FUTEX_BITSET_MATCH_ANY)));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("woken: %d %d %d %d\n", woken_by[0], woken_by[1], woken_by[2], woken_by[3]);
    return 0;
}
