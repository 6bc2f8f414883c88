; Self-modifying code (QBX keeps code and data in one memory, and so does vmkit): the loop
; rewrites the immediate operand of its own `add` instruction, so each pass adds one more.
; The interpreter notices the store into decoded code and decodes the new bytes.
; Prints 1 3 6 10 15. Under `--wx` (W^X) the store faults instead.

main:
    mov r5, 0
    mov r6, 1
again:
patched:
    add r5, 1                   ; bytes: opcode, REG, 5, IMM8, imm; the imm is at patched+4
    mov r1, r5
    hcall print_int
    add r6, 1
    mov.b [patched + 4], r6     ; rewrite the immediate
    cmp r6, 5
    jbe again
    halt
