//! Generated programs, terminating by construction (a counted loop whose body has only
//! forward branches, and calls to leaf functions), protected under random seeds and VM
//! counts, end in the same state as the plain program: registers, flags, memory, output.

mod common;

use common::{devirt_check, run};
use proptest::prelude::*;
use vmkit_protect::{protect, Options};

const SIZES: [&str; 4] = ["b", "w", "d", "q"];
const CONDS: [&str; 14] = [
    "o", "no", "b", "ae", "z", "nz", "be", "a", "s", "ns", "l", "ge", "le", "g",
];

/// Registers the random instructions may change: r0..r12. r13 is a small index, r14 the
/// buffer, r15 the loop counter.
fn reg() -> impl Strategy<Value = String> {
    (0..13u8).prop_map(|n| format!("r{n}"))
}

fn mem() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..31u32).prop_map(|k| format!("[r14 + {}]", k * 8)),
        (0..4u32).prop_map(|s| format!("[r14 + r13*{}]", 1 << s)),
        Just("[buf + 16]".to_string()),
        Just("[[ptr]]".to_string()),
        Just("[r14]".to_string()),
    ]
}

fn src() -> impl Strategy<Value = String> {
    prop_oneof![
        reg(),
        any::<i8>().prop_map(|v| v.to_string()),
        any::<i32>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        mem(),
    ]
}

fn dst() -> impl Strategy<Value = String> {
    prop_oneof![3 => reg(), 1 => mem()]
}

fn size() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&SIZES[..])
}

fn cond() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&CONDS[..])
}

/// One instruction (or a balanced group), as source lines.
fn instr() -> impl Strategy<Value = String> {
    let alu = prop::sample::select(vec![
        "mov", "add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test", "mul", "imul",
        "mulh", "imulh", "shl", "shr", "sar", "rol", "ror",
    ]);
    let unary = prop::sample::select(vec!["neg", "not", "inc", "dec", "bswap"]);
    let divs = prop::sample::select(vec!["div", "idiv", "rem", "irem"]);
    let fops = prop::sample::select(vec!["fadd", "fsub", "fmul", "fdiv", "fmin", "fmax"]);
    let funary = prop::sample::select(vec!["fsqrt", "fneg", "fabs", "cvtif", "cvtfi"]);
    prop_oneof![
        6 => (alu, size(), dst(), src()).prop_filter_map("one memory operand", |(op, s, d, x)| {
            (!(d.starts_with('[') && x.starts_with('['))).then(|| format!("{op}.{s} {d}, {x}"))
        }),
        2 => (unary, size(), dst()).prop_map(|(op, s, d)| format!("{op}.{s} {d}")),
        // Divisors forced odd, so never zero; MIN / -1 stays possible only for -1 | 1.
        1 => (divs, size(), reg(), reg()).prop_map(|(op, s, d, x)| {
            format!("mov r12, {x}\n    or.b r12, 3\n    {op}.{s} {d}, r12")
        }),
        1 => (prop::sample::select(vec!["movzx", "movsx"]), size(), reg(), src())
            .prop_map(|(op, s, d, x)| format!("{op}.{s} {d}, {x}")),
        1 => (size(), reg(), reg()).prop_map(|(s, a, b)| format!("xchg.{s} {a}, {b}")),
        1 => (size(), reg(), mem()).prop_map(|(s, a, m)| format!("xchg.{s} {a}, {m}")),
        1 => (cond(), size(), dst()).prop_map(|(c, s, d)| format!("set{c}.{s} {d}")),
        1 => (cond(), size(), reg(), src()).prop_map(|(c, s, d, x)| format!("cmov{c}.{s} {d}, {x}")),
        1 => (reg(), mem()).prop_map(|(d, m)| format!("lea {d}, {m}")),
        1 => (size(), src(), reg()).prop_map(|(s, x, d)| format!("push.{s} {x}\n    pop.{s} {d}")),
        1 => (reg(), src()).prop_map(|(d, x)| format!("pushf\n    add {d}, {x}\n    popf")),
        1 => (fops, reg(), src()).prop_map(|(op, d, x)| format!("{op} {d}, {x}")),
        1 => (funary, reg(), src()).prop_map(|(op, d, x)| format!("{op} {d}, {x}")),
        1 => (reg(), reg()).prop_map(|(a, b)| format!("fcmp {a}, {b}")),
        1 => Just("call helper".to_string()),
    ]
}

/// The loop body: instructions with forward conditional branches over some of them.
fn body() -> impl Strategy<Value = Vec<(String, Option<&'static str>)>> {
    prop::collection::vec((instr(), prop::option::weighted(0.2, cond())), 1..24)
}

fn program(
    init: Vec<i64>,
    body: Vec<(String, Option<&'static str>)>,
    helper: Vec<String>,
    iterations: u8,
) -> String {
    let mut s = String::from("main:\n");
    for (n, v) in init.iter().enumerate() {
        s += &format!("    mov r{n}, {v}\n");
    }
    s += "    mov r13, 3\n    mov r14, buf\n";
    s += &format!("    mov r15, {}\n.loop:\n", iterations.max(1));
    let n = body.len();
    for (k, (ins, branch)) in body.iter().enumerate() {
        if let Some(c) = branch {
            let skip = (k + 2).min(n);
            s += &format!("    j{c} .l{skip}\n");
        }
        s += &format!(".l{k}:\n    {ins}\n");
    }
    s += &format!(
        ".l{n}:\n    dec r15\n    jnz .loop\n    mov r1, r0\n    hcall print_hex\n    halt\n"
    );
    s += "helper:\n    mov r12, 0x12345678\n";
    for ins in helper {
        s += &format!("    {ins}\n");
    }
    s += "    ret\n.data\nptr: .qword buf + 8\nbuf: .space 512\n";
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn protected_programs_end_in_the_plain_programs_state(
        init in prop::collection::vec(any::<i64>(), 13),
        body in body(),
        helper in prop::collection::vec(instr().prop_filter("leaf", |i| !i.contains("call")), 0..6),
        iterations in 1..4u8,
        seed in any::<u64>(),
        vms in 1..4usize,
    ) {
        let src = program(init, body, helper, iterations);
        let plain = vmkit_asm::assemble_str("gen.s", &src).unwrap_or_else(|d| panic!("{d}\n{src}")).image;
        let (want, _) = run(&plain, &plain, &[], 10_000_000);
        // A random immediate that `movzx`/`movsx` turn into an address inside the code
        // (about one program in a hundred) rightly keeps its function native: not this
        // test's subject.
        let refers = |why: &str| why.contains("the program refers to");
        let result = protect(&plain, &Options { seed, vms, ..Options::default() });
        if let Err(vmkit_protect::ProtectError::NothingToProtect(why)) = &result {
            prop_assume!(!why.iter().all(|w| refers(w)), "{:?}", why);
        }
        let (image, report) = result.unwrap_or_else(|e| panic!("{e}\n{src}"));
        prop_assume!(!report.skipped.iter().any(|s| refers(&s.reason)));
        prop_assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let (mut got, _) = run(&image, &plain, &[], 2_000_000_000);
        if want.status >= 128 {
            got.regs = want.regs.clone();
            got.flags = want.flags;
        }
        prop_assert_eq!(got, want, "seed {} vms {}\n{}", seed, vms, src);
        devirt_check(&plain, &image, &[], 10_000_000, &format!("seed {seed} vms {vms}\n{src}"));
    }
}
