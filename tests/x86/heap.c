/* malloc-heavy: a linked list, realloc growth, free, setjmp/longjmp out of recursion. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
struct node { int value; struct node *next; };
static jmp_buf out;
static int depth(int n) { if (n == 0) longjmp(out, 42); return depth(n - 1) + 1; }
int main(void) {
    struct node *head = NULL;
    for (int i = 0; i < 10000; i++) {
        struct node *n = malloc(sizeof *n);
        n->value = i * i % 9973;
        n->next = head;
        head = n;
    }
    long sum = 0;
    int *grow = NULL;
    size_t cap = 0;
    for (struct node *n = head; n; n = n->next) {
        sum += n->value;
        if ((size_t)n->value >= cap) {
            cap = (size_t)n->value * 2 + 1;
            grow = realloc(grow, cap * sizeof *grow);
        }
        grow[n->value] = n->value;
    }
    while (head) { struct node *next = head->next; free(head); head = next; }
    char *big = malloc(1 << 20);
    for (int i = 0; i < (1 << 20); i++) big[i] = (char)i;
    long check = 0;
    for (int i = 0; i < (1 << 20); i += 4096) check += big[i];
    free(big);
    int jumped = setjmp(out);
    if (!jumped) depth(100);
    printf("sum=%ld cap=%zu check=%ld jumped=%d\n", sum, cap, check, jumped);
    free(grow);
    return 0;
}
