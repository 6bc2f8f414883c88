#define _GNU_SOURCE
/* SIGILL from ud2 and SIGTRAP from int3, read through the old-style sigcontext after the
 * signal number (no SA_SIGINFO) and resumed past the instruction by editing the saved eip;
 * the trap flag counted over a fixed instruction sequence. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

extern char ud2_at[], after_int3[];
static volatile int traps, first_code = -1;

static void on_ill(int sig) {
    /* The frame: the return address (pretcode), the signal, then the sigcontext. */
    volatile struct sigcontext *sc =
        (volatile struct sigcontext *)((char *)__builtin_frame_address(0) + 12);
    printf("SIGILL: sig=%d eip_is_ud2=%d trapno=%lu\n", sig, sc->eip == (unsigned long)ud2_at,
           (unsigned long)sc->trapno);
    sc->eip += 2;
}

static void on_trap(int sig, siginfo_t *si, void *p) {
    ucontext_t *uc = p;
    if (si->si_code == 0x80) {
        printf("SIGTRAP from int3: code=%d eip_after=%d addr=%p\n", si->si_code,
               uc->uc_mcontext.gregs[REG_EIP] == (greg_t)after_int3, si->si_addr);
        return;
    }
    if (first_code < 0)
        first_code = si->si_code;
    traps++;
    (void)sig;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_ill;
    sigaction(SIGILL, &sa, NULL);
    asm volatile(".globl ud2_at\nud2_at: ud2");
    printf("past ud2\n");

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, NULL);
    asm volatile("int3\n.globl after_int3\nafter_int3: nop");
    printf("past int3\n");

    asm volatile("pushf\n orl $0x100, (%%esp)\n popf\n"
                 "nop\n nop\n nop\n movl $5, %%eax\n addl %%eax, %%eax\n"
                 "pushf\n andl $0xfffffeff, (%%esp)\n popf\n"
                 ::: "eax", "cc", "memory");
    printf("trace traps: %d first si_code=%d\n", traps, first_code);
    return 0;
}
