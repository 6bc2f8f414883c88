//! Property tests: the assembler reads exactly what `format_instr` writes, the disassembler
//! writes what the assembler reads back to the same image, and no input makes either panic.

use proptest::prelude::*;
use vmkit_asm::{assemble_str, disassemble};
use vmkit_image::{Image, Perms, Segment, SegmentKind, Symbol, SymbolKind, FLAG_WX};
use vmkit_isa::{
    format_instr, Addr, Cond, Form, ImmWidth, Instr, Mem, NoSymbols, Operand, Reg, Size, Slot, OPS,
};

// ---- random instructions from the ISA table ---------------------------------------------

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..17).prop_map(|n| Reg::new(n).unwrap())
}

fn imm() -> impl Strategy<Value = Operand> {
    prop_oneof![
        any::<i8>().prop_map(|v| v as i64),
        any::<i32>().prop_map(|v| v as i64),
        any::<i64>(),
        -300i64..300,
    ]
    .prop_flat_map(|value| {
        let widths: Vec<ImmWidth> = [ImmWidth::I8, ImmWidth::I32, ImmWidth::I64]
            .into_iter()
            .filter(|w| w.holds(value))
            .collect();
        proptest::sample::select(widths).prop_map(move |width| Operand::Imm { value, width })
    })
}

fn disp() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), -300i32..300, any::<i32>()]
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        reg().prop_map(Addr::Reg),
        (reg(), disp()).prop_map(|(base, disp)| Addr::Based { base, disp }),
        (proptest::option::of(reg()), reg(), 0u8..4, disp()).prop_map(
            |(base, index, scale_log2, disp)| {
                Addr::Indexed {
                    base,
                    index,
                    scale_log2,
                    disp,
                }
            }
        ),
        any::<u32>().prop_map(Addr::Abs),
        any::<u32>().prop_map(Addr::Const),
    ]
}

fn mem() -> impl Strategy<Value = Operand> {
    (addr(), 0u8..=Mem::MAX_DEPTH).prop_map(|(addr, depth)| Operand::Mem(Mem { addr, depth }))
}

fn operand(slot: Slot) -> BoxedStrategy<Operand> {
    match slot {
        Slot::Dst => prop_oneof![reg().prop_map(Operand::Reg), mem()].boxed(),
        Slot::Src => prop_oneof![reg().prop_map(Operand::Reg), imm(), mem()].boxed(),
        Slot::Mem => mem().boxed(),
        Slot::Cond => proptest::sample::select(Cond::ALL.to_vec())
            .prop_map(Operand::Cond)
            .boxed(),
        Slot::Rel => any::<i32>().prop_map(Operand::Rel).boxed(),
        Slot::U8 => any::<u8>().prop_map(Operand::U8).boxed(),
        Slot::U16 => any::<u16>().prop_map(Operand::U16).boxed(),
    }
}

