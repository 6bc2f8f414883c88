//! What assembled programs contain: directives, sections and layout, macros, repetitions,
//! conditionals, includes, symbols and imports. Byte-level expectations are built with
//! `vmkit_isa` so that they do not repeat opcode numbers.

use vmkit_asm::{assemble_file, assemble_str, disassemble, Assembled};
use vmkit_image::{Image, Perms, SegmentKind, SymbolKind, FLAG_WX};
use vmkit_isa::{Addr, Cond, ImmWidth, Instr, Mem, Op, Operand, Reg, Size};

fn asm(src: &str) -> Assembled {
    match assemble_str("test.s", src) {
        Ok(a) => a,
        Err(e) => panic!("assembly failed:\n{e}"),
    }
}

fn image(src: &str) -> Image {
    asm(src).image
}

fn code(src: &str) -> Vec<u8> {
    let img = image(src);
    img.segments
        .iter()
        .find(|s| s.kind == SegmentKind::Code)
        .expect("a code segment")
        .data
        .clone()
}

fn enc(instrs: &[Instr]) -> Vec<u8> {
    instrs.iter().flat_map(|i| i.encode().unwrap()).collect()
}

fn r(n: u8) -> Reg {
    Reg::r(n)
}

fn i(op: Op, ops: &[Operand]) -> Instr {
    Instr::new(op, Size::Q, ops)
}

fn sym(img: &Image, name: &str) -> u64 {
    img.symbols
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no symbol {name}"))
        .addr
}

