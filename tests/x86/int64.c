/* 64-bit arithmetic on a 32-bit CPU: libgcc's __divdi3/__moddi3/__udivdi3, shifts, mul. */
#include <stdio.h>
#include <stdint.h>
int main(void) {
    uint64_t h = 1469598103934665603ull;
    int64_t acc = -123456789012345ll;
    for (int i = 0; i < 1000; i++) {
        h = (h ^ (uint64_t)i) * 1099511628211ull;
        acc += (int64_t)(h >> 17) / (i + 3) - (int64_t)(h % 1000003);
        acc ^= (acc << 7) >> 3;
    }
    printf("%llu %lld %llx\n", (unsigned long long)h, (long long)acc, (unsigned long long)(h / 7));
    printf("%lld %lld\n", (long long)(-7ll / 2), (long long)(-7ll % 2));
    return (int)(h & 0x3f);
}
