; Benchmark: copy 1 MiB, one qword at a time, r10 times (5 instructions per qword).
; Output: r4 = the last qword copied.
.memory 0x400000
QWORDS = 131072
main:
    mov r1, src
    mov r2, dst
    mov r9, r10
    mov.q [r1 + (QWORDS - 1) * 8], 0x1234
.rep:
    mov r3, 0
.copy:
    mov r4, [r1 + r3*8]
    mov [r2 + r3*8], r4
    add r3, 1
    cmp r3, QWORDS
    jb .copy
    dec r9
    jnz .rep
    halt

.bss
src: .space QWORDS * 8
dst: .space QWORDS * 8
