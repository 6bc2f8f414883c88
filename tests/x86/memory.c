/* The address-space calls at their edges: mmap2 length, alignment and MAP_FIXED rules,
 * munmap, mprotect, madvise, mremap and brk, with the errno Linux gives. Only cases whose
 * answer is the same for an unprivileged i386 process under a 32-bit kernel (what vmkit
 * models) and under a 64-bit one (where this runs natively, perhaps as root) are here;
 * mappings below vm.mmap_min_addr and above 0xC0000000 are tested in x86_memory.rs. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static long mm(unsigned long addr, unsigned long len, int prot, int flags) {
    return syscall(SYS_mmap2, addr, len, prot, flags, -1, 0);
}

/* "ok", or the errno name: what every line below prints. */
static const char *res(long r) {
    if (r != -1) return "ok";
    switch (errno) {
    case EPERM: return "EPERM";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    default: return "other";
    }
}

static int all_zero(const char *p, unsigned long n) {
    for (unsigned long i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* The finding: 8 instructions replaced the whole address space. */
    printf("fixed whole space: %s\n", res(mm(0, 0xffffffffUL, PROT_NONE, MAP_FIXED | ANON)));
    printf("whole space: %s\n", res(mm(0, 0xffffffffUL, PROT_NONE, ANON)));
    printf("4 GiB minus a page: %s\n", res(mm(0, 0xfffff000UL, PROT_NONE, ANON)));
    printf("fixed at the top: %s\n", res(mm(0xfffff000UL, 4096, PROT_READ, MAP_FIXED | ANON)));
    printf("length 0: %s\n", res(mm(0, 0, PROT_READ, ANON)));
    printf("fixed unaligned: %s\n", res(mm(0x20000001UL, 4096, PROT_READ, MAP_FIXED | ANON)));
    printf("no map type: %s\n", res(mm(0, 4096, PROT_READ, MAP_ANONYMOUS)));
    printf("bad fd: %s\n", res(syscall(SYS_mmap2, 0, 4096, PROT_READ, MAP_PRIVATE, 99, 0)));

    char *a = (char *)mm(0, 1 << 20, PROT_READ | PROT_WRITE, ANON);
    printf("1 MiB: %s, zero %d\n", res((long)a), all_zero(a, 1 << 20));
    printf("noreplace over it: %s\n", res(mm((unsigned long)a, 4096, PROT_READ, MAP_FIXED_NOREPLACE | ANON)));
    memset(a, 0x5a, 1 << 20);
    /* MAP_FIXED over a mapping replaces it with zero pages. (Every result is computed
     * before its printf: argument order is unspecified.) */
    const char *fixed = res(mm((unsigned long)a, 8192, PROT_READ | PROT_WRITE, MAP_FIXED | ANON));
    printf("fixed over it: %s, zero %d\n", fixed, all_zero(a, 8192) && a[8192] == 0x5a);

    /* munmap: alignment and length checked, unmapping nothing is fine. */
    printf("munmap unaligned: %s\n", res(munmap(a + 1, 4096)));
    printf("munmap length 0: %s\n", res(munmap(a, 0)));
    printf("munmap past the top: %s\n", res(munmap((void *)0xfffff000UL, 0x2000)));
    printf("munmap: %s\n", res(munmap(a, 1 << 20)));
    printf("munmap nothing: %s\n", res(munmap(a, 4096)));
    /* Mapped again at the same place: zero, not the old bytes. */
    char *b = (char *)mm((unsigned long)a, 1 << 20, PROT_READ | PROT_WRITE, MAP_FIXED | ANON);
    printf("mapped again: %s, zero %d\n", res((long)b), all_zero(b, 1 << 20));

    /* mprotect: the whole range must be mapped. */
    printf("mprotect unaligned: %s\n", res(mprotect(b + 1, 4096, PROT_READ)));
    printf("mprotect length 0: %s\n", res(mprotect(b, 0, PROT_READ)));
    munmap(b + (1 << 20) - 4096, 4096);
    /* Linux changes the pages before the hole, then fails. */
    printf("mprotect over a hole: %s\n", res(mprotect(b, 1 << 20, PROT_READ)));
    printf("mprotect back: %s\n", res(mprotect(b, (1 << 20) - 4096, PROT_READ | PROT_WRITE)));
    printf("mprotect bad prot: %s\n", res(mprotect(b, 4096, 0x40)));
    const char *none = res(mprotect(b, 4096, PROT_NONE));
    printf("mprotect none then rw: %s %s\n", none, res(mprotect(b, 4096, PROT_READ | PROT_WRITE)));

    /* madvise(MADV_DONTNEED) on private anonymous memory gives zero pages. */
    b[5] = 1;
    b[4096 + 5] = 2;
    const char *dontneed = res(madvise(b + 4096, 4096, MADV_DONTNEED));
    printf("madvise dontneed: %s, %d %d\n", dontneed, b[5], b[4096 + 5]);
    printf("madvise unaligned: %s\n", res(madvise(b + 1, 4096, MADV_DONTNEED)));
    printf("madvise bad advice: %s\n", res(madvise(b, 4096, 1234)));
    printf("madvise unmapped: %s\n", res(madvise(b + (1 << 20) - 4096, 4096, MADV_NORMAL)));
    printf("madvise length 0: %s\n", res(madvise(b, 0, MADV_DONTNEED)));

    /* mremap: shrink, grow, move with the contents, and the checks. */
    b[0] = 7;
    printf("mremap shrink: %s\n", res((long)mremap(b, (1 << 20) - 4096, 1 << 19, 0) == (long)b ? 0 : -1));
    printf("mremap unmapped: %s\n", res((long)mremap(b + (1 << 19), 4096, 8192, MREMAP_MAYMOVE)));
    printf("mremap bad flags: %s\n", res((long)mremap(b, 4096, 8192, 0x80)));
    printf("mremap fixed without maymove: %s\n", res((long)mremap(b, 4096, 4096, MREMAP_FIXED, b + (1 << 24))));
    printf("mremap to length 0: %s\n", res((long)mremap(b, 4096, 0, MREMAP_MAYMOVE)));
    char *block = (char *)mm((unsigned long)b + (1 << 19), 4096, PROT_NONE, MAP_FIXED | ANON);
    printf("mremap grow blocked: %s\n", res((long)mremap(b, 1 << 19, 1 << 20, 0)));
    char *c = mremap(b, 1 << 19, 1 << 21, MREMAP_MAYMOVE);
    const char *moved = res((long)c);
    printf("mremap move: %s, kept %d, zero tail %d\n", moved, c[0],
           all_zero(c + (1 << 19), (1 << 21) - (1 << 19)));
    munmap(block, 4096);
    munmap(c, 1 << 21);

    /* Many mappings that are never touched, and a map/unmap loop: space is reused. */
    unsigned long total = 0;
    for (int i = 0; i < 2000; i++) {
        char *p = (char *)mm(0, 64 << 20, PROT_READ | PROT_WRITE, ANON);
        if (p == MAP_FAILED) { printf("loop failed at %d: %s\n", i, res(-1)); break; }
        total += p[i * 4096] == 0;
        munmap(p, 64 << 20);
    }
    printf("map/unmap loop: %lu zero reads\n", total);

    /* A large PROT_NONE reservation, then a part made usable (how allocators reserve). */
    char *r = (char *)mm(0, 256 << 20, PROT_NONE, ANON);
    const char *reserved = res((long)r);
    printf("reserve 256 MiB: %s, part usable: %s\n", reserved,
           res(mprotect(r + (1 << 20), 1 << 16, PROT_READ | PROT_WRITE)));
    r[(1 << 20) + 5] = 3;
    munmap(r, 256 << 20);

    /* brk: grows with zero pages, shrinks, and a regrown heap is zero again. */
    char *start = sbrk(0);
    printf("sbrk grow: %s\n", res(sbrk(1 << 16) == start ? 0 : -1));
    memset(start, 0x33, 1 << 16);
    sbrk(-(1 << 16));
    sbrk(1 << 16);
    printf("regrown heap zero: %d\n", all_zero(start, 1 << 16));
    printf("brk below the start: %s\n", res(brk(start - (64 << 20))));
    return 0;
}
