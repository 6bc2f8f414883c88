//! Every kind of error the assembler reports, with its message and position, plus the
//! properties of the report as a whole: all errors in one run, hints, notes, rendering.

use vmkit_asm::{assemble_str, Diagnostic, Severity};

fn errors(src: &str) -> Vec<Diagnostic> {
    match assemble_str("t.s", src) {
        Ok(_) => panic!("assembled without errors:\n{src}"),
        Err(d) => {
            d.0.into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect()
        }
    }
}

/// The only error in `src`, as (message, line, col).
fn error(src: &str) -> (String, usize, usize) {
    let e = errors(src);
    assert_eq!(
        e.len(),
        1,
        "expected one error, got {}:\n{}",
        e.len(),
        render(&e)
    );
    (e[0].message.clone(), e[0].line, e[0].col)
}

fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .map(Diagnostic::render)
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(cases: &[(&str, &str, usize, usize)]) {
    for (src, msg, line, col) in cases {
        assert_eq!(error(src), (msg.to_string(), *line, *col), "source:\n{src}");
    }
}

#[test]
fn lexical_errors() {
    check(&[
        ("main: mov r1, 12abc", "invalid number `12abc`", 1, 15),
        (
            "main: mov r1, 0x",
            "number has no digits after its prefix",
            1,
            15,
        ),
        (
            "main: mov r1, 0b12",
            "invalid digit `2` in binary number `0b12`",
            1,
            15,
        ),
        (
            "main: halt\n.ascii \"abc",
            "unterminated string literal",
            2,
            8,
        ),
        (
            "main: halt\n.ascii \"a\\qb\"",
            "unknown escape `\\q`",
            2,
            10,
        ),
        ("main: mov r1, ''", "empty character literal", 1, 15),
        (
            "main: mov r1, 'ab'",
            "character literal holds more than one character",
            1,
            15,
        ),
        ("main: mov r1, #1", "unexpected character `#`", 1, 15),
        (
            "main: mov r\\n, 1",
            "`\\n` is not a parameter of any enclosing macro or repetition",
            1,
            12,
        ),
    ]);
}

#[test]
fn instruction_errors() {
    check(&[
        ("main:\n    mvo r1, 2", "unknown mnemonic `mvo`", 2, 5),
        (
            "main: nop.b",
            "`nop` has no size variants, so it takes no `.b` suffix",
            1,
            7,
        ),
        (
            "main: jz.d main",
            "`jz` has no size variants, so it takes no `.d` suffix",
            1,
            7,
        ),
        (
            "main: add.x r1, 1",
            "unknown size suffix `.x` on `add`",
            1,
            7,
        ),
        (
            "main: add r1",
            "`add` takes 2 operands (dst, src), found 1",
            1,
            11,
        ),
        ("main: halt r1", "`halt` takes no operands, found 1", 1, 12),
        (
            "main: mov 5, r1",
            "operand 1 of `mov` must be a register or memory operand, found an immediate",
            1,
            11,
        ),
        (
            "main: lea r1, r2",
            "operand 2 of `lea` must be a memory operand, found a register",
            1,
            15,
        ),
        (
            "main: jz r1",
            "operand 1 of `jz` must be a branch target, found a register",
            1,
            10,
        ),
        (
            "main: sys [r1]",
            "operand 1 of `sys` must be a number 0..255, found a memory operand",
            1,
            11,
        ),
        (
            "main: mov r1, word 5",
            "`word` is not an immediate width",
            1,
            15,
        ),
        (
            "main: mov r1, 2 3",
            "expected `,` or end of line, found number `3`",
            1,
            17,
        ),
        (
            "main: mov r1, (1 + 2",
            "expected `)` to close the `(`, found end of line",
            1,
            21,
        ),
        (
            "main: mov r1, 1.5",
            "a floating-point number cannot be used here",
            1,
            15,
        ),
        (
            "main: mov r1, \"s\"",
            "a string cannot be used in an expression",
            1,
            15,
        ),
    ]);
}

