/* `vmkit bench x86`: compute-bound integer C, SCALE (argv[1]) rounds of
   - a sieve of Eratosthenes up to 2^20 (byte stores, strided loops),
   - a table-driven CRC-32 over 1 MiB of xorshift bytes (loads, shifts, xors),
   - counting the solutions of 9 queens with bitmasks (recursion, branches).
   Prints one line of results, so every runner's answer can be compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIEVE_N (1u << 20)
#define CRC_BYTES (1u << 20)

static unsigned char composite[SIEVE_N + 1];
static unsigned char bytes[CRC_BYTES];
static unsigned crc_table[256];

static unsigned sieve(void)
{
    unsigned count = 0;
    memset(composite, 0, sizeof composite);
    for (unsigned i = 2; i <= SIEVE_N; i++) {
        if (composite[i])
            continue;
        count++;
        for (unsigned j = i * 2; j <= SIEVE_N; j += i)
            composite[j] = 1;
    }
    return count;
}

static unsigned crc32(unsigned seed)
{
    unsigned x = seed * 2 + 1, crc = 0xFFFFFFFFu; /* odd, so never 0 */
    for (unsigned i = 0; i < CRC_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes[i] = (unsigned char)x;
    }
    for (unsigned i = 0; i < CRC_BYTES; i++)
        crc = crc_table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static unsigned queens(unsigned all, unsigned cols, unsigned left, unsigned right)
{
    if (cols == all)
        return 1;
    unsigned count = 0, free_ = all & ~(cols | left | right);
    while (free_) {
        unsigned bit = free_ & -free_;
        free_ -= bit;
        count += queens(all, cols | bit, (left | bit) << 1, (right | bit) >> 1);
    }
    return count;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    for (unsigned i = 0; i < 256; i++) {
        unsigned c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    unsigned primes = 0, crc = 0, solutions = 0;
    for (int r = 0; r < rounds; r++) {
        primes = sieve();
        crc = crc * 31u + crc32(0x12345678u + (unsigned)r); /* CRC is linear: mix with + */
        solutions = queens((1u << 9) - 1, 0, 0, 0);
    }
    printf("primes %u crc %08x queens %u\n", primes, crc, solutions);
    return 0;
}