fn round_trips(img: &Image) {
    let text = disassemble(img);
    let again = assemble_str("dis.s", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
    assert_eq!(again.image.to_bytes(), img.to_bytes(), "{text}");
}

#[test]
fn instructions_with_every_operand_kind() {
    let got = code(
        "
        main:
            mov r1, 5
            add.b r2, r3
            mov.w [r1 + 8], dword 7
            lea r4, [r1 + r2*8 - 16]
            mov r5, [[r6]]
            cmovge.d r1, [0x2000]
            setz.b r7
            push qword -1
            sys write
            halt
        ",
    );
    let want = enc(&[
        i(Op::Mov, &[Operand::Reg(r(1)), Operand::imm(5)]),
        Instr::new(Op::Add, Size::B, &[Operand::Reg(r(2)), Operand::Reg(r(3))]),
        Instr::new(
            Op::Mov,
            Size::W,
            &[
                Operand::mem(Addr::Based {
                    base: r(1),
                    disp: 8,
                }),
                Operand::Imm {
                    value: 7,
                    width: ImmWidth::I32,
                },
            ],
        ),
        i(
            Op::Lea,
            &[
                Operand::Reg(r(4)),
                Operand::mem(Addr::Indexed {
                    base: Some(r(1)),
                    index: r(2),
                    scale_log2: 3,
                    disp: -16,
                }),
            ],
        ),
        i(
            Op::Mov,
            &[
                Operand::Reg(r(5)),
                Operand::Mem(Mem {
                    addr: Addr::Reg(r(6)),
                    depth: 1,
                }),
            ],
        ),
        Instr::new(
            Op::Cmovcc,
            Size::D,
            &[
                Operand::Cond(Cond::Ge),
                Operand::Reg(r(1)),
                Operand::mem(Addr::Abs(0x2000)),
            ],
        ),
        Instr::new(
            Op::Setcc,
            Size::B,
            &[Operand::Cond(Cond::Z), Operand::Reg(r(7))],
        ),
        i(
            Op::Push,
            &[Operand::Imm {
                value: -1,
                width: ImmWidth::I64,
            }],
        ),
        i(Op::Sys, &[Operand::U8(vmkit_isa::syscall::WRITE)]),
        i(Op::Halt, &[]),
    ]);
    assert_eq!(got, want);
}

#[test]
fn case_insensitive_mnemonics_registers_and_directives() {
    assert_eq!(
        code(".TEXT\nMOV.B R1, SP\nHALT"),
        enc(&[
            Instr::new(
                Op::Mov,
                Size::B,
                &[Operand::Reg(r(1)), Operand::Reg(Reg::SP)]
            ),
            i(Op::Halt, &[])
        ])
    );
}

#[test]
fn zero_displacement_shrinks_unless_forced() {
    let got =
        code("mov r1, [r2 + 0]\nmov r1, [r2 + dword 0]\nmov r1, [r2 - 0]\nN = 0\nmov r1, [r2 + N]");
    let short = i(
        Op::Mov,
        &[Operand::Reg(r(1)), Operand::mem(Addr::Reg(r(2)))],
    );
    let long = i(
        Op::Mov,
        &[
            Operand::Reg(r(1)),
            Operand::mem(Addr::Based {
                base: r(2),
                disp: 0,
            }),
        ],
    );
    assert_eq!(got, enc(&[short, long, short, short]));
}

#[test]
fn branches_are_relative_to_the_next_instruction() {
    let got = code("main: jmp main\n jz main\n call main\n jmp r1\n call [r2]\n jmp dword 0x2000");
    let jmp_len = 5;
    let jz_len = 6;
    assert_eq!(
        got,
        enc(&[
            i(Op::Jmp, &[Operand::Rel(-jmp_len)]),
            i(
                Op::Jcc,
                &[Operand::Cond(Cond::Z), Operand::Rel(-(jmp_len + jz_len))]
            ),
            i(Op::Call, &[Operand::Rel(-(jmp_len + jz_len + 5))]),
            i(Op::JmpInd, &[Operand::Reg(r(1))]),
            i(Op::CallInd, &[Operand::mem(Addr::Reg(r(2)))]),
            i(
                Op::JmpInd,
                &[Operand::Imm {
                    value: 0x2000,
                    width: ImmWidth::I32
                }]
            ),
        ])
    );
}

#[test]
fn condition_aliases_fold_into_mnemonics() {
    for (alias, cond) in [
        ("je", Cond::Z),
        ("jne", Cond::Nz),
        ("jc", Cond::B),
        ("jnae", Cond::B),
        ("jnle", Cond::G),
    ] {
        let got = code(&format!("main: {alias} main"));
        assert_eq!(
            got,
            enc(&[i(Op::Jcc, &[Operand::Cond(cond), Operand::Rel(-6)])]),
            "{alias}"
        );
    }
}

#[test]
fn immediate_widths_grow_to_fit_forward_labels() {
    // `far` is only known after layout; the immediate needs four bytes for it.
    let img = image(".text\nmain: mov r1, far\n halt\n.data\nfar: .byte 1");
    let far = sym(&img, "far");
    assert_eq!(far, 0x2000);
    assert_eq!(
        img.segments[0].data,
        enc(&[
            i(Op::Mov, &[Operand::Reg(r(1)), Operand::imm(far as i64)]),
            i(Op::Halt, &[])
        ])
    );
}

#[test]
fn layout_settles_when_sizes_depend_on_each_other() {
    // The jump table's entries depend on code sizes, which depend on the table's address.
    let img = image(
        "
        main:
            mov r1, [table + r2*8]
            mov r3, end - main
            jmp r1
        a:  mov r4, 1000
        b:  halt
        table: .qword a, b
        end:
        ",
    );
    round_trips(&img);
    let data = &img.segments[0].data;
    let table = (sym(&img, "table") - 0x1000) as usize;
    let a = u64::from_le_bytes(data[table..table + 8].try_into().unwrap());
    assert_eq!(a, sym(&img, "a"));
}

#[test]
fn expressions_labels_and_dot() {
    let img = image(
        "
        main: halt
        here: .qword ., here - main, (1 + 2) * 3, -1 >> 1, 'A', 0b1010 | 0o7, 4K
        ",
    );
    let data = &img.segments[0].data[1..];
    let q = |k: usize| i64::from_le_bytes(data[k * 8..k * 8 + 8].try_into().unwrap());
    assert_eq!(q(0), 0x1001);
    assert_eq!(q(1), 1);
    assert_eq!(q(2), 9);
    assert_eq!(q(3), -1);
    assert_eq!(q(4), 65);
    assert_eq!(q(5), 0b1111);
    assert_eq!(q(6), 4096);
}

#[test]
fn constants_with_equ_and_assignment_may_come_later() {
    let img = image("main: mov r1, LATER\n halt\nLATER = TWICE / 2\n.equ TWICE, 2 * 21");
    assert_eq!(
        img.segments[0].data[..5],
        enc(&[i(Op::Mov, &[Operand::Reg(r(1)), Operand::imm(21)])])[..]
    );
    let later = img.symbols.iter().find(|s| s.name == "LATER").unwrap();
    assert_eq!((later.addr, later.kind), (21, SymbolKind::Constant));
}

#[test]
fn data_directives() {
    let img = image(
        r#"
        main: halt
        .data
        d:  .byte 1, -1, 255, "hi"
            .word 0x1234, -2
            .dword 0xdeadbeef
            .qword -1
            .ascii "a\tb"
            .asciz "c\n", "\x41"
            .f64 1.5, -2e3
            .fill 3, 0xab
            .fill 2, 0x102, 2
        "#,
    );
    let mut want = vec![
        1, 0xff, 0xff, b'h', b'i', 0x34, 0x12, 0xfe, 0xff, 0xef, 0xbe, 0xad, 0xde,
    ];
    want.extend([0xff; 8]);
    want.extend(b"a\tbc\n\0A\0");
    want.extend(1.5f64.to_le_bytes());
    want.extend((-2000f64).to_le_bytes());
    want.extend([0xab, 0xab, 0xab, 0x02, 0x01, 0x02, 0x01]);
    let data = img
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::Data)
        .unwrap();
    assert_eq!(data.data, want);
}

