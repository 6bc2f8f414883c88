; The sieve of Eratosthenes: prints the primes below 100, then how many there are below
; 1,000,000 (78498).

LIMIT = 1000000

main:
    mov r10, 100
    call sieve
    mov r10, LIMIT
    call sieve
    mov r1, r0
    hcall print_int
    halt

; sieve(r10 = n): marks composites in `composite`, prints primes <= n if n <= 100,
; returns their count in r0. Clobbers r1..r5.
sieve:
    mov r3, composite
    mov r1, 0                   ; clear the table from the previous call
.clear:
    mov.b [r3 + r1*1], 0
    add r1, 1
    cmp r1, r10
    jbe .clear
    mov r0, 0
    mov r1, 2
.outer:
    cmp r1, r10
    ja .done
    movzx.b r4, [r3 + r1*1]
    test r4, r4
    jnz .next
    add r0, 1
    cmp r10, 100
    ja .mark
    push r0                     ; a host call returns its result in r0
    hcall print_int             ; prints r1
    pop r0
.mark:
    mov r5, r1
    imul r5, r1                 ; start at i*i
.inner:
    cmp r5, r10
    ja .next
    mov.b [r3 + r5*1], 1
    add r5, r1
    jmp .inner
.next:
    add r1, 1
    jmp .outer
.done:
    ret

.bss
composite: .space LIMIT + 1
