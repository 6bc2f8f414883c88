/*
 * Native side of tests/insn_vs_cpu.rs: runs instruction-level cases on the real CPU in
 * 32-bit mode and reports the state after each one. Built by the test with
 * `gcc -m32 -static -O1 -fno-pie -no-pie -Wl,-Ttext-segment=0xa0000000`: linked high, so that
 * below 2 GiB only the region and the code area are mapped, as in vmkit, and a wild address
 * from a case faults on both sides instead of hitting the runner.
 *
 * Protocol (stdin, little-endian u32s unless said otherwise):
 *   header: magic "VMKX", region base, region size, code base, code size, then the region's
 *           base pattern (region size bytes) and the code image (code size bytes).
 *   case:   start, end, eax ecx edx ebx esp ebp esi edi, eflags, patch count, then per patch
 *           one u32 (offset | byte << 16) applied to the base pattern. A start of 0 ends the
 *           input.
 * Output (stdout): the fs selector (u32), then per case: signal (0 when the code ran to the
 * `hlt` at `end`), eip, eax..edi, eflags, count of changed region bytes, then per changed
 * byte one u32 (offset | byte << 16).
 *
 * A case is entered with every register and EFLAGS loaded from `g_in` and ends at the `hlt`
 * the image holds at `end`: in user mode that is a #GP, so a SIGSEGV whose ucontext holds the
 * final registers; any other fault is a signal too. Handlers run on an alternate stack, since
 * a case may leave esp anywhere, and siglongjmp back into the loop. fs holds a TLS-style
 * segment based at the region so cases can test segment overrides and 16-bit addressing.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define MAGIC 0x584b4d56u /* "VMKX" */
#define MAX_REGION (1u << 20)

/* Read by enter_case: eax ecx edx ebx esp ebp esi edi (0..28), eflags (32), eip (36), fs (40). */
struct in_state {
    uint32_t regs[8];
    uint32_t eflags;
    uint32_t eip;
    uint32_t fs;
};
struct in_state g_in __attribute__((used));

struct out_state {
    uint32_t sig, eip, regs[8], eflags;
};
static volatile struct out_state g_out;
static sigjmp_buf g_jump;

/* Loads the case's state and jumps to it; never returns (the case ends in a signal). */
extern void enter_case(void);
__asm__(".text\n"
        ".globl enter_case\n"
        "enter_case:\n"
        "  movw g_in+40, %fs\n"
        "  pushl g_in+32\n"
        "  popfl\n"
        "  movl g_in+0, %eax\n"
        "  movl g_in+4, %ecx\n"
        "  movl g_in+8, %edx\n"
        "  movl g_in+12, %ebx\n"
        "  movl g_in+20, %ebp\n"
        "  movl g_in+24, %esi\n"
        "  movl g_in+28, %edi\n"
        "  movl g_in+16, %esp\n"
        "  jmp *g_in+36\n");

static void on_signal(int sig, siginfo_t *info, void *context) {
    (void)info;
    const greg_t *g = ((ucontext_t *)context)->uc_mcontext.gregs;
    g_out.sig = (uint32_t)sig;
    g_out.eip = (uint32_t)g[REG_EIP];
    g_out.regs[0] = (uint32_t)g[REG_EAX];
    g_out.regs[1] = (uint32_t)g[REG_ECX];
    g_out.regs[2] = (uint32_t)g[REG_EDX];
    g_out.regs[3] = (uint32_t)g[REG_EBX];
    g_out.regs[4] = (uint32_t)g[REG_UESP];
    g_out.regs[5] = (uint32_t)g[REG_EBP];
    g_out.regs[6] = (uint32_t)g[REG_ESI];
    g_out.regs[7] = (uint32_t)g[REG_EDI];
    g_out.eflags = (uint32_t)g[REG_EFL];
    siglongjmp(g_jump, 1);
}

