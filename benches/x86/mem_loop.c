/* `vmkit bench x86`: the 5-instruction load/store loop, N iterations (argv[1]).
   mov eax, [esp-8] ; add eax, ecx ; mov [esp-8], eax ; dec ecx ; jnz: 5 * N guest
   instructions. The slot below esp is free: i386 code has no red zone to share it with. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 1000000;
    unsigned a, c = n ? n : 1;
    __asm__ volatile("movl $0, -8(%%esp)\n"
                     "1:\n\t"
                     "movl -8(%%esp), %%eax\n\t"
                     "addl %%ecx, %%eax\n\t"
                     "movl %%eax, -8(%%esp)\n\t"
                     "decl %%ecx\n\t"
                     "jnz 1b"
                     : "=&a"(a), "+c"(c)
                     :
                     : "cc", "memory");
    printf("%u\n", a);
    return 0;
}
