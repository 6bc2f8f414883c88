/* `vmkit bench x86`: the 5-instruction register loop, N iterations (argv[1]).
   add eax, ebx ; adc edx, esi ; inc edi ; dec ecx ; jnz: 5 * N guest instructions. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 1000000;
    unsigned a = 0, d = 0, di = 0, c = n ? n : 1;
    __asm__ volatile("1:\n\t"
                     "addl %%ebx, %%eax\n\t"
                     "adcl %%esi, %%edx\n\t"
                     "incl %%edi\n\t"
                     "decl %%ecx\n\t"
                     "jnz 1b"
                     : "+a"(a), "+d"(d), "+D"(di), "+c"(c)
                     : "b"(0x9E3779B9u), "S"(7u)
                     : "cc");
    printf("%u %u %u\n", a, d, di);
    return 0;
}
