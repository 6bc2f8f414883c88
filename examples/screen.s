; Seed 003's memory-mapped devices: an 80x25 text screen at 0xB8000 (character, attribute
; pairs, as VGA text mode) and a keyboard mailbox. Draws a greeting, waits for a key, shows
; which key it was; if the input ends without a key, says so and stops.
;
;   echo x | vmkit run --screen examples/screen.s
;   vmkit run --screen examples/screen.s < /dev/null
;
; Only `--screen` connects the keyboard (to stdin): without it no key and no end of input
; ever come, so the program waits (until --max-steps, if given); vmkit says so on stderr
; once the program has drawn on the screen and is still running.
; vmkit-args: --screen --max-steps 10000000
; stdin: x

SCREEN     = 0xB8000
KBD_STATUS = 0xB8FA0            ; 1 when a key is waiting, 2 when the input has ended
KBD_DATA   = 0xB8FA1
KBD_END    = 2
COLS       = 80
WHITE_ON_BLUE = 0x1F

; put_string row, col, label: writes a zero-terminated string at (row, col).
.macro put_string row, col, text
    mov r1, SCREEN + ((\row) * COLS + (\col)) * 2
    mov r2, \text
    call write_string
.endm

main:
    put_string 2, 10, greeting
    put_string 4, 10, prompt
.wait:                          ; poll the keyboard status register
    movzx.b r3, [KBD_STATUS]
    test r3, r3
    jz .wait
    cmp r3, KBD_END
    je .no_key
    movzx.b r3, [KBD_DATA]
    mov.b [KBD_STATUS], 0       ; take the key
    mov.b [key_text + 5], r3
    put_string 6, 10, key_text
    halt
.no_key:
    put_string 6, 10, no_key_text
    halt

; write_string(r1 = screen address, r2 = string)
write_string:
    movzx.b r3, [r2]
    test r3, r3
    jz .end
    mov.b [r1], r3
    mov.b [r1 + 1], WHITE_ON_BLUE
    add r1, 2
    add r2, 1
    jmp write_string
.end:
    ret

.data
greeting: .asciz "Hello from the vmkit text screen"
prompt:   .asciz "Press a key..."
key_text: .asciz "key: ?"
no_key_text: .asciz "no key: the input ended"
