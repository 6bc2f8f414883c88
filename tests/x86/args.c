/* argv, a computed exit status. */
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        printf("argv[%d] = %s\n", i, i == 0 ? "(program)" : argv[i]);
    return argc + 40;
}
