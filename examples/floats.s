; f64 arithmetic and integer <-> float conversion (seed 004's cast). Floats live in ordinary
; registers and memory as IEEE-754 bits; their constants sit in the constant pool.

.const
two:    .f64 2.0
half:   .f64 0.5
tenth:  .f64 0.1

.text
main:
    mov r1, [cp + two]
    fsqrt r1, r1
    hcall print_f64             ; 1.4142135623730951
    mov r2, 10
    cvtif r3, r2                ; int -> float: 10.0
    fmul r3, [cp + half]
    mov r1, r3
    hcall print_f64             ; 5
    cvtfi r1, r3                ; float -> int
    hcall print_int             ; 5
    mov r1, 0                   ; 0.1 + 0.1 + 0.1 is not 0.3
    fadd r1, [cp + tenth]
    fadd r1, [cp + tenth]
    fadd r1, [cp + tenth]
    hcall print_f64             ; 0.30000000000000004
    mov r4, r1
    fcmp r4, [cp + two]         ; 0.3 < 2.0 sets CF
    setb r1
    hcall print_int             ; 1
    halt
