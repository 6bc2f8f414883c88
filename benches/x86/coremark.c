/* `vmkit bench x86`: a CoreMark-like CPU benchmark, written for vmkit (not EEMBC's CoreMark,
   whose source is not bundled here, and whose scores it does not claim to reproduce). Each of
   ITERATIONS (argv[1]) iterations runs CoreMark's four kernels on a 2000-byte working set:
   - list: a linked list of 100 (data, index) records: find values, reverse, merge-sort by
     data, then by index;
   - matrix: 12 x 12 int16 matrices, int32 results: add a constant, multiply by a constant,
     by a vector, by a matrix, and by a matrix keeping bit fields of the products;
   - state: a state machine that classifies the comma-separated numbers of a 400-byte string
     (integer, decimal, scientific, invalid), corrupting and restoring it on the way;
   - crc: CRC-16 (CCITT, bitwise, as CoreMark's crcu8) over every kernel's result.
   Prints the final CRC and a sum of intermediate results, so every runner's answer can be
   compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned short u16;
typedef short i16;
typedef int i32;
typedef unsigned u32;

static u16 crcu8(unsigned char data, u16 crc)
{
    for (int i = 0; i < 8; i++) {
        unsigned char x16 = (unsigned char)((data & 1) ^ ((unsigned char)crc & 1));
        data >>= 1;
        if (x16 == 1) {
            crc ^= 0x4002;
            crc >>= 1;
            crc |= 0x8000;
        } else {
            crc >>= 1;
        }
    }
    return crc;
}

static u16 crcu16(u16 v, u16 crc)
{
    crc = crcu8((unsigned char)v, crc);
    return crcu8((unsigned char)(v >> 8), crc);
}

static u16 crcu32(u32 v, u16 crc)
{
    crc = crcu16((u16)v, crc);
    return crcu16((u16)(v >> 16), crc);
}

/* ---- list ---- */

struct item {
    i16 data, idx;
};

struct node {
    struct node *next;
    struct item *info;
};

#define LIST_N 100

static struct node nodes[LIST_N];
static struct item items[LIST_N];

static struct node *list_init(u32 seed)
{
    for (int i = 0; i < LIST_N; i++) {
        seed = seed * 1103515245u + 12345u;
        items[i].idx = (i16)i;
        items[i].data = (i16)((seed >> 16) & 0x7fff);
        nodes[i].info = &items[i];
        nodes[i].next = i + 1 < LIST_N ? &nodes[i + 1] : NULL;
    }
    return &nodes[0];
}

static struct node *list_find(struct node *list, i16 data)
{
    while (list && list->info->data != data)
        list = list->next;
    return list;
}

static struct node *list_reverse(struct node *list)
{
    struct node *done = NULL;
    while (list) {
        struct node *next = list->next;
        list->next = done;
        done = list;
        list = next;
    }
    return done;
}

static int by_data(const struct item *a, const struct item *b)
{
    return a->data - b->data;
}

static int by_idx(const struct item *a, const struct item *b)
{
    return a->idx - b->idx;
}

