/* The docs' `./hello-static-i386` (crates/vmkit-cli/tests/docs.rs builds it with
 * gcc -m32 -static): a greeting, then its arguments, one a line. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("Hello from i386\n");
    for (int i = 1; i < argc; i++)
        printf("argv[%d] = %s\n", i, argv[i]);
    return 0;
}
