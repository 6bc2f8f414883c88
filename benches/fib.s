; Benchmark: recursive Fibonacci. Input: r10 = n. Output: r0 = fib(n).
main:
    mov r1, r10
    call fib
    halt

; fib(r1) -> r0; clobbers r1, r2
fib:
    cmp r1, 2
    jb .base
    push r1
    sub r1, 1
    call fib
    pop r1
    push r0
    sub r1, 2
    call fib
    pop r2
    add r0, r2
    ret
.base:
    mov r0, r1
    ret
