//! The protector findings of issue 10: pointers at any alignment, code only pointers reach,
//! what protect changes and reports, the VM's names in the symbols, and images that are
//! protected already.

mod common;

use common::{devirt_check, run};
use vmkit_image::Image;
use vmkit_protect::devirtualize;
use vmkit_protect::{protect, Options, ProtectError, Report};

fn asm(src: &str) -> Image {
    vmkit_asm::assemble_str("t.s", src)
        .unwrap_or_else(|d| panic!("{d}\n{src}"))
        .image
}

fn build(plain: &Image, opts: Options) -> (Image, Report) {
    protect(plain, &opts).unwrap_or_else(|e| panic!("{e}"))
}

fn all(vms: usize) -> Options {
    Options {
        vms,
        ..Options::default()
    }
}

/// The protected image gives what the plain program gives: output, status, registers.
fn same_behaviour(plain: &Image, image: &Image) {
    let (want, _) = run(plain, plain, &[], 1_000_000);
    let (got, _) = run(image, plain, &[], 100_000_000);
    assert_eq!(got, want);
}

/// `work` has a label `mid` inside it that only a stored pointer names; `main` calls
/// `work` and then `mid` through the pointer. `place` puts the pointer somewhere.
fn pointer_program(place: &str) -> String {
    format!(
        "main:\n    mov r1, 5\n    call work\n    mov r2, [ptr]\n    call r2\n    halt\n\
         work:\n    add r1, 1\nmid:\n    hcall print_int\n    ret\n{place}"
    )
}

#[test]
fn a_pointer_into_a_function_at_any_alignment_keeps_it_native() {
    let mut places = Vec::new();
    for pad in 0..8 {
        for word in [".qword mid", ".dword mid"] {
            places.push(format!(
                ".data\n    .space {pad}\n    .byte 7\nptr: {word}\n"
            ));
            places.push(format!(
                ".const\n    .byte 1\n    .space {pad}\nptr: {word}\n"
            ));
            // Data among the code, after the last instruction, where nothing runs.
            places.push(format!("    .byte 0xff\n    .space {pad}\nptr: {word}\n"));
        }
    }
    for place in places {
        let src = pointer_program(&place);
        let plain = asm(&src);
        let (image, report) = build(&plain, all(1));
        let work = report.skipped.iter().find(|s| s.name == "work");
        assert!(
            work.is_some_and(|s| s.reason.contains("refers to")),
            "{:?}\n{src}",
            report.skipped
        );
        same_behaviour(&plain, &image);
    }
}

#[test]
fn switch_cases_that_jump_back_keep_the_function_native() {
    let src = "main:\n    mov r1, 2\n    call switch\n    hcall print_int\n    mov r1, 0\n    call switch\n    hcall print_int\n    halt\n\
switch:\n    cmp r1, 3\n    jae .end\n    mov r2, r1\n    shl r2, 3\n    add r2, table\n    jmp [r2]\n.end:\n    add r1, 100\n    ret\n\
case0:\n    mov r1, 10\n    jmp switch.end\ncase1:\n    mov r1, 11\n    ret\ncase2:\n    mov r1, 12\n    jmp switch.end\n\
.data\ntable: .qword case0, case1, case2\n";
    let plain = asm(src);
    let (image, report) = build(&plain, all(1));
    let s = report.skipped.iter().find(|s| s.name == "switch");
    assert!(
        s.is_some_and(|s| s.reason.contains("native code reached through a pointer")),
        "{:?}",
        report.skipped
    );
    assert_eq!(report.pointer_code.len(), 3, "{:?}", report.pointer_code);
    same_behaviour(&plain, &image);

    // Cases that only return: the switch runs in the VM, and the report says that its
    // indirect jump leaves it for native cases.
    let src = src
        .replace("    cmp r1, 3\n    jae .end\n", "")
        .replace("jmp switch.end", "ret");
    let plain = asm(&src);
    let (image, report) = build(&plain, all(1));
    let sw = report
        .protected
        .iter()
        .find(|p| p.name == "switch")
        .unwrap();
    assert_eq!(sw.indirect_jumps.len(), 1);
    assert_eq!(report.pointer_code.len(), 3, "{:?}", report.pointer_code);
    same_behaviour(&plain, &image);
    devirt_check(&plain, &image, &[], 1_000_000, "switch");
}