static void die(const char *what) {
    fprintf(stderr, "insn_runner: %s\n", what);
    exit(2);
}

static void read_exact(void *buf, size_t n) {
    if (fread(buf, 1, n, stdin) != n) die("short read on stdin");
}

static uint32_t read_u32(void) {
    uint32_t v;
    read_exact(&v, 4);
    return v;
}

static void write_u32(uint32_t v) {
    if (fwrite(&v, 4, 1, stdout) != 1) die("write to stdout failed");
}

static void *map_fixed(uint32_t addr, uint32_t size, int prot) {
    void *p = mmap((void *)(uintptr_t)addr, size, prot,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (void *)(uintptr_t)addr) die("cannot map a fixed region (address in use?)");
    return p;
}

int main(void) {
    static char altstack[64 * 1024];
    static uint8_t base[MAX_REGION], pre[MAX_REGION];
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    if (read_u32() != MAGIC) die("bad magic");
    uint32_t region_base = read_u32(), region_size = read_u32();
    uint32_t code_base = read_u32(), code_size = read_u32();
    if (region_size > MAX_REGION) die("region too large");
    uint8_t *region = map_fixed(region_base, region_size, PROT_READ | PROT_WRITE);
    uint8_t *code = map_fixed(code_base, code_size, PROT_READ | PROT_WRITE | PROT_EXEC);
    read_exact(base, region_size);
    read_exact(code, code_size);

    /* fs: a flat 4 GiB data segment based at the region. */
    struct user_desc desc = {
        .entry_number = (unsigned)-1,
        .base_addr = region_base,
        .limit = 0xfffff,
        .seg_32bit = 1,
        .limit_in_pages = 1,
        .useable = 1,
    };
    if (syscall(SYS_set_thread_area, &desc) != 0) die("set_thread_area failed");
    g_in.fs = desc.entry_number * 8 + 3;
    write_u32(g_in.fs);

    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    if (sigaltstack(&ss, NULL) != 0) die("sigaltstack failed");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction failed");
    alarm(300); /* a case that never ends must not hang the test */

    for (;;) {
        uint32_t start = read_u32();
        if (start == 0) break;
        uint32_t end = read_u32();
        for (int i = 0; i < 8; i++) g_in.regs[i] = read_u32();
        g_in.eflags = read_u32();
        g_in.eip = start;
        memcpy(pre, base, region_size);
        uint32_t patches = read_u32();
        for (uint32_t i = 0; i < patches; i++) {
            uint32_t p = read_u32();
            uint32_t offset = p & 0xffff;
            if (offset >= region_size) die("patch outside the region");
            pre[offset] = (uint8_t)(p >> 16);
        }
        memcpy(region, pre, region_size);

        if (sigsetjmp(g_jump, 1) == 0) enter_case();
        /* Back from the handler through siglongjmp, which restores esp, ebp and the other
         * callee-saved registers but not EFLAGS. The kernel cleared DF for the handler, but a
         * case may also have left AC or NT set (popfd), which the C code must not run with
         * (AC makes misaligned accesses fault): clear all three. */
        __asm__ volatile("pushfl\n\tandl $~0x44400, (%%esp)\n\tpopfl" ::: "memory", "cc");

        uint32_t sig = g_out.sig;
        if (sig == SIGSEGV && g_out.eip == end) sig = 0;
        write_u32(sig);
        write_u32(g_out.eip);
        for (int i = 0; i < 8; i++) write_u32(g_out.regs[i]);
        write_u32(g_out.eflags);
        uint32_t changed = 0;
        for (uint32_t i = 0; i < region_size; i++) changed += region[i] != pre[i];
        write_u32(changed);
        if (changed)
            for (uint32_t i = 0; i < region_size; i++)
                if (region[i] != pre[i]) write_u32(i | (uint32_t)region[i] << 16);
    }
    if (fflush(stdout) != 0) die("flush failed");
    return 0;
}
