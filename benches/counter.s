; Benchmark: a tight counter loop, 3 instructions per iteration.
; Input: r10 = iterations. Output: r1 = r10.
main:
    mov r1, 0
loop:
    add r1, 1
    cmp r1, r10
    jnz loop
    halt