#[test]
fn a_function_only_pointers_reach_can_be_named_and_devirtualized() {
    let src =
        "main:\n    mov r1, 3\n    mov r2, callback\n    call r2\n    hcall print_int\n    halt\n\
callback:\n    add r1, 1\n    shl r1, 2\n    mov r0, r1\n    ret\n\
dead:\n    mov r1, 9\n    hcall print_int\n    ret\n";
    let plain = asm(src);
    let (_, report) = build(&plain, all(1));
    assert!(report.protected.iter().all(|p| p.name != "callback"));
    assert_eq!(report.pointer_code.len(), 1, "{:?}", report.pointer_code);
    assert!(
        report.unreached.iter().any(|u| u.1 == "dead"),
        "{:?}",
        report.unreached
    );
    let callback = plain
        .symbols
        .iter()
        .find(|s| s.name == "callback")
        .unwrap()
        .addr;
    for name in ["callback".to_string(), format!("{callback:#x}")] {
        let (image, report) = build(
            &plain,
            Options {
                vms: 1,
                only: vec!["main".into(), name.clone()],
                ..Options::default()
            },
        );
        assert!(
            report.protected.iter().any(|p| p.start == callback),
            "{name}"
        );
        same_behaviour(&plain, &image);
        devirt_check(&plain, &image, &[], 1_000_000, &name);
        // The devirtualizer finds it by its jump to an entry stub, not by a symbol.
        let mut stripped = image.clone();
        stripped.symbols.clear();
        let d = devirtualize(&stripped).unwrap();
        assert!(d.functions.iter().any(|f| f.start == callback));
    }
}

#[test]
fn an_already_protected_image_is_refused_as_such() {
    let plain = asm("main:\n    mov r1, 1\n    hcall print_int\n    halt\n");
    let (image, report) = build(&plain, all(1));
    assert_eq!(
        protect(&image, &all(1)).unwrap_err(),
        ProtectError::AlreadyProtected(report.vms[0].entry)
    );
    let mut stripped = image.clone();
    stripped.symbols.clear();
    let err = protect(&stripped, &all(1)).unwrap_err();
    assert!(err.to_string().contains("already protected"), "{err}");
}

const SMALL_MEMORY: &str =
    ".memory 32K\nmain:\n    mov r1, sp\n    hcall print_hex\n    call f\n    halt\n\
f:\n    mov r1, 7\n    hcall print_int\n    ret\n";

#[test]
fn grown_memory_is_reported_and_devirt_restores_it() {
    let plain = asm(SMALL_MEMORY);
    assert_eq!(plain.memory_size, 0x8000);
    let (image, report) = build(&plain, all(2));
    let (was, now) = report.memory_grown.expect("reported");
    assert_eq!((was, image.memory_size), (0x8000, now));
    assert!(now > was);
    let d = devirtualize(&image).unwrap();
    assert_eq!(d.image.memory_size, 0x8000);
    // The whole state, sp included, is the plain program's again.
    devirt_check(&plain, &image, &[], 1_000_000, "small memory");
    // A default memory size needs no growing.
    let (_, report) = build(
        &asm("main:\n    call f\n    halt\nf:\n    mov r1, 1\n    ret\n"),
        all(1),
    );
    assert_eq!(report.memory_grown, None);
}

#[test]
fn vms_capped_at_the_function_count_is_reported() {
    let plain = asm(SMALL_MEMORY);
    let (_, report) = build(&plain, all(5));
    assert_eq!(report.vms_capped, Some(5));
    assert_eq!(report.profile.vms.len(), 2);
    let (_, report) = build(&plain, all(2));
    assert_eq!(report.vms_capped, None);
}