#[test]
fn space_and_align() {
    let img = image(
        "
        main: halt
            .align 8
        after: halt
        .data
            .byte 1
            .align 4
        x:  .byte 2
            .space 3
        y:  .byte 3
            .space 8
        ",
    );
    let text = &img.segments[0];
    assert_eq!(
        text.data,
        [2, 1, 1, 1, 1, 1, 1, 1, 2],
        "code is padded with nop"
    );
    assert_eq!(sym(&img, "after"), 0x1008);
    let data = &img.segments[1];
    assert_eq!(sym(&img, "x"), 0x2004);
    assert_eq!(sym(&img, "y"), 0x2008);
    // Trailing `.space` is reserved memory, not file bytes.
    assert_eq!(data.data, [1, 0, 0, 0, 2, 0, 0, 0, 3]);
    assert_eq!(data.mem_size, 17);
}

#[test]
fn default_section_layout_is_page_aligned_in_kind_order() {
    let img = image(
        "
        .data
        d: .byte 1
        .bss
        b: .space 10
        .const
        c: .byte 2
        .text
        main: halt
        .data
        d2: .byte 3
        ",
    );
    let kinds: Vec<(SegmentKind, u64, u64)> = img
        .segments
        .iter()
        .map(|s| (s.kind, s.addr, s.mem_size))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (SegmentKind::Code, 0x1000, 1),
            (SegmentKind::Const, 0x2000, 1),
            (SegmentKind::Data, 0x3000, 2),
            (SegmentKind::Bss, 0x4000, 10),
        ]
    );
    assert_eq!(
        sym(&img, "d2"),
        0x3001,
        "a section continues where it stopped"
    );
    let perms: Vec<Perms> = img.segments.iter().map(|s| s.perms).collect();
    assert_eq!(perms, vec![Perms::RWX, Perms::R, Perms::RW, Perms::RW]);
    assert!(img.segments[3].data.is_empty());
}

#[test]
fn explicit_addresses_and_several_segments_of_one_kind() {
    let img = image(
        "
        .text 0x4000
        main: jmp other
        .data
        v: .qword 1
        .text 0x8000
        other: halt
        .text
        more: jmp main
        ",
    );
    let segs: Vec<(SegmentKind, u64, u64)> = img
        .segments
        .iter()
        .map(|s| (s.kind, s.addr, s.mem_size))
        .collect();
    assert_eq!(
        segs,
        vec![
            (SegmentKind::Data, 0x1000, 8),
            (SegmentKind::Code, 0x4000, 5),
            (SegmentKind::Code, 0x8000, 6)
        ]
    );
    assert_eq!(sym(&img, "more"), 0x8001);
    round_trips(&img);
}

