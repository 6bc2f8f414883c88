; Fibonacci two ways: the first 20 numbers iteratively, then fib(20) by naive recursion
; (21891 calls), which exercises call, ret, push and pop.

main:
    mov r6, 0                   ; fib(k)
    mov r7, 1                   ; fib(k+1)
    mov r8, 20                  ; how many to print
.loop:
    mov r1, r6
    hcall print_int
    mov r9, r6
    add r9, r7
    mov r6, r7
    mov r7, r9
    dec r8
    jnz .loop

    mov r1, 20
    call fib
    mov r1, r0
    hcall print_int             ; 6765
    halt

; fib(r1) -> r0, recursively. Clobbers r1, r2.
fib:
    cmp r1, 2
    jb .small
    push r1
    sub r1, 1
    call fib                    ; fib(n-1)
    pop r1
    push r0
    sub r1, 2
    call fib                    ; fib(n-2)
    pop r2
    add r0, r2
    ret
.small:
    mov r0, r1                  ; fib(0) = 0, fib(1) = 1
    ret