#[test]
fn the_vm_is_named_in_the_symbols_and_devirt_does_not_need_them() {
    let plain = asm(SMALL_MEMORY);
    let (image, report) = build(&plain, all(2));
    let at = |name: &str| {
        image
            .symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.addr)
    };
    for (k, vm) in report.vms.iter().enumerate() {
        assert_eq!(at(&format!("vm{k}.vm_entry")), Some(vm.entry));
        assert_eq!(at(&format!("vm{k}.calc_jmp")), Some(vm.dispatch));
        assert_eq!(at(&format!("vm{k}.vm_exit")), Some(vm.exit));
        let handlers = image
            .symbols
            .iter()
            .filter(|s| s.name.starts_with(&format!("vm{k}.handler_")))
            .filter(|s| !s.name.ends_with("_table"))
            .count();
        assert_eq!(handlers, 256);
    }
    // The devirtualized program has none of them; a stripped image devirtualizes alike.
    let d = devirtualize(&image).unwrap();
    assert!(d.image.symbols.iter().all(|s| !s.name.starts_with("vm")));
    let mut stripped = image.clone();
    stripped.symbols.clear();
    let ds = devirtualize(&stripped).unwrap();
    assert_eq!(ds.image.segments, d.image.segments);
    assert_eq!(ds.image.memory_size, d.image.memory_size);
    // Asked not to, the protector names nothing.
    let (quiet, _) = build(
        &plain,
        Options {
            vms: 2,
            strip_vm_symbols: true,
            ..Options::default()
        },
    );
    assert_eq!(quiet.symbols, plain.symbols);
}

#[test]
fn code_that_uses_memory_below_sp_is_reported() {
    let plain = asm("main:\n    call f\n    halt\nf:\n    mov r1, 42\n    mov [sp - 8], r1\n    mov r1, 1\n    hcall print_int\n    mov r1, [sp - 8]\n    hcall print_int\n    lea r2, [sp - 8]\n    ret\n");
    let (_, report) = build(&plain, all(1));
    assert_eq!(report.below_sp.len(), 2, "{:?}", report.below_sp);
}

#[test]
fn a_damaged_header_memory_size_is_blamed_on_the_header() {
    let plain = asm(SMALL_MEMORY);
    let (mut image, _) = build(&plain, all(1));
    image.memory_size = 0x1000;
    let Err(err) = devirtualize(&image) else {
        panic!("a damaged header devirtualized")
    };
    assert!(
        matches!(err, vmkit_protect::DevirtError::BadHeader(_)),
        "{err}"
    );
}

/// Found by the generated tests once words were read at every offset: `helper` is never
/// called, and one of the words across its instructions' encodings is an address inside
/// `main`. Code that a label names and that decodes into whole paths is code, not data.
#[test]
fn uncalled_code_is_not_read_as_data() {
    let src = "main:
    mov r8, -140261515700840
    mov r9, 9093973020694796264
    mov r10, -4855463516477822049
    mov r11, 5758791876909804168
    mov r12, -2144708027377739886
    mov r13, 3
    mov r14, buf
    mov r15, 2
.loop:
    mov r12, r11
    or.b r12, 3
    idiv.w r7, r12
    xor.q r6, [buf + 16]
    not.b r12
    mov r12, r7
    or.b r12, 3
    rem.w r7, r12
    sub.q [r14], 590924820912211889
    rol.w [[ptr]], r5
    fmax r4, -411871258
    jns .l9
    not.q [r14]
    rol.d r7, -88
.l9:
    imul.b [r14], 7976228869794192871
    dec r15
    jnz .loop
    mov r1, r0
    hcall print_hex
    halt
helper:
    mov r12, 0x12345678
    adc.d [r14 + 168], r7
    lea r1, [r14 + 16]
    ret
.data
ptr: .qword buf + 8
buf: .space 512
";
    let plain = asm(src);
    for seed in 0..4 {
        let (image, report) = build(
            &plain,
            Options {
                seed,
                vms: 1,
                ..Options::default()
            },
        );
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert!(report.unreached.iter().any(|u| u.1 == "helper"));
        same_behaviour(&plain, &image);
    }
}

/// `movzx.w r, imm` loads a whole register from a 16-bit immediate: an address inside a
/// function counts as one, as `mov r, imm` (the devirtualizer's form of it) does.
#[test]
fn a_zero_or_sign_extended_immediate_counts_as_an_address() {
    for load in ["movzx.w r2, f + 3", "movsx.w r2, f + 3", "mov r2, f + 3"] {
        let src = format!(
            "main:\n    {load}\n    call f\n    halt\nf:\n    mov r1, 1\n    mov r0, r1\n    ret\n"
        );
        let (_, report) = build(&asm(&src), all(1));
        assert!(
            report.skipped.iter().any(|s| s.name == "f"),
            "{load}: {:?}",
            report.skipped
        );
    }
}
