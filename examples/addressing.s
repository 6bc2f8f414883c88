; Seed 004's script VM: x86-like registers, five basic addressing modes, indirection depth,
; operand sizes, and calls to host ("public") functions. Every load below prints one line.

.const                          ; the constant segment: addressed as [cp + offset]
limit:  .qword 1000
table:  .qword 10, 20, 30, 40

.data
value:  .qword 7
ptr:    .qword value            ; a pointer to value
pptr:   .qword ptr              ; a pointer to that pointer
array:  .dword 1, 2, 3, 4, 5
msg:    .ascii "host functions take arguments in r1..r6\n"
MSG_LEN = . - msg

.text
main:
    mov r1, 42                  ; immediate
    hcall print_int             ; 42
    mov r2, -5
    mov r1, r2                  ; register
    hcall print_int             ; -5
    mov r1, [value]             ; direct
    hcall print_int             ; 7
    mov r3, value
    mov r1, [r3]                ; register-indirect
    hcall print_int             ; 7
    mov r4, 3
    movzx.d r1, [r4*4 + array]  ; array (indexed): array[3], 32-bit elements
    hcall print_int             ; 4
    mov r5, array
    movzx.d r1, [r5 + r4*4 + 4] ; base + index*scale + displacement: array[4]
    hcall print_int             ; 5
    mov r1, [cp + limit]        ; constant segment
    hcall print_int             ; 1000
    mov r1, [cp + table + 16]   ; table[2]
    hcall print_int             ; 30
    mov r1, [[ptr]]             ; indirection depth 1: *ptr
    hcall print_int             ; 7
    mov r1, [[[pptr]]]          ; indirection depth 2: **pptr
    hcall print_int             ; 7
    add [[ptr]], 5              ; store through a pointer: value += 5
    mov r1, [value]
    hcall print_int             ; 12
    mov r1, -1                  ; operand sizes: a byte store keeps the upper bits
    mov.b r1, 0
    hcall print_hex             ; 0xffffffffffffff00
    mov.w r1, [array]           ; word load into the low 16 bits
    hcall print_hex             ; 0xffffffffffff0001
    movsx.b r1, [cp + limit]    ; 1000 = 0x3e8: its low byte 0xe8 sign-extended
    hcall print_int             ; -24
    mov r1, msg                 ; a host function with two arguments
    mov r2, MSG_LEN
    hcall print_str
    halt
