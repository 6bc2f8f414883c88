; Ends in a fault on purpose: division by zero. vmkit stops the machine, reports the fault,
; the instruction and the registers, and exits with status 136 (128 + SIGFPE), as a shell
; shows a process killed by that signal.
; expect-status: 136
; expect-stderr: division by zero

main:
    mov r1, 100
    mov r2, 0
    div r1, r2
    hcall print_int             ; never reached
    halt