#[test]
fn automatic_sections_skip_explicit_ones() {
    let img = image(".text 0x1000\nmain: halt\n.data\nd: .byte 1\n.const 0x2000\nc: .byte 2");
    assert_eq!(sym(&img, "d"), 0x3000);
}

#[test]
fn perms_and_wx() {
    let img = image(".wx\n.text\n.perms rwx\nmain: halt\n.data\n.perms r\nx: .byte 1");
    assert_eq!(img.flags, FLAG_WX);
    assert_eq!(img.segments[0].perms, Perms::RWX);
    assert_eq!(img.segments[1].perms, Perms::R);
    round_trips(&img);
}

#[test]
fn header_directives() {
    let img = image(".entry go\n.stack 64K\n.memory 2M\nmain: nop\ngo: halt");
    assert_eq!(img.entry, 0x1001);
    assert_eq!(img.stack_size, 64 * 1024);
    assert_eq!(img.memory_size, 2 << 20);
}

#[test]
fn default_entry_is_main_then_start_then_first_code() {
    assert_eq!(image("nop\nmain: halt").entry, 0x1001);
    assert_eq!(image("nop\nstart: halt").entry, 0x1001);
    assert_eq!(image(".data\n.byte 1\n.text\nnop\nhalt").entry, 0x1000);
}

#[test]
fn imports_in_order_of_first_appearance() {
    let img = image(
        "
        .import first
        N = 7
        main:
            hcall second
            hcall first
            hcall N
            hcall 3
            hcall third
            halt
        ",
    );
    assert_eq!(img.imports, vec!["first", "second", "third"]);
    let want = enc(&[
        i(Op::Hcall, &[Operand::U16(1)]),
        i(Op::Hcall, &[Operand::U16(0)]),
        i(Op::Hcall, &[Operand::U16(7)]),
        i(Op::Hcall, &[Operand::U16(3)]),
        i(Op::Hcall, &[Operand::U16(2)]),
        i(Op::Halt, &[]),
    ]);
    assert_eq!(img.segments[0].data, want);
}

#[test]
fn symbols_are_canonical_and_typed() {
    let img = image(
        "
        .data
        zed: .byte 1
        alpha: .byte 2
        .text
        main:
        .loop: jmp .loop
        K = 0x1000
        ",
    );
    let syms: Vec<(u64, SymbolKind, &str)> = img
        .symbols
        .iter()
        .map(|s| (s.addr, s.kind, s.name.as_str()))
        .collect();
    assert_eq!(
        syms,
        vec![
            (0x1000, SymbolKind::Code, "main"),
            (0x1000, SymbolKind::Code, "main.loop"),
            (0x1000, SymbolKind::Constant, "K"),
            (0x2000, SymbolKind::Data, "zed"),
            (0x2001, SymbolKind::Data, "alpha"),
        ]
    );
}

#[test]
fn local_labels_are_scoped_to_the_previous_global_label() {
    let img = image(
        "
        main:
        .loop: dec r1
            jnz .loop
        other:
        .loop: dec r2
            jnz .loop
            jmp main.loop
        ",
    );
    assert_eq!(sym(&img, "main.loop"), 0x1000);
    let other = sym(&img, "other.loop");
    assert_eq!(other, sym(&img, "other"));
    let data = &img.segments[0].data;
    // `jnz .loop` after `other` goes back 3 + 6 bytes to other.loop.
    let at = (other - 0x1000) as usize + 3;
    assert_eq!(
        data[at..at + 6],
        enc(&[i(Op::Jcc, &[Operand::Cond(Cond::Nz), Operand::Rel(-9)])])[..]
    );
}

