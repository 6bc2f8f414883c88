/* `vmkit bench x86`: start-up time of a static glibc program that prints one line. */
#include <stdio.h>

int main(void)
{
    puts("hello, world");
    return 0;
}
