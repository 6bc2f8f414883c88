; Benchmark: sieve of Eratosthenes. Input: r10 = n (at most 10,000,000).
; Output: r0 = number of primes <= n.
.memory 0x1000000
main:
    mov r3, composite
    mov r0, 0
    mov r1, 2
.outer:
    cmp r1, r10
    ja .done
    movzx.b r4, [r3 + r1*1]
    test r4, r4
    jnz .next
    add r0, 1
    mov r5, r1
    imul r5, r1
    cmp r5, r10
    ja .next
.inner:
    mov.b [r3 + r5*1], 1
    add r5, r1
    cmp r5, r10
    jbe .inner
.next:
    add r1, 1
    jmp .outer
.done:
    halt

.bss
composite: .space 10000001