/// Any valid instruction: an entry of the ISA table, a size, and operands of its slots' kinds.
fn instr() -> impl Strategy<Value = Instr> {
    (0..OPS.len(), proptest::sample::select(Size::ALL.to_vec())).prop_flat_map(|(k, size)| {
        let info = &OPS[k];
        let size = if info.form == Form::Sized {
            size
        } else {
            Size::Q
        };
        let slots: Vec<BoxedStrategy<Operand>> = info.slots.iter().map(|s| operand(*s)).collect();
        slots.prop_map(move |ops| Instr::new(info.op, size, &ops))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// What `format_instr` prints assembles to exactly the instruction's encoding.
    #[test]
    fn formatted_instructions_assemble_to_their_encoding(instr in instr(), at in 0x1000u64..0x10_0000) {
        let bytes = instr.encode().unwrap();
        let text = format_instr(&instr, at, &NoSymbols);
        let src = format!(".text {at:#x}\n{text}\n");
        let out = assemble_str("p.s", &src).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(&out.image.segments[0].data, &bytes, "{}", text);
    }
}

// ---- random programs with labels and branches -------------------------------------------

/// One line of a random program; `L` are code labels, `D` data labels, `C` const labels.
fn code_line() -> BoxedStrategy<String> {
    let l = || (0usize..6).prop_map(|k| format!("L{k}"));
    let d = || (0usize..4).prop_map(|k| format!("D{k}"));
    let c = || (0usize..3).prop_map(|k| format!("C{k}"));
    let cond = || proptest::sample::select(vec!["z", "nz", "l", "ge", "a", "be", "s", "o"]);
    prop_oneof![
        l().prop_map(|t| format!("jmp {t}")),
        (cond(), l()).prop_map(|(c, t)| format!("j{c} {t}")),
        l().prop_map(|t| format!("call {t}")),
        l().prop_map(|t| format!("mov r1, {t}")),
        (d(), -8i64..8).prop_map(|(t, k)| format!("mov.d r2, [{t} + {k}]")),
        (c(), 0i64..4).prop_map(|(t, k)| format!("lea r3, [cp + {t} + {k}]")),
        d().prop_map(|t| format!("add r4, [r5 + {t}]")),
        d().prop_map(|t| format!("mov [[{t}]], r6")),
        (any::<i64>()).prop_map(|v| format!("mov r7, {v}")),
        (-200i64..200).prop_map(|v| format!("cmp.b r1, {v}")),
        Just("mov r1, dword 5".to_string()),
        Just("mov r1, [r2 + dword 0]".to_string()),
        Just("sys write".to_string()),
        proptest::sample::select(vec!["print", "read_line", "exit_now"])
            .prop_map(|n| format!("hcall {n}")),
        Just("ret".to_string()),
        Just(".align 4".to_string()),
        proptest::collection::vec(any::<u8>(), 1..6).prop_map(|b| format!(
            ".byte {}",
            b.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
        )),
        instr().prop_map(|i| format_instr(&i, 0x1000, &NoSymbols)),
    ]
    .boxed()
}

fn data_line() -> BoxedStrategy<String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..10).prop_map(|b| format!(
            ".byte {}",
            b.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
        )),
        (0usize..6).prop_map(|k| format!(".qword L{k}")),
        "[a-z ]{0,12}".prop_map(|s| format!(".asciz \"{s}\"")),
        (0u64..20).prop_map(|n| format!(".space {n}")),
        Just(".align 8".to_string()),
    ]
    .boxed()
}

/// Sections in random order, each label defined exactly once somewhere in its section.
fn program() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(code_line(), 6..40),
        proptest::collection::vec(data_line(), 4..12),
        proptest::collection::vec(data_line(), 3..8),
        0u64..64,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(code, data, consts, bss, wx, explicit)| {
            let mut src = String::new();
            if wx {
                src.push_str(".wx\n.stack 4K\n");
            }
            src.push_str(if explicit {
                ".text 0x8000\nmain:\n"
            } else {
                ".text\nmain:\n"
            });
            let every = code.len() / 6;
            for (k, line) in code.iter().enumerate() {
                if k % every == 0 && k / every < 6 {
                    src.push_str(&format!("L{}:\n", k / every));
                }
                src.push_str(&format!("    {line}\n"));
            }
            src.push_str("    halt\n.data\n");
            for (k, line) in data.iter().enumerate() {
                if k < 4 {
                    src.push_str(&format!("D{k}:\n"));
                }
                src.push_str(&format!("    {line}\n"));
            }
            src.push_str(if explicit {
                ".const 0x4000\n"
            } else {
                ".const\n"
            });
            for (k, line) in consts.iter().enumerate() {
                if k < 3 {
                    src.push_str(&format!("C{k}:\n"));
                }
                src.push_str(&format!(
                    "    {}\n",
                    line.replace(".qword L", ".qword D")
                        .replace("D4", "D0")
                        .replace("D5", "D1")
                ));
            }
            src.push_str(&format!(
                ".bss\nB: .space {bss}\nB_end:\n.equ SIZE, B_end - B\n"
            ));
            src
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Assemble, disassemble, assemble: the same image, byte for byte.
    #[test]
    fn programs_survive_disassembly(src in program()) {
        let first = assemble_str("p.s", &src).map_err(|e| TestCaseError::fail(format!("{src}\n{e}")))?;
        let text = disassemble(&first.image);
        let second = assemble_str("d.s", &text).map_err(|e| TestCaseError::fail(format!("{src}\n----\n{text}\n{e}")))?;
        prop_assert!(second.image.to_bytes() == first.image.to_bytes(), "{}\n----\n{}", src, text);
    }
}

// ---- arbitrary images --------------------------------------------------------------------