#[test]
fn constant_pool_offsets_inside_cp() {
    let img = image(
        "
        main:
            lea r1, [cp + second]
            mov r2, [cp + second + 2]
            mov r3, second
            lea r4, [cp]
            halt
        .const
        first: .asciz \"ab\"
        second: .asciz \"cd\"
        ",
    );
    let second = sym(&img, "second");
    assert_eq!(second, 0x2003);
    let want = enc(&[
        i(Op::Lea, &[Operand::Reg(r(1)), Operand::mem(Addr::Const(3))]),
        i(Op::Mov, &[Operand::Reg(r(2)), Operand::mem(Addr::Const(5))]),
        i(Op::Mov, &[Operand::Reg(r(3)), Operand::imm(second as i64)]),
        i(Op::Lea, &[Operand::Reg(r(4)), Operand::mem(Addr::Const(0))]),
        i(Op::Halt, &[]),
    ]);
    assert_eq!(img.segments[0].data, want);
    round_trips(&img);
}

#[test]
fn indirection_depth() {
    let got = code("mov r1, [[[[0x100]]]]\nmov r1, [[r2 + 8]]");
    assert_eq!(
        got,
        enc(&[
            i(
                Op::Mov,
                &[
                    Operand::Reg(r(1)),
                    Operand::Mem(Mem {
                        addr: Addr::Abs(0x100),
                        depth: 3
                    })
                ]
            ),
            i(
                Op::Mov,
                &[
                    Operand::Reg(r(1)),
                    Operand::Mem(Mem {
                        addr: Addr::Based {
                            base: r(2),
                            disp: 8
                        },
                        depth: 1
                    })
                ]
            ),
        ])
    );
}

#[test]
fn macros_with_defaults_named_arguments_and_local_labels() {
    let img = image(
        "
        .macro countdown reg, from=3
            mov \\reg, \\from
        %%again:
            dec \\reg
            jnz %%again
        .endm
        main:
            countdown r1
            countdown from=5, reg=r2
            halt
        ",
    );
    let one = |reg: u8, from: i64| {
        enc(&[
            i(Op::Mov, &[Operand::Reg(r(reg)), Operand::imm(from)]),
            i(Op::Dec, &[Operand::Reg(r(reg))]),
            i(Op::Jcc, &[Operand::Cond(Cond::Nz), Operand::Rel(-9)]),
        ])
    };
    let mut want = one(1, 3);
    want.extend(one(2, 5));
    want.extend(enc(&[i(Op::Halt, &[])]));
    assert_eq!(img.segments[0].data, want);
    assert!(
        img.symbols.iter().all(|s| !s.name.contains("%%")),
        "macro-local labels are private"
    );
    round_trips(&img);
}

#[test]
fn macro_labels_with_unique_numbers_and_vararg() {
    let img = image(
        "
        .macro pushall first, rest:vararg
            push \\first
        .ifnb \\rest
            pushall \\rest
        .endif
        .endm
        .macro here
        _here\\@: nop
        .endm
        main:
            pushall r1, r2, r3
            here
            here
            halt
        ",
    );
    let want = enc(&[
        i(Op::Push, &[Operand::Reg(r(1))]),
        i(Op::Push, &[Operand::Reg(r(2))]),
        i(Op::Push, &[Operand::Reg(r(3))]),
        i(Op::Nop, &[]),
        i(Op::Nop, &[]),
        i(Op::Halt, &[]),
    ]);
    assert_eq!(img.segments[0].data, want);
    let heres: Vec<&str> = img
        .symbols
        .iter()
        .filter(|s| s.name.starts_with("_here"))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(heres.len(), 2);
    assert_ne!(heres[0], heres[1]);
}

#[test]
fn rept_with_counter_nested_and_inside_macros() {
    let got = code(
        "
        .rept 4, n
            mov r\\n, \\n
        .endr
        .rept 2, t
        .rept 2, s
        .if \\t != \\s
            mov r\\t, r\\s
        .endif
        .endr
        .endr
        .macro zero count
        .rept \\count, k
            xor r\\k, r\\k
        .endr
        .endm
            zero 2
        .rept 0
            this would not assemble
        .endr
        ",
    );
    let mut want: Vec<Instr> = (0..4)
        .map(|n| i(Op::Mov, &[Operand::Reg(r(n)), Operand::imm(n as i64)]))
        .collect();
    want.push(i(Op::Mov, &[Operand::Reg(r(0)), Operand::Reg(r(1))]));
    want.push(i(Op::Mov, &[Operand::Reg(r(1)), Operand::Reg(r(0))]));
    for k in 0..2 {
        want.push(i(Op::Xor, &[Operand::Reg(r(k)), Operand::Reg(r(k))]));
    }
    assert_eq!(got, enc(&want));
}

