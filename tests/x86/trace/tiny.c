/* No C library, so that a trace of the whole program is a few lines. */
static int twice(int x) { return x + x; }

void _start(void)
{
    int status = twice(21) - 37;
    __asm__ volatile("int $0x80" : : "a"(1), "b"(status));
    __builtin_unreachable();
}
