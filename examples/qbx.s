; Seed 003's QBX test program, instruction for instruction:
;   dw moviwq0, 0xbeef, moviwq1, 0xfeed, movbq2q1, movwq2q0, storbdq1, 1023,
;      loadbdq2, 1023, moviwq0, 1022, storbiq1, pushwq0, pushwq1, popwq2, popwq3, halt
; QBX's 16-bit registers q0..q3 are r0..r3 used at word and byte size; its 1 KiB memory is
; `qbx_mem`. The test suite checks the final registers and memory.

.include "qbx_macros.inc"

main:
.rept 4, n                      ; QBX starts with every register zero
    xor r\n, r\n
.endr
    moviw 0, 0xbeef
    moviw 1, 0xfeed
    movb 2, 1
    movw 2, 0
    storbd 1, 1023
    loadbd 2, 1023
    moviw 0, 1022
    storbi 1
    pushw 0
    pushw 1
    popw 2
    popw 3
.rept 4, n                      ; keep q0..q3 in r10..r13 (print_hex takes r1)
    mov r1\n, r\n
.endr
.rept 4, n                      ; show them
    mov r1, r1\n
    hcall print_hex
.endr
    movzx.b r1, [qbx_mem + 1022]
    hcall print_hex
    movzx.b r1, [qbx_mem + 1023]
    hcall print_hex
    halt

.bss
qbx_mem: .space 1024