/* Bottom-up merge sort of a singly linked list, as CoreMark's core_list_mergesort. */
static struct node *list_sort(struct node *list, int (*cmp)(const struct item *, const struct item *))
{
    int insize = 1;
    for (;;) {
        struct node *p = list, *tail = NULL;
        int merges = 0;
        list = NULL;
        while (p) {
            struct node *q = p;
            int psize = 0, qsize = insize;
            merges++;
            for (int i = 0; i < insize && q; i++) {
                psize++;
                q = q->next;
            }
            while (psize > 0 || (qsize > 0 && q)) {
                struct node *e;
                if (psize == 0) {
                    e = q, q = q->next, qsize--;
                } else if (qsize == 0 || !q || cmp(p->info, q->info) <= 0) {
                    e = p, p = p->next, psize--;
                } else {
                    e = q, q = q->next, qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    list = e;
                tail = e;
            }
            p = q;
        }
        tail->next = NULL;
        if (merges <= 1)
            return list;
        insize *= 2;
    }
}

static u16 bench_list(u32 seed, u16 crc)
{
    struct node *list = list_init(seed);
    u32 found = 0, missed = 0;
    for (int i = 0; i < 40; i++) {
        i16 want = (i16)(items[(i * 7) % LIST_N].data + (i & 1));
        struct node *hit = list_find(list, want);
        if (hit) {
            found += (u32)hit->info->idx;
        } else {
            missed++;
        }
        list = list_reverse(list);
    }
    list = list_sort(list, by_data);
    for (struct node *n = list; n; n = n->next)
        crc = crcu16((u16)n->info->data, crc);
    list = list_sort(list, by_idx);
    for (struct node *n = list; n; n = n->next)
        crc = crcu16((u16)n->info->idx, crc);
    crc = crcu32(found, crc);
    return crcu32(missed, crc);
}

/* ---- matrix ---- */

#define MAT_N 12

static i16 mat_a[MAT_N * MAT_N], mat_b[MAT_N * MAT_N];
static i32 mat_c[MAT_N * MAT_N];

static void matrix_init(u32 seed)
{
    for (int i = 0; i < MAT_N * MAT_N; i++) {
        seed = seed * 1664525u + 1013904223u;
        mat_a[i] = (i16)((seed >> 20) - 2048);
        mat_b[i] = (i16)(((seed >> 8) & 0xfff) - 2048);
    }
}

static u16 matrix_sum(u16 crc, i16 clip)
{
    i32 sum = 0, prev = 0;
    i16 ret = 0;
    for (int i = 0; i < MAT_N * MAT_N; i++) {
        sum += mat_c[i];
        if (sum > clip) {
            ret += 10;
            sum = 0;
        } else {
            ret += mat_c[i] > prev ? 1 : 0;
        }
        prev = mat_c[i];
    }
    return crcu16((u16)ret, crc);
}

static u16 bench_matrix(u32 seed, u16 crc)
{
    matrix_init(seed);
    i16 k = (i16)(seed & 0x7f) | 1;
    for (int i = 0; i < MAT_N * MAT_N; i++)
        mat_a[i] = (i16)(mat_a[i] + k);
    for (int i = 0; i < MAT_N * MAT_N; i++)
        mat_c[i] = (i32)mat_a[i] * k;
    crc = matrix_sum(crc, 4000);
    for (int i = 0; i < MAT_N; i++) {
        i32 acc = 0;
        for (int j = 0; j < MAT_N; j++)
            acc += (i32)mat_a[i * MAT_N + j] * mat_b[j];
        mat_c[i] = acc;
    }
    crc = matrix_sum(crc, 4000);
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            i32 acc = 0;
            for (int m = 0; m < MAT_N; m++)
                acc += (i32)mat_a[i * MAT_N + m] * mat_b[m * MAT_N + j];
            mat_c[i * MAT_N + j] = acc;
        }
    crc = matrix_sum(crc, 4000);
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            i32 acc = 0;
            for (int m = 0; m < MAT_N; m++) {
                i32 t = (i32)mat_a[i * MAT_N + m] * mat_b[m * MAT_N + j];
                acc += ((t >> 2) & 0xf) * ((t >> 5) & 0x7f);
            }
            mat_c[i * MAT_N + j] = acc;
        }
    crc = matrix_sum(crc, 4000);
    for (int i = 0; i < MAT_N * MAT_N; i++)
        mat_a[i] = (i16)(mat_a[i] - k);
    for (int i = 0; i < MAT_N * MAT_N; i++)
        crc = crcu16((u16)mat_a[i], crc);
    return crc;
}

/* ---- state machine ---- */

enum state { START, INVALID, S1, S2, INT, FLOAT, EXPONENT, SCIENTIFIC, NSTATES };

#define STATE_BYTES 400

static char text[STATE_BYTES + 1];