#[test]
fn memory_operand_errors() {
    check(&[
        (
            "main: lea r1, [r1 - r2]",
            "a register cannot be subtracted in an address",
            1,
            21,
        ),
        (
            "main: lea r1, [r1 + r2 + r3]",
            "an address has at most two registers",
            1,
            26,
        ),
        (
            "main: lea r1, [r1*2 + r2*4]",
            "only one register in an address can be scaled",
            1,
            23,
        ),
        (
            "main: lea r1, [r2*3]",
            "the scale of an index register must be 1, 2, 4 or 8",
            1,
            19,
        ),
        (
            "main: lea r1, [cp + r2]",
            "`cp` addresses the constant pool by offset and cannot be combined with a register",
            1,
            21,
        ),
        (
            "main: lea r1, [[[[[r1]]]]]",
            "5 levels of brackets: at most 3 extra levels of indirection are allowed",
            1,
            15,
        ),
        ("main: lea r1, [r1", "unclosed `[`", 1, 15),
        ("main: lea r1, []", "empty memory operand `[]`", 1, 15),
        (
            "main: lea r1, [r1 +]",
            "expected a register or an expression after this operator",
            1,
            19,
        ),
        (
            "main: lea r1, [r1 + [r2]]",
            "unexpected `[` inside a memory operand",
            1,
            21,
        ),
    ]);
}

#[test]
fn directive_errors() {
    check(&[
        ("main: halt\n.bogus 1", "unknown directive `.bogus`", 2, 1),
        (
            "main: halt\n.fill 2, 0, 3",
            "the width of `.fill` must be 1, 2, 4 or 8 (bytes)",
            2,
            13,
        ),
        ("main: halt\n.perms rwq", "invalid permissions `rwq`", 2, 8),
        ("main: halt\n.section heap", "unknown section `heap`", 2, 10),
        (
            "main: halt\n.equ 5, 5",
            "expected a name, found number `5`",
            2,
            6,
        ),
        (
            "main: halt\n.wx now",
            "expected end of line, found `now`",
            2,
            5,
        ),
        (
            "main: halt\n.entry main\n.entry main",
            "`.entry` is given twice",
            3,
            1,
        ),
        (
            "main: halt\n.bss\n.byte 1",
            "initialised data cannot go in a `.bss` section",
            3,
            1,
        ),
        (
            "main: halt\n.bss\nnop",
            "an instruction cannot go in a `.bss` section",
            3,
            1,
        ),
        (
            "main: halt\n.perms rwx\n.perms rx",
            "conflicting `.perms` for the same section",
            3,
            1,
        ),
        (
            "main: halt\n.byte 256",
            "value 256 does not fit in 1 byte (-128..=255)",
            2,
            7,
        ),
        (
            "main: halt\n.word -32769",
            "value -32769 does not fit in 2 bytes (-32768..=65535)",
            2,
            7,
        ),
        (
            "main: halt\n.dword 0x100000000",
            "value 0x100000000 does not fit in 4 bytes (-0x80000000..=0xffffffff)",
            2,
            8,
        ),
        (
            "main: halt\n.fill 2, 256",
            "value 256 does not fit in 1 byte (-128..=255)",
            2,
            10,
        ),
        (
            "main: halt\n.fill -1, 0",
            "`.fill` count is negative (-1)",
            2,
            7,
        ),
        (
            "main: halt\n.space -4",
            "`.space` size is negative (-4)",
            2,
            8,
        ),
        (
            "main: halt\n.align 3",
            "`.align` needs a power of two, not 3",
            2,
            8,
        ),
        ("main: halt\n.stack -1", "`.stack` is negative (-1)", 2, 8),
    ]);
}

#[test]
fn label_and_symbol_errors() {
    check(&[
        ("main: halt\nmain: nop", "`main` is already defined", 2, 1),
        (
            "main: halt\nr3: nop",
            "`r3` is a register and cannot be a symbol name",
            2,
            1,
        ),
        (
            "main: halt\ncp = 1",
            "`cp` is the constant-pool base in `[cp + offset]` and cannot be a symbol name",
            2,
            1,
        ),
        (
            "main: halt\ndword: nop",
            "`dword` is an immediate width and cannot be a symbol name",
            2,
            1,
        ),
        (
            ".x: halt",
            "local label `.x` has no global label before it",
            1,
            1,
        ),
        (
            "main: jmp %%x",
            "macro-local label `%%x` outside a macro",
            1,
            11,
        ),
        ("main: mov r1, missing", "undefined symbol `missing`", 1, 15),
        (
            "main: halt\nA = B + 1\nB = A",
            "`A` is defined in terms of itself",
            2,
            1,
        ),
        ("main: mov r1, 1 / (2 - 2)", "division by zero", 1, 19),
        (
            "main: mov r1, 1 << 64",
            "shift amount 64 is outside 0..=63",
            1,
            20,
        ),
    ]);
}