#[test]
fn rept_counts_may_use_earlier_constants_and_inner_variables_shadow() {
    let got = code(
        "
        N = 2
        .rept N + 1, n
        .rept 1, n
            push \\n
        .endr
        .endr
        ",
    );
    assert_eq!(got, enc(&vec![i(Op::Push, &[Operand::imm(0)]); 3]));
}

#[test]
fn irp_iterates_over_items() {
    let got = code(".irp reg, r3, r5, sp\n push \\reg\n.endr");
    assert_eq!(
        got,
        enc(&[
            i(Op::Push, &[Operand::Reg(r(3))]),
            i(Op::Push, &[Operand::Reg(r(5))]),
            i(Op::Push, &[Operand::Reg(Reg::SP)])
        ])
    );
}

#[test]
fn conditionals() {
    let got = code(
        "
        DEBUG = 0
        LEVEL = 2
        .if DEBUG
            brk
        .elif LEVEL == 1
            nop
        .elif LEVEL >= 2 && !DEBUG
            halt
        .else
            ret
        .endif
        .ifdef LEVEL
            pushf
        .endif
        .ifndef MISSING
            popf
        .endif
        .if 0
        .if 1
            brk
        .endif
        .else
            ret
        .endif
        ",
    );
    assert_eq!(
        got,
        enc(&[
            i(Op::Halt, &[]),
            i(Op::Pushf, &[]),
            i(Op::Popf, &[]),
            i(Op::Ret, &[])
        ])
    );
}

#[test]
fn labels_may_share_a_line_with_any_statement() {
    let img = image("main: .if 1\nnop\n.endif\nx: .rept 1\nnop\n.endr\n.macro m\nnop\n.endm\ny: m\nz: halt\njmp main\njmp x\njmp y\njmp z");
    assert_eq!(
        (
            sym(&img, "main"),
            sym(&img, "x"),
            sym(&img, "y"),
            sym(&img, "z")
        ),
        (0x1000, 0x1001, 0x1002, 0x1003)
    );
}

#[test]
fn parameters_are_not_substituted_in_strings_or_comments() {
    let img = image(".rept 1, n\nmain: halt ; \\n\n.asciz \"\\n\"\n.endr");
    assert_eq!(img.segments[0].data, [2, b'\n', 0]);
}

#[test]
fn seed_003_qbx_interpreter() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/qbx.s");
    let out = assemble_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let img = &out.image;
    // Instruction codes follow the list order, with the self-moves skipped.
    let code_of = |name: &str| sym(img, &format!("Q_{name}"));
    assert_eq!(code_of("noop"), 0);
    assert_eq!(code_of("halt"), 1);
    assert_eq!(code_of("moviwq3"), 5);
    assert_eq!(code_of("movwq0q1"), 6);
    assert_eq!(code_of("movwq3q2"), 17);
    assert_eq!(code_of("popwq3"), 33);
    assert!(img.symbols.iter().all(|s| s.name != "Q_movwq1q1"));
    // Every jump-table entry is the offset of its handler from `insn_base`.
    let table = img
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::Const)
        .unwrap();
    let base = sym(img, "insn_base");
    for s in img.symbols.iter().filter(|s| s.name.starts_with("Q_")) {
        let k = s.addr as usize;
        let entry = u16::from_le_bytes([table.data[2 * k], table.data[2 * k + 1]]) as u64;
        assert_eq!(
            base + entry,
            sym(img, &format!("IMPL_{}", &s.name[2..])),
            "{}",
            s.name
        );
    }
    // The handlers are generated code: every byte of the text segment decodes.
    let text = &img.segments[0].data;
    let mut pos = 0;
    while pos < text.len() {
        let (_, len) = vmkit_isa::decode(&text[pos..]).expect("decodes");
        pos += len;
    }
    // The QBX program and its memory.
    let qbx_mem = img
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::Data)
        .unwrap();
    assert_eq!(qbx_mem.mem_size, 1024);
    assert_eq!(qbx_mem.data[..4], [2, 0, 0xef, 0xbe]);
    round_trips(img);
}