static void state_init(u32 seed)
{
    static const char *const numbers[] = {"5012", "1234", "-874", "+122", "35.54", "0.1233",
                                          "-110.700", "+0.64", "5.500e+3", "-.123e-2",
                                          "-87e+832", "+0.6e-12", "T0.3e-1F", "-T.T++Tq",
                                          "1T3.4e4z", "34.0e-T^"};
    int at = 0;
    while (at < STATE_BYTES) {
        seed = seed * 1103515245u + 12345u;
        const char *n = numbers[(seed >> 16) & 15];
        int len = (int)strlen(n);
        if (at + len + 1 > STATE_BYTES)
            break;
        memcpy(text + at, n, (size_t)len);
        at += len;
        text[at++] = ',';
    }
    while (at < STATE_BYTES)
        text[at++] = ',';
    text[STATE_BYTES] = 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* One number from *p to its comma; advances *p past the comma. */
static enum state next_state(const char **p, u32 *transitions)
{
    const char *s = *p;
    enum state st = START;
    for (; *s && st != INVALID; s++) {
        char c = *s;
        if (c == ',') {
            s++;
            break;
        }
        switch (st) {
        case START:
            if (is_digit(c))
                st = INT;
            else if (c == '+' || c == '-')
                st = S1;
            else if (c == '.')
                st = FLOAT;
            else {
                st = INVALID;
                transitions[INVALID]++;
            }
            transitions[START]++;
            break;
        case S1:
            if (is_digit(c)) {
                st = INT;
                transitions[S1]++;
            } else if (c == '.') {
                st = FLOAT;
                transitions[S1]++;
            } else {
                st = INVALID;
                transitions[S1]++;
            }
            break;
        case INT:
            if (c == '.') {
                st = FLOAT;
                transitions[INT]++;
            } else if (!is_digit(c)) {
                st = INVALID;
                transitions[INT]++;
            }
            break;
        case FLOAT:
            if (c == 'E' || c == 'e') {
                st = S2;
                transitions[FLOAT]++;
            } else if (!is_digit(c)) {
                st = INVALID;
                transitions[FLOAT]++;
            }
            break;
        case S2:
            if (c == '+' || c == '-') {
                st = EXPONENT;
                transitions[S2]++;
            } else {
                st = INVALID;
                transitions[S2]++;
            }
            break;
        case EXPONENT:
            if (is_digit(c)) {
                st = SCIENTIFIC;
                transitions[EXPONENT]++;
            } else {
                st = INVALID;
                transitions[EXPONENT]++;
            }
            break;
        case SCIENTIFIC:
            if (!is_digit(c)) {
                st = INVALID;
                transitions[INVALID]++;
            }
            break;
        default:
            break;
        }
    }
    while (*s && s[-1] != ',')
        s++;
    *p = s;
    return st;
}

static u16 state_scan(u16 crc)
{
    u32 finals[NSTATES] = {0}, transitions[NSTATES] = {0};
    const char *p = text;
    while (*p)
        finals[next_state(&p, transitions)]++;
    for (int i = 0; i < NSTATES; i++) {
        crc = crcu32(finals[i], crc);
        crc = crcu32(transitions[i], crc);
    }
    return crc;
}

static u16 bench_state(u32 seed, u16 crc)
{
    state_init(seed);
    crc = state_scan(crc);
    /* Corrupt every 7th byte, scan, restore, scan again (as core_bench_state). */
    for (int i = 0; i < STATE_BYTES; i += 7)
        text[i] ^= (char)(seed & 0x3f);
    crc = state_scan(crc);
    for (int i = 0; i < STATE_BYTES; i += 7)
        text[i] ^= (char)(seed & 0x3f);
    return state_scan(crc);
}

int main(int argc, char **argv)
{
    unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 1000;
    u16 crc = 0, crc_list = 0, crc_matrix = 0, crc_state = 0;
    u32 sum = 0;
    for (unsigned i = 0; i < iterations; i++) {
        u32 seed = 0x3415u + (i & 7) * 0x66u;
        crc_list = bench_list(seed, crc_list);
        crc_matrix = bench_matrix(seed, crc_matrix);
        crc_state = bench_state(seed, crc_state);
        crc = crcu16(crc_list, crc);
        crc = crcu16(crc_matrix, crc);
        crc = crcu16(crc_state, crc);
        sum += crc;
    }
    printf("coremark-like: %u iterations, list %04x matrix %04x state %04x crc %04x sum %u\n",
           iterations, crc_list, crc_matrix, crc_state, crc, sum);
    return 0;
}
