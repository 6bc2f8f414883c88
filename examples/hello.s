; LBVM's "Hello World" (seed 001): walk a string one byte at a time and print each byte.
; LBVM unrolled the loop because it had no jumps; here the loop is a loop.
;
;   vmkit run examples/hello.s

main:
    mov r4, msg             ; lbSET r4, data
.next:
    movzx.b r2, [r4]        ; lbLB r2, r4
    test r2, r2             ; stop at the terminating zero
    jz .done
    mov r1, 1               ; lbOUT r2: write one byte to stdout (fd 1) ...
    mov r2, r4              ; ... from address r4 ...
    mov r3, 1               ; ... length 1
    sys write
    add r4, 1               ; lbADD r4, r1
    jmp .next
.done:
    halt

.data
msg:
    .asciz "Hello World\n"