#[test]
fn include_relative_to_the_including_file_and_cycles() {
    let dir = std::env::temp_dir().join(format!("vmkit-asm-include-{}", std::process::id()));
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        dir.join("main.s"),
        ".include \"lib/defs.s\"\nmain: mov r1, ANSWER\n twice r1\n halt\n",
    )
    .unwrap();
    std::fs::write(
        lib.join("defs.s"),
        ".include \"more.s\"\n.macro twice r\n add \\r, \\r\n.endm\n",
    )
    .unwrap();
    std::fs::write(lib.join("more.s"), "ANSWER = 42\n").unwrap();
    let out = assemble_file(&dir.join("main.s")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.image.segments[0].data,
        enc(&[
            i(Op::Mov, &[Operand::Reg(r(1)), Operand::imm(42)]),
            i(Op::Add, &[Operand::Reg(r(1)), Operand::Reg(r(1))]),
            i(Op::Halt, &[])
        ])
    );

    // A cycle, and an error inside an included file names that file.
    std::fs::write(lib.join("more.s"), ".include \"defs.s\"\nANSWER = 1 / 0\n").unwrap();
    let err = assemble_file(&dir.join("main.s")).unwrap_err();
    let cycle = err
        .0
        .iter()
        .find(|d| d.message.contains("includes itself"))
        .expect("cycle reported");
    assert_eq!(cycle.message, "`defs.s` includes itself");
    assert!(cycle.file.ends_with("more.s"), "{}", cycle.file);
    assert_eq!((cycle.line, cycle.col), (1, 10));
    let div = err
        .0
        .iter()
        .find(|d| d.message == "division by zero")
        .expect("division reported");
    assert!(div.file.ends_with("more.s"));
    assert_eq!((div.line, div.col), (2, 14));
    assert!(
        div.notes
            .iter()
            .any(|n| n.starts_with("in file included from")),
        "{:?}",
        div.notes
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn warnings_do_not_fail_assembly() {
    let out =
        asm("main: halt\nunused: nop\n_quiet: nop\nmov.b r1, 300\nmov.b r1, 255\nmov.b r1, -128");
    let msgs: Vec<&str> = out.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "label `unused` is never used",
            "value 300 does not fit in 8 bits; `.b` uses only its low 8 bits (44)"
        ]
    );
    assert_eq!((out.warnings[0].line, out.warnings[0].col), (2, 1));
}

#[test]
fn mnemonics_list_everything_the_assembler_accepts() {
    let all = vmkit_asm::mnemonics();
    for m in [
        "mov",
        "mov.b",
        "jz",
        "je",
        "cmovnle.d",
        "setc.w",
        "hcall",
        "jmp",
        "call",
    ] {
        assert!(all.iter().any(|x| x == m), "{m}");
    }
    for m in &all {
        let operands = match m.as_str() {
            _ if m.starts_with("cmov") => " r1, r2",
            _ if m.starts_with("set") => " r1",
            _ if m.starts_with('j') && m != "jmp" => " main",
            _ => "",
        };
        if !operands.is_empty() {
            asm(&format!("main: {m}{operands}"));
        }
    }
}

/// Every complete example in docs/assembler.md assembles (fragments say `...` or include
/// files that are not there).
#[test]
fn documentation_examples_assemble() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/assembler.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let mut blocks = 0;
    for block in doc.split("```asm\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        if body.contains("...") || body.contains(".include") {
            continue;
        }
        // Blocks that only define data get an instruction so that there is something to run.
        let src = format!("{body}\n.text\n_doc_end: halt\n");
        if let Err(e) = assemble_str("doc.s", &src) {
            panic!("documentation example does not assemble:\n{body}\n{e}");
        }
        blocks += 1;
    }
    assert!(blocks >= 10, "only {blocks} examples checked");
}
