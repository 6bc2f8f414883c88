/* Control flow the compiler emits for real code: function pointers, switch jump tables,
 * qsort with a callback, setjmp/longjmp across frames, deep recursion, varargs, and bit
 * tricks (popcount, clz, ctz, bswap, rotates) at -O0 and -O2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jmp_buf env;
static int depth_reached;

static void dive(int depth) {
    char pad[64];
    memset(pad, depth, sizeof pad);
    if (depth == 50) {
        depth_reached = depth + pad[3];
        longjmp(env, depth);
    }
    dive(depth + 1);
}

static int op_add(int a, int b) { return a + b; }
static int op_sub(int a, int b) { return a - b; }
static int op_mul(int a, int b) { return a * b; }
static int op_div(int a, int b) { return b ? a / b : 0; }
static int (*const ops[])(int, int) = {op_add, op_sub, op_mul, op_div};

static const char *classify(unsigned v) {
    switch (v % 11) {
    case 0: return "zero";
    case 1: return "one";
    case 2: return "two";
    case 3: return "three";
    case 4: return "four";
    case 5: return "five";
    case 6: return "six";
    case 7: return "seven";
    case 8: return "eight";
    case 9: return "nine";
    default: return "ten";
    }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static long sum_varargs(int n, ...) {
    va_list ap;
    long total = 0;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        total += va_arg(ap, int);
    va_end(ap);
    return total;
}

static unsigned ackermann(unsigned m, unsigned n) {
    if (m == 0) return n + 1;
    if (n == 0) return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

int main(void) {
    int r = setjmp(env);
    if (r == 0) {
        dive(0);
        puts("not reached");
    }
    printf("longjmp returned %d after depth %d\n", r, depth_reached);

    int acc = 7;
    for (int i = 0; i < 40; i++)
        acc = ops[i & 3](acc, i + 1) ^ (i * 31);
    printf("function pointers: %d\n", acc);

    unsigned h = 0;
    for (unsigned v = 0; v < 200; v++) {
        const char *s = classify(v * 2654435761u);
        h = h * 31 + (unsigned char)s[0] + (unsigned)strlen(s);
    }
    printf("switch table hash: %u\n", h);

    int arr[300];
    uint32_t x = 12345;
    for (int i = 0; i < 300; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        arr[i] = (int)(x % 2001) - 1000;
    }
    qsort(arr, 300, sizeof arr[0], cmp_int);
    printf("qsort: %d %d %d %d\n", arr[0], arr[1], arr[150], arr[299]);

    printf("varargs: %ld\n", sum_varargs(6, 1, -2, 30, 400, -5000, 60000));
    printf("ackermann(2, 300) = %u\n", ackermann(2, 300));

    uint64_t bits = 0;
    for (uint32_t v = 1; v < 5000; v = v * 3 + 1) {
        bits += (uint64_t)__builtin_popcount(v) << 32;
        bits += __builtin_clz(v) * 7u + __builtin_ctz(v | 0x80000000u);
        bits ^= __builtin_bswap32(v);
        bits += (v << 7 | v >> 25) & 0xffff;
    }
    printf("bits: %llu\n", (unsigned long long)bits);

    int16_t s16 = -300;
    int8_t s8 = (int8_t)s16;
    uint16_t u16 = (uint16_t)s16;
    printf("narrow: %d %d %u %d\n", s16 * 3, s8, u16, (int)(u16 >> 3) - (s8 >> 2));
    return acc & 0x3f;
}