#[test]
fn range_errors() {
    check(&[
        (
            "main: mov r1, byte 200",
            "value 200 does not fit `byte` (-128..=127)",
            1,
            15,
        ),
        (
            "main: mov r1, dword 0x80000000",
            "value 0x80000000 does not fit `dword` (-0x80000000..=0x7fffffff)",
            1,
            15,
        ),
        (
            "main: mov r1, [0x100000000]",
            "address 0x100000000 is outside 0..=0xffffffff",
            1,
            16,
        ),
        (
            "main: mov r1, [-1]",
            "address -1 is outside 0..=0xffffffff",
            1,
            16,
        ),
        (
            "main: mov r1, [cp + -1]",
            "constant-pool offset -1 is outside 0..=0xffffffff",
            1,
            21,
        ),
        (
            "main: mov r1, [r2 + 0x80000000]",
            "displacement 0x80000000 does not fit in 32 bits (signed)",
            1,
            21,
        ),
        (
            "main: jmp 0x100000000",
            "branch target 0x100000000 is too far: the distance 4294963195 does not fit in 32 bits",
            1,
            11,
        ),
        (
            "main: sys 256",
            "system call number 256 is outside 0..=255",
            1,
            11,
        ),
        (
            "main: hcall -1",
            "host function index -1 is outside 0..=65535",
            1,
            13,
        ),
    ]);
}

#[test]
fn layout_errors() {
    check(&[
        (
            ".text 0x1000\nmain: .space 0x1001\n.data 0x1800\n.byte 1",
            "`.data` section at 0x1800..0x1801 overlaps the `.text` section at 0x1000..0x2001",
            3,
            1,
        ),
        (
            ".entry d\nmain: halt\n.data\nd: .byte 1",
            "the entry point 0x2000 is not inside an executable section",
            1,
            8,
        ),
        (
            ".data\nmain: .byte 1",
            "`main` is the entry point but is not inside an executable section",
            2,
            1,
        ),
        (
            "main:\na: .space 10 - (b - a)\nb: halt",
            "layout does not settle after 64 passes",
            0,
            0,
        ),
    ]);
    let e = errors(".data\n.byte 1");
    assert_eq!(
        (e[0].message.as_str(), e[0].line),
        ("the program has no instructions to run", 0)
    );
    assert_eq!(e[0].file, "t.s");
    let e = errors("");
    assert_eq!(e[0].message, "the program has no instructions to run");
}

#[test]
fn macro_and_repetition_errors() {
    check(&[
        (
            "main: halt\n.macro m\nnop",
            "this `.macro` has no matching `.endm`",
            2,
            1,
        ),
        ("main: halt\n.endm", "`.endm` without `.macro`", 2, 1),
        (
            "main: halt\n.endr",
            "`.endr` without `.rept` or `.irp`",
            2,
            1,
        ),
        (
            "main: halt\n.macro mov\n.endm",
            "`mov` is an instruction and cannot be a macro name",
            2,
            8,
        ),
        (
            "main: halt\n.macro m\n.endm\n.macro m\n.endm",
            "macro `m` is already defined",
            4,
            8,
        ),
        (
            "main: halt\n.macro m a, a\n.endm",
            "parameter `a` is declared twice",
            2,
            1,
        ),
        (
            "main: halt\n.macro m a\n.endm\nm 1, 2",
            "macro `m` takes 1 argument, but 2 were given",
            4,
            1,
        ),
        (
            "main: halt\n.macro m a\n.endm\nm",
            "missing argument `a` of macro `m`",
            4,
            1,
        ),
        (
            "main: halt\n.macro m\nm\n.endm\nm",
            "macro `m` is nested more than 100 levels deep",
            3,
            1,
        ),
        (
            "main: halt\n.rept 2\nnop",
            "this `.rept` has no matching `.endr`",
            2,
            1,
        ),
        (
            "main: halt\n.rept -1\n.endr",
            "`.rept` count is negative (-1)",
            2,
            7,
        ),
        (
            "main: halt\n.rept main\n.endr",
            "`main` is a label, whose address is not known while reading",
            2,
            7,
        ),
        (
            "main: halt\n.rept N\n.endr\nN = 1",
            "`N` is not defined before this line",
            2,
            7,
        ),
        (
            "main: halt\n.rept 3000000\nnop\n.endr",
            "`.rept` count 3000000 is more than the limit of 1000000",
            2,
            7,
        ),
        (
            "main: halt\n.rept 600000\nnop\nnop\n.endr",
            "this `.rept` would produce more than 1000000 lines",
            2,
            1,
        ),
        (
            "main: halt\n.rept .\n.endr",
            "`.` (the current address) is not known while reading",
            2,
            7,
        ),
    ]);
}

