/* A C-library program for `vmkit trace`: glibc start-up, one line of output. */
#include <stdio.h>

int main(void)
{
    puts("hi");
    return 3;
}