fn random_image() -> impl Strategy<Value = Image> {
    (
        proptest::collection::vec(any::<u8>(), 1..300),
        0u64..40,
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec((0usize..340, any::<bool>()), 0..8),
        proptest::collection::vec((0usize..40, any::<bool>()), 0..4),
        proptest::collection::vec("[a-z][a-z0-9_]{0,6}", 0..3),
        any::<bool>(),
        0u8..8,
    )
        .prop_map(
            |(code, extra, consts, code_labels, const_labels, imports, wx, perms)| {
                let mut img = Image::new(0x1000);
                let mut text = Segment::new(SegmentKind::Code, 0x1000, code.clone());
                text.mem_size += extra;
                if perms & 4 != 0 {
                    text.perms = Perms::RWX;
                }
                img.segments.push(text);
                if !consts.is_empty() {
                    img.segments
                        .push(Segment::new(SegmentKind::Const, 0x3000, consts.clone()));
                }
                let mut data = Segment::new(
                    SegmentKind::Data,
                    0x4000,
                    consts.iter().rev().copied().collect(),
                );
                data.mem_size += extra;
                if perms & 1 != 0 {
                    data.perms = Perms::R;
                }
                // Empty sections make no segment.
                if data.mem_size > 0 {
                    img.segments.push(data);
                }
                img.segments.push(Segment {
                    kind: SegmentKind::Bss,
                    perms: Perms::RW,
                    addr: 0x5000,
                    mem_size: 64,
                    data: vec![],
                });
                let mut names = std::collections::HashSet::new();
                for (k, (off, is_code)) in code_labels.iter().enumerate() {
                    let name = format!("l{k}");
                    let addr = 0x1000 + (*off as u64).min(code.len() as u64 + extra);
                    names.insert(name.clone());
                    img.symbols.push(Symbol {
                        addr,
                        kind: if *is_code {
                            SymbolKind::Code
                        } else {
                            SymbolKind::Data
                        },
                        name,
                    });
                }
                for (k, (off, _)) in const_labels.iter().enumerate() {
                    if consts.is_empty() {
                        break;
                    }
                    let name = format!("c{k}");
                    img.symbols.push(Symbol {
                        addr: 0x3000 + (*off as u64).min(consts.len() as u64),
                        kind: SymbolKind::Data,
                        name,
                    });
                }
                img.symbols.push(Symbol {
                    addr: 77,
                    kind: SymbolKind::Constant,
                    name: "K".into(),
                });
                img.symbols.push(Symbol {
                    addr: 0x4000 + extra / 2,
                    kind: SymbolKind::Data,
                    name: "in_data".into(),
                });
                img.symbols.push(Symbol {
                    addr: 0x5000 + 64,
                    kind: SymbolKind::Data,
                    name: "bss_end".into(),
                });
                img.symbols.sort_by(|a, b| {
                    (a.addr, a.kind as u8, &a.name).cmp(&(b.addr, b.kind as u8, &b.name))
                });
                let mut seen = std::collections::HashSet::new();
                img.imports = imports
                    .into_iter()
                    .filter(|n| seen.insert(n.clone()) && !names.contains(n))
                    .collect();
                if wx {
                    img.flags = FLAG_WX;
                    img.stack_size = 0x2000;
                    img.memory_size = 0x10_0000;
                }
                img
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Code segments of arbitrary bytes (with labels anywhere, even inside instructions)
    /// disassemble to text that assembles back to the same image.
    #[test]
    fn arbitrary_code_bytes_survive_disassembly(img in random_image()) {
        img.validate().unwrap();
        let text = disassemble(&img);
        let again = assemble_str("d.s", &text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert!(again.image.to_bytes() == img.to_bytes(), "{}", text);
    }
}

/// Anything at all, valid or not.
fn wild_image() -> impl Strategy<Value = Image> {
    let segment = (
        1u8..5,
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(kind, perms, addr, mem_size, data)| Segment {
            kind: match kind {
                1 => SegmentKind::Code,
                2 => SegmentKind::Data,
                3 => SegmentKind::Const,
                _ => SegmentKind::Bss,
            },
            perms: Perms(perms),
            addr: if addr % 3 == 0 {
                u64::MAX - addr % 64
            } else {
                addr % 0x10000
            },
            mem_size: if mem_size % 5 == 0 {
                mem_size
            } else {
                mem_size % 100
            },
            data,
        });
    let symbol = (any::<u64>(), 1u8..4, "\\PC{0,8}").prop_map(|(addr, kind, name)| Symbol {
        addr: if addr % 2 == 0 { addr % 0x10000 } else { addr },
        kind: match kind {
            1 => SymbolKind::Code,
            2 => SymbolKind::Data,
            _ => SymbolKind::Constant,
        },
        name,
    });
    (
        proptest::collection::vec(segment, 0..4),
        proptest::collection::vec(symbol, 0..8),
        proptest::collection::vec("\\PC{0,8}", 0..4),
        any::<u64>(),
        any::<u16>(),
    )
        .prop_map(|(segments, symbols, imports, entry, flags)| Image {
            flags,
            entry,
            memory_size: entry / 3,
            stack_size: entry / 7,
            segments,
            imports,
            symbols,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn disassembling_any_image_never_panics(img in wild_image()) {
        let text = disassemble(&img);
        let _ = assemble_str("wild.s", &text);
    }
}

// ---- no input panics ------------------------------------------------------------------------

/// Text made of assembler vocabulary, so that the parser gets deep rather than failing at the
/// first character.
fn soup() -> impl Strategy<Value = String> {
    let words = vec![
        "mov",
        "add.b",
        "jz",
        "jmp",
        "call",
        "lea",
        "sys",
        "hcall",
        "setnz.w",
        "cmovl",
        "halt",
        "r1",
        "r15",
        "sp",
        "cp",
        "byte",
        "dword",
        "qword",
        "[",
        "]",
        "[[",
        "]]",
        "(",
        ")",
        "+",
        "-",
        "*",
        "/",
        "%",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "~",
        "!",
        "==",
        ",",
        ":",
        "=",
        ".",
        "$",
        "'a'",
        "'\\n'",
        "\"s\\x41\"",
        "0x10",
        "0b1",
        "-1",
        "4K",
        "1.5",
        "label",
        ".loop",
        "main",
        "%%x",
        "\\n",
        "\\@",
        "\\()",
        ".text",
        ".data 0x2000",
        ".const",
        ".bss",
        ".byte",
        ".word",
        ".qword",
        ".ascii",
        ".asciz",
        ".f64",
        ".fill",
        ".space",
        ".align",
        ".equ",
        ".entry",
        ".stack",
        ".memory",
        ".wx",
        ".import",
        ".perms",
        ".macro m a",
        ".endm",
        ".rept 3, n",
        ".irp x, 1, 2",
        ".endr",
        ".if",
        ".ifdef",
        ".ifb",
        ".elif",
        ".else",
        ".endif",
        ".include \"x\"",
        "m",
        "\n",
        "\n",
        "\n",
        ";",
        "\t",
        " ",
    ];
    proptest::collection::vec(proptest::sample::select(words), 0..60).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn vocabulary_soup_never_panics(src in soup()) {
        let _ = assemble_str("soup.s", &src);
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let _ = assemble_str("any.s", &src);
    }

    #[test]
    fn arbitrary_lines_of_ascii_never_panic(lines in proptest::collection::vec("[ -~\t]{0,40}", 0..12)) {
        let _ = assemble_str("lines.s", &lines.join("\n"));
    }

    /// Diagnostics render whatever their positions.
    #[test]
    fn diagnostics_render(src in soup()) {
        if let Err(d) = assemble_str("soup.s", &src) {
            let _ = d.to_string();
        }
    }
}

#[test]
fn exponential_macros_and_deep_expressions_are_cut_short() {
    let e = assemble_str("x.s", ".macro m\n m\n m\n.endm\nmain: m").unwrap_err();
    assert!(
        e.0.iter()
            .any(|d| d.message.contains("nested more than 100 levels")),
        "{e}"
    );
    let deep = format!(
        "main: mov r1, {}1{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(assemble_str("x.s", &deep).is_err());
    let long = format!("main: mov r1, {}", vec!["1"; 100_000].join("+"));
    assert!(assemble_str("x.s", &long).is_err());
}

#[test]
fn long_chains_of_constants_evaluate_without_recursion() {
    // Each constant is defined in terms of the next one, so evaluation must follow a chain
    // 20000 deep, in layout and in `.rept` counts.
    let chain: String = (0..20_000)
        .map(|k| format!("C{k} = C{} + 1\n", k + 1))
        .collect();
    let src = format!("main: mov r1, C0\n halt\n{chain}C20000 = 0\n");
    let out = assemble_str("x.s", &src).unwrap_or_else(|e| panic!("{e}"));
    let want = Instr::new(
        vmkit_isa::Op::Mov,
        Size::Q,
        &[Operand::Reg(Reg::r(1)), Operand::imm(20_000)],
    );
    let want = want.encode().unwrap();
    assert_eq!(out.image.segments[0].data[..want.len()], want[..]);
    let chain: String = (1..=20_000)
        .map(|k| format!("C{k} = C{} + 1\n", k - 1))
        .collect();
    let src = format!("C0 = 0\n{chain}.rept C20000 - 19998\nmain: halt\n.endr");
    let e = assemble_str("x.s", &src).unwrap_err();
    assert_eq!(
        e.0[0].message, "`main` is already defined",
        "the count was 2"
    );
}