#[test]
fn an_exhausted_expansion_budget_is_reported_once() {
    let e = errors("main: halt\n.rept 3\n.rept 600000\nnop\nnop\n.endr\n.endr");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].col), (3, 1));
    assert!(
        !e[0].notes.iter().any(|n| n.contains("more time")),
        "{:?}",
        e[0].notes
    );
}

#[test]
fn conditional_errors() {
    check(&[
        ("main: halt\n.else", "`.else` without `.if`", 2, 1),
        ("main: halt\n.endif", "`.endif` without `.if`", 2, 1),
        (
            "main: halt\n.if 1\n.else\n.else\n.endif",
            "`.else` after `.else`",
            4,
            1,
        ),
        (
            "main: halt\n.if 1\nnop",
            "this `.if` has no matching `.endif`",
            2,
            1,
        ),
        (
            "main: halt\n.if undefined\n.endif",
            "`undefined` is not defined before this line",
            2,
            5,
        ),
        (
            "main: halt\n.ifdef\n.endif",
            "`.ifdef` takes one name",
            2,
            1,
        ),
    ]);
}

#[test]
fn more_header_and_block_errors() {
    check(&[
        ("main: halt\n.ascii \"\\x4g\"", "invalid `\\x` escape", 2, 9),
        (
            "main: halt\n.import 5",
            "expected the name of a host function",
            2,
            9,
        ),
        (
            "main: halt\n.section",
            "expected a section name (text, data, const or bss), found end of line",
            2,
            9,
        ),
        ("main: halt\n.macro\n.endm", "`.macro` needs a name", 2, 1),
        (
            "main: halt\n.macro m a:many\n.endm",
            "unknown parameter qualifier `:many`",
            2,
            1,
        ),
        (
            "main: halt\n.macro m a\n.endm\nm a=1, a=2",
            "argument `a` is given twice",
            4,
            1,
        ),
        (
            "main: halt\n.rept 2, 3\n.endr",
            "expected `.rept count` or `.rept count, name`",
            2,
            7,
        ),
        (
            "main: halt\n.irp 5, a\n.endr",
            "expected `.irp name, item, item, ...`",
            2,
            6,
        ),
        (
            "main: halt\n.if 1\n.else now\n.endif",
            "expected end of line after `.else`, found `now`",
            3,
            7,
        ),
        (
            "main: halt\n.fill 0x8000000000, 0",
            "`.fill` of 0x8000000000 bytes is larger than the limit of 67108864 bytes",
            2,
            7,
        ),
        (
            "main: halt\n.align 0x10000000000",
            "alignment padding is too large",
            2,
            8,
        ),
        (
            "main: halt\n.data\n.space 0x20000000\n.byte 1",
            "this section holds more than 67108864 bytes of contents",
            2,
            1,
        ),
        (
            "main: halt\n.data 0xFFFFFFFFFFFFFFF0\n.space 0x20",
            "this section runs past the end of the 64-bit address space",
            2,
            1,
        ),
    ]);
}

