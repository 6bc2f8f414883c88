/* String functions, qsort with a function pointer, a switch table, sprintf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static const char *kind(int c) {
    switch (c % 7) {
    case 0: return "zero"; case 1: return "one"; case 2: return "two"; case 3: return "three";
    case 4: return "four"; case 5: return "five"; default: return "six";
    }
}
int main(void) {
    char *words[] = {"pear", "apple", "fig", "banana", "cherry", "date", "elderberry"};
    size_t n = sizeof words / sizeof *words;
    qsort(words, n, sizeof *words, cmp);
    char buf[256] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(buf, words[i]);
        strcat(buf, i + 1 < n ? "," : "");
    }
    printf("%s (%zu bytes)\n", buf, strlen(buf));
    char tmp[64];
    for (int i = 0; i < 10; i++) {
        sprintf(tmp, "%d:%s:%x", i * 37, kind(i * 37), i * 0x1234);
        puts(tmp);
    }
    printf("%s %p\n", strstr(buf, "cherry") ? "found" : "missing", (void *)0);
    return 0;
}
