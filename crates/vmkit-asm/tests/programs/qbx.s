; QBX, the "QBX Bytecode eXecutor" from "Let's Learn x86-64 Assembly! Part 2", as a vmkit
; program. The original builds its emulator with FASM macros; this is the same structure
; in vmkit syntax:
;
;   - one list of QBX instructions (`qbx_insns`), applied to different macros, defines both
;     the instruction codes and the jump table, so they cannot disagree;
;   - families of handlers that differ only in a register (`moviwq0`..`moviwq3`) are
;     generated with `.rept 4, reg`, and register-to-register moves with two nested
;     `.rept`s and an `.if` that skips moves from a register to itself.
;
; QBX registers q0..q3 live in r0..r3, qip in r8 and qsp in r9. QBX memory is `qbx_mem`.

.equ QBX_MEM_SIZE, 1024

; Applies macro `m` to every QBX instruction name, in instruction-code order.
.macro qbx_insns m
    \m noop
    \m halt
.rept 4, reg
    \m moviwq\reg                   ; q<reg> = next word
.endr
.rept 4, tgt
.rept 4, src
.if \tgt != \src
    \m movwq\tgt\()q\src            ; q<tgt> = q<src>
.endif
.endr
.endr
.rept 4, reg
    \m storwdq\reg                  ; mem16[next word] = q<reg>
    \m loadwdq\reg                  ; q<reg> = mem16[next word]
    \m pushwq\reg
    \m popwq\reg
.endr
.endm

; The instruction code of `name` is its index in the jump table: `Q_name`.
.macro icode name
Q_\name = (. - qbx_jmp_table) / 2
    .word IMPL_\name - insn_base
.endm

; `insn name` starts the handler for `name`; `endinsn` returns to the fetch loop.
.macro insn name
IMPL_\name:
.endm

.macro endinsn
    jmp advance
.endm

.text
main:
    xor r8, r8                      ; qip = 0
    mov r9, QBX_MEM_SIZE            ; qsp = top of QBX memory
advance:
    movzx.w r4, [qbx_mem + r8]      ; next instruction code
    add r8, 2
    movzx.w r5, [qbx_jmp_table + r4*2]
    add r5, insn_base
    jmp r5

insn_base:
    insn noop
    nop
    endinsn

    insn halt
    halt

.rept 4, reg
    insn moviwq\reg
    movzx.w r\reg, [qbx_mem + r8]
    add r8, 2
    endinsn
.endr

.rept 4, tgt
.rept 4, src
.if \tgt != \src
    insn movwq\tgt\()q\src
    movzx.w r\tgt, r\src
    endinsn
.endif
.endr
.endr

.rept 4, reg
    insn storwdq\reg
    movzx.w r6, [qbx_mem + r8]      ; the address follows the instruction
    add r8, 2
    mov.w [qbx_mem + r6], r\reg
    endinsn

    insn loadwdq\reg
    movzx.w r6, [qbx_mem + r8]
    add r8, 2
    movzx.w r\reg, [qbx_mem + r6]
    endinsn

    insn pushwq\reg
    sub r9, 2
    mov.w [qbx_mem + r9], r\reg
    endinsn

    insn popwq\reg
    movzx.w r\reg, [qbx_mem + r9]
    add r9, 2
    endinsn
.endr

.const
qbx_jmp_table:
    qbx_insns icode

.data
; The QBX program from the article, as instruction codes and operands.
qbx_mem:
    .word Q_moviwq0, 0xbeef
    .word Q_moviwq1, 0xfeed
    .word Q_movwq2q0
    .word Q_storwdq1, 1022
    .word Q_loadwdq3, 1022
    .word Q_pushwq0
    .word Q_pushwq1
    .word Q_popwq2
    .word Q_popwq3
    .word Q_noop
    .word Q_halt
qbx_code_end:
    .space QBX_MEM_SIZE - (qbx_code_end - qbx_mem)