#[test]
fn include_depth_is_limited() {
    let dir = std::env::temp_dir().join(format!("vmkit-asm-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for k in 0..60 {
        std::fs::write(
            dir.join(format!("f{k}.s")),
            format!(".include \"f{}.s\"\n", k + 1),
        )
        .unwrap();
    }
    std::fs::write(dir.join("f60.s"), "main: halt\n").unwrap();
    let e = vmkit_asm::assemble_file(&dir.join("f0.s")).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let errs: Vec<&Diagnostic> =
        e.0.iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
    assert_eq!(errs.len(), 1, "{e}");
    assert_eq!(errs[0].message, "includes are nested more than 50 deep");
    assert!(errs[0].file.ends_with("f49.s"), "{}", errs[0].file);
    assert_eq!((errs[0].line, errs[0].col), (1, 10));
}

#[test]
fn include_errors() {
    let (msg, line, col) = error("main: halt\n.include \"no/such/file.s\"");
    assert!(msg.starts_with("cannot read `no/such/file.s`"), "{msg}");
    assert_eq!((line, col), (2, 10));
    check(&[(
        "main: halt\n.include nofile",
        "expected `.include \"path\"`",
        2,
        1,
    )]);
}

#[test]
fn errors_in_expansions_point_into_the_body_with_notes() {
    let src = "\
.macro load reg, value
    mov \\reg, \\value
.endm
main:
    load r1, 1
    load 5, 2
    halt";
    let e = errors(src);
    assert_eq!(e.len(), 1);
    let d = &e[0];
    assert_eq!(
        d.message,
        "operand 1 of `mov` must be a register or memory operand, found an immediate"
    );
    assert_eq!(
        (d.line, d.col, d.len),
        (2, 9, 4),
        "points at `\\reg` in the body"
    );
    assert_eq!(d.source_line, "    mov \\reg, \\value");
    assert_eq!(
        d.notes,
        vec![
            "after substitution the line reads `mov 5, 2`".to_string(),
            "in expansion of macro `load` at t.s:6".to_string()
        ]
    );

    let src = "main: halt\n.rept 3, k\n    .byte 254 + \\k\n.endr";
    let e = errors(src);
    assert_eq!(e.len(), 1, "{}", render(&e));
    assert_eq!((e[0].line, e[0].col), (3, 11));
    assert!(
        e[0].notes
            .contains(&"in repetition 3 of 3 of `.rept` at t.s:2".to_string()),
        "{:?}",
        e[0].notes
    );

    // Nested: a macro invoked from a repetition.
    let src = ".macro bad\n    frob\n.endm\nmain: halt\n.rept 1\n    bad\n.endr";
    let e = errors(src);
    assert_eq!(
        e[0].notes,
        vec![
            "in expansion of macro `bad` at t.s:6".to_string(),
            "in repetition 1 of 1 of `.rept` at t.s:5".to_string()
        ]
    );
}

#[test]
fn macro_local_labels_are_named_as_written() {
    let e = errors(".macro m\n%%a: nop\n%%a: nop\n    jmp %%b\n.endm\nmain: m");
    let got: Vec<(&str, usize, usize)> = e
        .iter()
        .map(|d| (d.message.as_str(), d.line, d.col))
        .collect();
    assert_eq!(
        got,
        vec![
            ("`%%a` is already defined", 3, 1),
            ("undefined symbol `%%b`", 4, 9)
        ]
    );
}

#[test]
fn repeated_errors_in_repetitions_are_reported_once() {
    let e = errors("main: halt\n.rept 5\n    mov r1, nothing\n.endr");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].notes
            .contains(&"the same error occurs 4 more times in other expansions".to_string()),
        "{:?}",
        e[0].notes
    );
}

#[test]
fn suggestions() {
    let hint = |src: &str| errors(src)[0].hint.clone();
    assert_eq!(
        hint("main:\n mvo r1, 1"),
        Some("did you mean `mov`?".into())
    );
    assert_eq!(
        hint(".macro push2 a\n.endm\nmain:\n psuh2 r1"),
        Some("did you mean `push2`?".into())
    );
    assert_eq!(
        hint("main: halt\n.bytes 1"),
        Some("did you mean `.byte`?".into())
    );
    assert_eq!(hint("main: jmp mian"), Some("did you mean `main`?".into()));
    assert_eq!(
        hint("main:\n.loop: jmp .lop"),
        Some("did you mean `.loop`?".into())
    );
    assert_eq!(
        hint("main: sys wirte"),
        Some("did you mean `write`?".into())
    );
    let e = errors("main:\n.loop: jmp .lop");
    assert!(e[0]
        .notes
        .contains(&"`.lop` is a local label; here it means `main.lop`".to_string()));
    let e = errors("main: mov r1, r16");
    assert!(e[0]
        .notes
        .contains(&"registers are r0..r15 and sp".to_string()));
}

#[test]
fn duplicate_label_notes_the_first_definition() {
    let e = errors("main: halt\nx: nop\n  x: nop\n");
    assert_eq!(
        e[0].notes,
        vec!["`x` was first defined at t.s:2:1".to_string()]
    );
    assert_eq!((e[0].line, e[0].col), (3, 3));
}

#[test]
fn all_errors_are_reported_in_source_order() {
    let src = "main:\n  mvo r1, 1\n  add r1\n  jmp nowhere\n  .byte 999\n  lea r1, r2\n";
    let e = errors(src);
    let lines: Vec<usize> = e.iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6]);
}

#[test]
fn rendered_report() {
    let err = assemble_str("examples/fib.s", "main:\n    mvo r1, 2\n").unwrap_err();
    let text = err.to_string();
    let expected = "\
error: unknown mnemonic `mvo`
 --> examples/fib.s:2:5
  |
2 |     mvo r1, 2
  |     ^^^
  = help: did you mean `mov`?

error: could not assemble due to 1 error";
    assert_eq!(text, expected);
    let as_error: &dyn std::error::Error = &err;
    assert!(as_error.to_string().contains("mvo"));
}
