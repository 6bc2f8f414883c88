//! `vmkit_x86::cpu::alu` against the real CPU.
//!
//! 8/16/32-bit integer instructions behave the same in 64-bit mode as in 32-bit mode, so on an
//! x86_64 host each case runs the real instruction (`core::arch::asm!`, register forms, count
//! in CL) between `popfq` and `pushfq` and compares result and status flags with the ALU.
//! Operands: edge values, random values (xorshift, fixed seed), every shift count 0..=31 and
//! some above, both CF inputs, random other status flags. The decimal adjusts, invalid in
//! 64-bit mode, run in 32-bit compatibility mode (Linux only).
//!
//! Architecturally undefined flags (`alu::undefined_flags`) and results
//! (`alu::undefined_result`) are compared too when the host is the reference CPU (AMD
//! family 1Ah, Zen 5) whose values the ALU reproduces; on any other CPU they are masked.
//! Non-status EFLAGS bits given to the ALU must come back unchanged. A mismatch report
//! names op, width, operands and flags, per op and width.
#![cfg(target_arch = "x86_64")]

use core::arch::asm;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use vmkit_x86::cpu::alu::{self, AluOp, DivideError, Width};
use vmkit_x86::cpu::flags::{AF, CF, DF, IF, OF, PF, SF, STATUS, TF, ZF};

// ---- the host CPU ---------------------------------------------------------------------------

/// True on the CPU whose undefined-flag values the ALU reproduces: AMD family 1Ah (Zen 5),
/// where they were measured. `VMKIT_ALU_STRICT=1` forces strict comparison elsewhere (to see
/// how another CPU differs), `=0` turns it off.
fn host_is_reference() -> bool {
    match std::env::var("VMKIT_ALU_STRICT").as_deref() {
        Ok("1") => return true,
        Ok("0") => return false,
        _ => {}
    }
    use core::arch::x86_64::__cpuid;
    #[allow(unused_unsafe)]
    // SAFETY: cpuid is available on every x86_64 CPU.
    let (vendor, signature) = unsafe { (__cpuid(0), __cpuid(1).eax) };
    let amd = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163);
    let base_family = (signature >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((signature >> 20) & 0xff)
    } else {
        base_family
    };
    amd && family == 0x1a
}

/// EFLAGS handed to `popfq`: the status bits of `flags`, reserved bit 1 and IF (which user
/// mode cannot change anyway). TF and DF stay clear: the asm must exit with DF clear.
fn cpu_flags_in(flags: u32) -> u64 {
    (flags & STATUS) as u64 | 0x202
}

// ---- the real instructions ------------------------------------------------------------------
//
// SAFETY (for every `asm!` below): the blocks touch only their declared operands and the
// stack, where every push is popped again; DF is never set, and the written EFLAGS differ from
// the incoming ones only in status flags.

/// `op dst, src` at one width; `$m` is the register-name modifier ("l", "x", "e").
macro_rules! asm_binary {
    ($op:literal, $m:literal, $a:expr, $b:expr, $flags:expr) => {{
        let mut r: u32 = $a;
        let mut f: u64 = cpu_flags_in($flags);
        // SAFETY: see "the real instructions" above.
        unsafe {
            asm!(
                "push {f}", "popfq",
                concat!($op, " {r:", $m, "}, {b:", $m, "}"),
                "pushfq", "pop {f}",
                r = inout(reg) r, b = in(reg) $b, f = inout(reg) f,
            )
        };
        (r, f as u32 & STATUS)
    }};
}

/// `op dst, cl` at one width.
macro_rules! asm_shift {
    ($op:literal, $m:literal, $a:expr, $count:expr, $flags:expr) => {{
        let mut r: u32 = $a;
        let mut f: u64 = cpu_flags_in($flags);
        // SAFETY: see "the real instructions" above.
        unsafe {
            asm!(
                "push {f}", "popfq",
                concat!($op, " {r:", $m, "}, cl"),
                "pushfq", "pop {f}",
                r = inout(reg) r, in("ecx") $count, f = inout(reg) f,
            )
        };
        (r, f as u32 & STATUS)
    }};
}

/// `op dst` at one width.
macro_rules! asm_unary {
    ($op:literal, $m:literal, $a:expr, $flags:expr) => {{
        let mut r: u32 = $a;
        let mut f: u64 = cpu_flags_in($flags);
        // SAFETY: see "the real instructions" above.
        unsafe {
            asm!(
                "push {f}", "popfq",
                concat!($op, " {r:", $m, "}"),
                "pushfq", "pop {f}",
                r = inout(reg) r, f = inout(reg) f,
            )
        };
        (r, f as u32 & STATUS)
    }};
}

/// `op dst, src, cl` at one width.
macro_rules! asm_double_shift {
    ($op:literal, $m:literal, $a:expr, $b:expr, $count:expr, $flags:expr) => {{
        let mut r: u32 = $a;
        let mut f: u64 = cpu_flags_in($flags);
        // SAFETY: see "the real instructions" above.
        unsafe {
            asm!(
                "push {f}", "popfq",
                concat!($op, " {r:", $m, "}, {b:", $m, "}, cl"),
                "pushfq", "pop {f}",
                r = inout(reg) r, b = in(reg) $b, in("ecx") $count, f = inout(reg) f,
            )
        };
        (r, f as u32 & STATUS)
    }};
}

/// `op src` with the accumulator pair (mul, imul, div, idiv); returns (eax, edx, flags).
macro_rules! asm_accumulator {
    ($op:literal, $m:literal, $eax:expr, $edx:expr, $b:expr, $flags:expr) => {{
        let mut eax: u32 = $eax;
        let mut edx: u32 = $edx;
        let mut f: u64 = cpu_flags_in($flags);
        // SAFETY: see "the real instructions" above.
        unsafe {
            asm!(
                "push {f}", "popfq",
                concat!($op, " {b:", $m, "}"),
                "pushfq", "pop {f}",
                inout("eax") eax, inout("edx") edx, b = in(reg) $b, f = inout(reg) f,
            )
        };
        (eax, edx, f as u32 & STATUS)
    }};
}

/// A function `fn(Width, u32, u32, flags) -> (result, status)` running `$op dst, src`.
macro_rules! cpu_binary {
    ($name:ident, $op:literal) => {
        fn $name(w: Width, a: u32, b: u32, flags: u32) -> (u32, u32) {
            match w {
                Width::B8 => asm_binary!($op, "l", a, b, flags),
                Width::W16 => asm_binary!($op, "x", a, b, flags),
                Width::D32 => asm_binary!($op, "e", a, b, flags),
            }
        }
    };
}

/// A function `fn(Width, u32, count, flags) -> (result, status)` running `$op dst, cl`.
macro_rules! cpu_shift {
    ($name:ident, $op:literal) => {
        fn $name(w: Width, a: u32, count: u32, flags: u32) -> (u32, u32) {
            match w {
                Width::B8 => asm_shift!($op, "l", a, count, flags),
                Width::W16 => asm_shift!($op, "x", a, count, flags),
                Width::D32 => asm_shift!($op, "e", a, count, flags),
            }
        }
    };
}

/// A function `fn(Width, u32, flags) -> (result, status)` running `$op dst`.
macro_rules! cpu_unary {
    ($name:ident, $op:literal) => {
        fn $name(w: Width, a: u32, flags: u32) -> (u32, u32) {
            match w {
                Width::B8 => asm_unary!($op, "l", a, flags),
                Width::W16 => asm_unary!($op, "x", a, flags),
                Width::D32 => asm_unary!($op, "e", a, flags),
            }
        }
    };
}

/// As `cpu_binary!`, for instructions without an 8-bit form: an 8-bit `w` runs the 16-bit one.
macro_rules! cpu_binary_wide {
    ($name:ident, $op:literal) => {
        fn $name(w: Width, a: u32, b: u32, flags: u32) -> (u32, u32) {
            match w {
                Width::D32 => asm_binary!($op, "e", a, b, flags),
                _ => asm_binary!($op, "x", a, b, flags),
            }
        }
    };
}

cpu_binary!(cpu_add, "add");
cpu_binary!(cpu_adc, "adc");
cpu_binary!(cpu_sub, "sub");
cpu_binary!(cpu_sbb, "sbb");
cpu_binary!(cpu_cmp, "cmp");
cpu_binary!(cpu_and, "and");
cpu_binary!(cpu_or, "or");
cpu_binary!(cpu_xor, "xor");
cpu_binary!(cpu_test, "test");
cpu_unary!(cpu_neg, "neg");
cpu_unary!(cpu_inc, "inc");
cpu_unary!(cpu_dec, "dec");
cpu_shift!(cpu_shl, "shl");
cpu_shift!(cpu_shr, "shr");
cpu_shift!(cpu_sar, "sar");
cpu_shift!(cpu_rol, "rol");
cpu_shift!(cpu_ror, "ror");
cpu_shift!(cpu_rcl, "rcl");
cpu_shift!(cpu_rcr, "rcr");

cpu_binary_wide!(cpu_imul_trunc_wide, "imul");
cpu_binary_wide!(cpu_bt_wide, "bt");
cpu_binary_wide!(cpu_bts_wide, "bts");
cpu_binary_wide!(cpu_btr_wide, "btr");
cpu_binary_wide!(cpu_btc_wide, "btc");
cpu_binary_wide!(cpu_bsf_wide, "bsf");
cpu_binary_wide!(cpu_bsr_wide, "bsr");

fn cpu_shld(w: Width, a: u32, b: u32, count: u32, flags: u32) -> (u32, u32) {
    match w {
        Width::D32 => asm_double_shift!("shld", "e", a, b, count, flags),
        _ => asm_double_shift!("shld", "x", a, b, count, flags),
    }
}

fn cpu_shrd(w: Width, a: u32, b: u32, count: u32, flags: u32) -> (u32, u32) {
    match w {
        Width::D32 => asm_double_shift!("shrd", "e", a, b, count, flags),
        _ => asm_double_shift!("shrd", "x", a, b, count, flags),
    }
}

fn cpu_bswap(w: Width, a: u32) -> u32 {
    let mut eax = a;
    match w {
        // SAFETY: the instruction reads and writes EAX only, which the operand declares.
        Width::D32 => unsafe { asm!("bswap eax", inout("eax") eax, options(nomem, nostack)) },
        // `bswap ax` (66 0F C8): assemblers refuse the mnemonic, so spell the bytes.
        // SAFETY: as above, EAX only.
        _ => unsafe { asm!(".byte 0x66, 0x0f, 0xc8", inout("eax") eax, options(nomem, nostack)) },
    }
    eax
}

/// One-operand multiply: returns (low half, high half, status).
fn cpu_mul(w: Width, a: u32, b: u32, flags: u32, signed: bool) -> (u32, u32, u32) {
    let (eax, edx, f) = match (w, signed) {
        (Width::B8, false) => asm_accumulator!("mul", "l", a, 0, b, flags),
        (Width::W16, false) => asm_accumulator!("mul", "x", a, 0, b, flags),
        (Width::D32, false) => asm_accumulator!("mul", "e", a, 0, b, flags),
        (Width::B8, true) => asm_accumulator!("imul", "l", a, 0, b, flags),
        (Width::W16, true) => asm_accumulator!("imul", "x", a, 0, b, flags),
        (Width::D32, true) => asm_accumulator!("imul", "e", a, 0, b, flags),
    };
    match w {
        Width::B8 => (eax & 0xff, (eax >> 8) & 0xff, f),
        Width::W16 => (eax & 0xffff, edx & 0xffff, f),
        Width::D32 => (eax, edx, f),
    }
}

/// Divide `hi:lo` by `divisor`; the caller guarantees no #DE. Returns (quotient, remainder,
/// status).
fn cpu_div(w: Width, lo: u32, hi: u32, divisor: u32, flags: u32, signed: bool) -> (u32, u32, u32) {
    let ax8 = (lo & 0xff) | (hi & 0xff) << 8;
    let (eax, edx, f) = match (w, signed) {
        (Width::B8, false) => asm_accumulator!("div", "l", ax8, 0, divisor, flags),
        (Width::W16, false) => asm_accumulator!("div", "x", lo, hi, divisor, flags),
        (Width::D32, false) => asm_accumulator!("div", "e", lo, hi, divisor, flags),
        (Width::B8, true) => asm_accumulator!("idiv", "l", ax8, 0, divisor, flags),
        (Width::W16, true) => asm_accumulator!("idiv", "x", lo, hi, divisor, flags),
        (Width::D32, true) => asm_accumulator!("idiv", "e", lo, hi, divisor, flags),
    };
    match w {
        Width::B8 => (eax & 0xff, (eax >> 8) & 0xff, f),
        Width::W16 => (eax & 0xffff, edx & 0xffff, f),
        Width::D32 => (eax, edx, f),
    }
}

// ---- operands -------------------------------------------------------------------------------

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    /// A random value whose magnitude is random too (so small operands are common).
    fn shifted_u32(&mut self) -> u32 {
        let v = self.u32();
        v >> (self.next() % 32)
    }

    /// Random status flags with the given CF.
    fn status_with_cf(&mut self, cf: bool) -> u32 {
        (self.u32() & STATUS & !CF) | cf as u32
    }

    /// Random bits outside the status flags, to check that the ALU passes them through.
    fn other_flags(&mut self) -> u32 {
        self.u32() & !STATUS & !(TF | IF | DF) | [0, TF | IF | DF][self.next() as usize & 1]
    }
}

#[rustfmt::skip]
const EDGES: [u32; 22] = [
    0, 1, 2, 3, 0xf, 0x10, 0x55, 0x7f, 0x80, 0x81, 0xaa, 0xfe, 0xff, 0x100,
    0x7fff, 0x8000, 0x8001, 0xffff, 0x1_0000,
    0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
];

/// The edge values as `w` sees them (deduplicated after masking), plus -2 and MIN+1.
fn edges(w: Width) -> Vec<u32> {
    let mut values: Vec<u32> = EDGES.iter().map(|v| v & w.mask()).collect();
    values.push(w.mask() - 1);
    values.push(w.sign_bit() + 1);
    values.sort_unstable();
    values.dedup();
    values
}

/// Shift/rotate counts: every masked count, and some that only differ above bit 4.
const COUNTS: [u32; 39] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31, 32, 33, 40, 63, 64, 65, 255,
];

const RANDOM_CASES: usize = 3000;

// ---- comparing ------------------------------------------------------------------------------

fn hex_list(values: &[u32]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:#x}")).collect();
    items.join(":")
}

fn flag_names(flags: u32) -> String {
    let names = [
        (CF, "CF"),
        (PF, "PF"),
        (AF, "AF"),
        (ZF, "ZF"),
        (SF, "SF"),
        (OF, "OF"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "-".to_string()
    } else {
        set.join(" ")
    }
}

/// Counts cases and collects mismatches; `finish` fails the test with a report.
struct Check {
    name: &'static str,
    /// Compare the architecturally undefined flags too (host is the reference CPU).
    strict: bool,
    cases: u64,
    failures: u64,
    /// Mismatches per op and width: how many, and the union of the differing bits (flags,
    /// and `u32::MAX` when values differ).
    kinds: BTreeMap<String, (u64, u32)>,
    report: String,
}

impl Check {
    fn new(name: &'static str) -> Check {
        Check {
            name,
            strict: host_is_reference(),
            cases: 0,
            failures: 0,
            kinds: BTreeMap::new(),
            report: String::new(),
        }
    }

    /// The status bits to compare for `op` at this width and count.
    fn compared(&self, op: AluOp, w: Width, count: u32) -> u32 {
        if self.strict {
            STATUS
        } else {
            STATUS & !alu::undefined_flags(op, w, count)
        }
    }

    /// Record a mismatch of `op` at `w`; the first few of each kind go into the report.
    fn fail(&mut self, op: AluOp, w: Width, kind: u32, message: impl FnOnce() -> String) {
        self.failures += 1;
        let seen = self.kinds.entry(format!("{op:?} {w:?}")).or_insert((0, 0));
        seen.0 += 1;
        seen.1 |= kind;
        if seen.0 <= 12 && self.failures <= 100 {
            self.report.push_str(&message());
            self.report.push('\n');
        }
    }

    /// Compare one case: `cpu` is (values, status flags), `alu` is (values, full EFLAGS),
    /// `alu_in` the EFLAGS given to the ALU.
    #[allow(clippy::too_many_arguments)]
    fn case(
        &mut self,
        op: AluOp,
        w: Width,
        count: u32,
        operands: impl Fn() -> String,
        cpu: (&[u32], u32),
        alu: (&[u32], u32),
        alu_in: u32,
    ) {
        self.cases += 1;
        let compared = self.compared(op, w, count);
        let values_compared = self.strict || !alu::undefined_result(op, w, count);
        let values_ok = !values_compared || cpu.0 == alu.0;
        let flags_ok = (cpu.1 ^ alu.1) & compared == 0;
        let others_ok = (alu.1 ^ alu_in) & !STATUS == 0;
        if values_ok && flags_ok && others_ok {
            return;
        }
        let kind = if values_ok {
            (cpu.1 ^ alu.1) & compared
        } else {
            u32::MAX
        };
        self.fail(op, w, kind, || {
            let mut m = format!(
                "{op:?} {w:?} {} flags in [{}]: cpu {} [{}], alu {} [{}]",
                operands(),
                flag_names(alu_in & STATUS),
                hex_list(cpu.0),
                flag_names(cpu.1),
                hex_list(alu.0),
                flag_names(alu.1 & STATUS),
            );
            if !flags_ok {
                let _ = write!(m, "; differ in {}", flag_names((cpu.1 ^ alu.1) & compared));
            }
            if !others_ok {
                let _ = write!(
                    m,
                    "; non-status bits changed: {:#x}",
                    (alu.1 ^ alu_in) & !STATUS
                );
            }
            m
        });
    }

    fn finish(self) {
        println!(
            "{}: {} cases ({})",
            self.name,
            self.cases,
            if self.strict {
                "reference CPU: undefined flags compared too"
            } else {
                "not the reference CPU: undefined flags masked"
            }
        );
        if self.failures == 0 {
            return;
        }
        let mut summary = String::new();
        for (op, (n, kind)) in &self.kinds {
            let what = if *kind == u32::MAX {
                "values".to_string()
            } else {
                flag_names(*kind)
            };
            let _ = writeln!(summary, "  {op}: {n} cases differ in {what}");
        }
        panic!(
            "{}: {} of {} cases differ from the CPU\n{summary}examples:\n{}",
            self.name, self.failures, self.cases, self.report
        );
    }
}

type BinaryFn = fn(Width, u32, u32, u32) -> (u32, u32);
type UnaryFn = fn(Width, u32, u32) -> (u32, u32);

/// Every width given, edge x edge operands with both CF values, and random operands.
fn check_binary(
    check: &mut Check,
    op: AluOp,
    widths: &[Width],
    cpu: BinaryFn,
    alu: BinaryFn,
    rng: &mut Rng,
) {
    for &w in widths {
        let run = |check: &mut Check, a: u32, b: u32, status: u32, other: u32| {
            let c = cpu(w, a, b, status);
            let r = alu(w, a, b, status | other);
            let c = ([c.0 & w.mask()], c.1);
            check.case(
                op,
                w,
                0,
                || format!("{a:#x}, {b:#x}"),
                (&c.0, c.1),
                (&[r.0], r.1),
                status | other,
            );
        };
        let edges = edges(w);
        for &a in &edges {
            for &b in &edges {
                for cf in [false, true] {
                    let (status, other) = (rng.status_with_cf(cf), rng.other_flags());
                    run(check, a, b, status, other);
                }
            }
        }
        for _ in 0..RANDOM_CASES {
            let (a, b) = (rng.u32(), rng.u32());
            let (status, other) = (rng.u32() & STATUS, rng.other_flags());
            run(check, a, b, status, other);
            let (a, b) = (rng.shifted_u32(), rng.shifted_u32());
            run(check, a, b, status, other);
        }
    }
}

fn check_unary(check: &mut Check, op: AluOp, cpu: UnaryFn, alu: UnaryFn, rng: &mut Rng) {
    for w in Width::ALL {
        let run = |check: &mut Check, a: u32, status: u32, other: u32| {
            let c = cpu(w, a, status);
            let r = alu(w, a, status | other);
            check.case(
                op,
                w,
                0,
                || format!("{a:#x}"),
                (&[c.0 & w.mask()], c.1),
                (&[r.0], r.1),
                status | other,
            );
        };
        for a in edges(w) {
            for cf in [false, true] {
                let (status, other) = (rng.status_with_cf(cf), rng.other_flags());
                run(check, a, status, other);
            }
        }
        for _ in 0..RANDOM_CASES {
            let (status, other) = (rng.u32() & STATUS, rng.other_flags());
            let a = rng.u32();
            run(check, a, status, other);
        }
    }
}

/// Every width given, edge and random values, every count in `COUNTS`, both CF values.
fn check_shift(
    check: &mut Check,
    op: AluOp,
    widths: &[Width],
    cpu: BinaryFn,
    alu: BinaryFn,
    rng: &mut Rng,
) {
    for &w in widths {
        let mut values = edges(w);
        values.extend((0..48).map(|_| rng.u32()));
        for &a in &values {
            for count in COUNTS {
                for cf in [false, true] {
                    let (status, other) = (rng.status_with_cf(cf), rng.other_flags());
                    let c = cpu(w, a, count, status);
                    let r = alu(w, a, count, status | other);
                    check.case(
                        op,
                        w,
                        count,
                        || format!("{a:#x}, count {count}"),
                        (&[c.0 & w.mask()], c.1),
                        (&[r.0], r.1),
                        status | other,
                    );
                }
            }
        }
    }
}

type DoubleShiftFn = fn(Width, u32, u32, u32, u32) -> (u32, u32);
type MulFn = fn(Width, u32, u32, u32) -> (u32, u32, u32);
type DivFn = fn(Width, u32, u32, u32) -> Result<(u32, u32), DivideError>;

fn check_double_shift(
    check: &mut Check,
    op: AluOp,
    cpu: DoubleShiftFn,
    alu: DoubleShiftFn,
    rng: &mut Rng,
) {
    for w in [Width::W16, Width::D32] {
        let mut values = edges(w);
        values.extend((0..12).map(|_| rng.u32()));
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for &a in &values {
            for &b in &values {
                if rng.next() & 3 == 0 {
                    pairs.push((a, b));
                }
            }
        }
        for (a, b) in pairs {
            for count in COUNTS {
                let (status, other) = (rng.u32() & STATUS, rng.other_flags());
                let c = cpu(w, a, b, count, status);
                let r = alu(w, a, b, count, status | other);
                check.case(
                    op,
                    w,
                    count,
                    || format!("{a:#x}, {b:#x}, count {count}"),
                    (&[c.0 & w.mask()], c.1),
                    (&[r.0], r.1),
                    status | other,
                );
            }
        }
    }
}

// ---- the tests ------------------------------------------------------------------------------

#[test]
fn add_and_subtract_match_the_cpu() {
    let mut check = Check::new("add/adc/sub/sbb/cmp/neg/inc/dec");
    let rng = &mut Rng(0x9e37_79b9_7f4a_7c15);
    let all = &Width::ALL;
    check_binary(&mut check, AluOp::Add, all, cpu_add, alu::add, rng);
    check_binary(&mut check, AluOp::Adc, all, cpu_adc, alu::adc, rng);
    check_binary(&mut check, AluOp::Sub, all, cpu_sub, alu::sub, rng);
    check_binary(&mut check, AluOp::Sbb, all, cpu_sbb, alu::sbb, rng);
    check_binary(
        &mut check,
        AluOp::Cmp,
        all,
        cpu_cmp,
        |w, a, b, f| (a & w.mask(), alu::cmp(w, a, b, f)),
        rng,
    );
    check_unary(&mut check, AluOp::Neg, cpu_neg, alu::neg, rng);
    check_unary(&mut check, AluOp::Inc, cpu_inc, alu::inc, rng);
    check_unary(&mut check, AluOp::Dec, cpu_dec, alu::dec, rng);
    check.finish();
}

#[test]
fn logic_matches_the_cpu() {
    let mut check = Check::new("and/or/xor/test");
    let rng = &mut Rng(0x0123_4567_89ab_cdef);
    let all = &Width::ALL;
    check_binary(&mut check, AluOp::And, all, cpu_and, alu::and, rng);
    check_binary(&mut check, AluOp::Or, all, cpu_or, alu::or, rng);
    check_binary(&mut check, AluOp::Xor, all, cpu_xor, alu::xor, rng);
    check_binary(
        &mut check,
        AluOp::Test,
        all,
        cpu_test,
        |w, a, b, f| (a & w.mask(), alu::test(w, a, b, f)),
        rng,
    );
    check.finish();
}

#[test]
fn shifts_and_rotates_match_the_cpu() {
    let mut check = Check::new("shl/shr/sar/rol/ror/rcl/rcr");
    let rng = &mut Rng(0xdead_beef_cafe_f00d);
    let all = &Width::ALL;
    check_shift(&mut check, AluOp::Shl, all, cpu_shl, alu::shl, rng);
    check_shift(&mut check, AluOp::Shl, all, cpu_shl, alu::sal, rng);
    check_shift(&mut check, AluOp::Shr, all, cpu_shr, alu::shr, rng);
    check_shift(&mut check, AluOp::Sar, all, cpu_sar, alu::sar, rng);
    check_shift(&mut check, AluOp::Rol, all, cpu_rol, alu::rol, rng);
    check_shift(&mut check, AluOp::Ror, all, cpu_ror, alu::ror, rng);
    check_shift(&mut check, AluOp::Rcl, all, cpu_rcl, alu::rcl, rng);
    check_shift(&mut check, AluOp::Rcr, all, cpu_rcr, alu::rcr, rng);
    check.finish();
}

#[test]
fn double_shifts_match_the_cpu() {
    let mut check = Check::new("shld/shrd");
    let rng = &mut Rng(0x1357_9bdf_2468_ace0);
    check_double_shift(&mut check, AluOp::Shld, cpu_shld, alu::shld, rng);
    check_double_shift(&mut check, AluOp::Shrd, cpu_shrd, alu::shrd, rng);
    check.finish();
}

#[test]
fn multiply_matches_the_cpu() {
    let mut check = Check::new("mul/imul");
    let rng = &mut Rng(0x0f0f_1e1e_2d2d_3c3c);
    for w in Width::ALL {
        let run = |check: &mut Check, a: u32, b: u32, status: u32, other: u32| {
            for signed in [false, true] {
                let (op, alu_fn): (_, MulFn) = if signed {
                    (AluOp::Imul, alu::imul)
                } else {
                    (AluOp::Mul, alu::mul)
                };
                let (lo, hi, f) = cpu_mul(w, a, b, status, signed);
                let r = alu_fn(w, a, b, status | other);
                let operands = || format!("{a:#x} * {b:#x} -> [lo, hi]");
                check.case(
                    op,
                    w,
                    0,
                    operands,
                    (&[lo, hi], f),
                    (&[r.0, r.1], r.2),
                    status | other,
                );
            }
            if w != Width::B8 {
                let c = cpu_imul_trunc_wide(w, a, b, status);
                let r = alu::imul_trunc(w, a, b, status | other);
                let operands = || format!("{a:#x} * {b:#x}");
                let op = AluOp::ImulTrunc;
                check.case(
                    op,
                    w,
                    0,
                    operands,
                    (&[c.0 & w.mask()], c.1),
                    (&[r.0], r.1),
                    status | other,
                );
            }
        };
        let edges = edges(w);
        for &a in &edges {
            for &b in &edges {
                let (status, other) = (rng.u32() & STATUS, rng.other_flags());
                run(&mut check, a, b, status, other);
            }
        }
        for _ in 0..RANDOM_CASES {
            let (status, other) = (rng.u32() & STATUS, rng.other_flags());
            let (a, b) = (rng.u32(), rng.u32());
            run(&mut check, a, b, status, other);
            let (a, b) = (rng.shifted_u32(), rng.shifted_u32());
            run(&mut check, a, b, status, other);
        }
    }
    check.finish();
}

/// What the CPU does with `hi:lo / divisor`, computed independently of the ALU: the
/// (quotient, remainder) or the reason for #DE.
fn expected_division(
    w: Width,
    lo: u32,
    hi: u32,
    divisor: u32,
    signed: bool,
) -> Result<(u32, u32), DivideError> {
    let bits = w.bits();
    let m = w.mask() as i128;
    let raw = ((hi as i128 & m) << bits) | (lo as i128 & m);
    let (dividend, divisor) = if signed {
        let sign = 1i128 << (2 * bits - 1);
        ((raw ^ sign) - sign, w.sign_extend(divisor) as i128)
    } else {
        (raw, divisor as i128 & m)
    };
    if divisor == 0 {
        return Err(DivideError::DivideByZero);
    }
    let (q, r) = (dividend / divisor, dividend % divisor);
    let fits = if signed {
        -(1i128 << (bits - 1)) <= q && q < 1i128 << (bits - 1)
    } else {
        q <= m
    };
    if fits {
        Ok(((q & m) as u32, (r & m) as u32))
    } else {
        Err(DivideError::Overflow)
    }
}

#[test]
fn divide_matches_the_cpu() {
    let mut check = Check::new("div/idiv");
    let rng = &mut Rng(0x5555_aaaa_3333_cccc);
    let mut faults = 0u64;
    for w in Width::ALL {
        let mut run = |check: &mut Check, lo: u32, hi: u32, d: u32, status: u32, other: u32| {
            for signed in [false, true] {
                let (op, alu_fn): (_, DivFn) = if signed {
                    (AluOp::Idiv, alu::idiv)
                } else {
                    (AluOp::Div, alu::div)
                };
                let expected = expected_division(w, lo, hi, d, signed);
                let got = alu_fn(w, lo, hi, d);
                let operands = || format!("{hi:#x}:{lo:#x} / {d:#x} -> [quotient, remainder]");
                match expected {
                    Err(e) => {
                        faults += 1;
                        check.cases += 1;
                        if got != Err(e) {
                            check.fail(op, w, u32::MAX, || {
                                format!(
                                    "{op:?} {w:?} {}: expected #DE ({e}), alu {got:x?}",
                                    operands()
                                )
                            });
                        }
                    }
                    Ok(_) => {
                        let (q, r, f) = cpu_div(w, lo, hi, d, status, signed);
                        let (alu_q, alu_r) = got.unwrap_or((!0, !0));
                        let alu_f = alu::div_flags(status | other);
                        check.case(
                            op,
                            w,
                            0,
                            operands,
                            (&[q, r], f),
                            (&[alu_q, alu_r], alu_f),
                            status | other,
                        );
                    }
                }
            }
        };
        let edges = edges(w);
        for &lo in &edges {
            for &hi in &[
                0,
                1,
                w.mask(),
                w.sign_bit() >> 1,
                w.sign_bit(),
                w.mask() - 1,
            ] {
                for &d in &edges {
                    let (status, other) = (rng.u32() & STATUS, rng.other_flags());
                    run(&mut check, lo, hi, d, status, other);
                }
            }
        }
        for _ in 0..RANDOM_CASES * 2 {
            let (status, other) = (rng.u32() & STATUS, rng.other_flags());
            // A dividend whose high half is usually small or all ones, so that many random
            // cases do not fault.
            let lo = rng.u32();
            let hi = match rng.next() % 4 {
                0 => rng.u32(),
                1 => rng.shifted_u32(),
                2 => !rng.shifted_u32(),
                _ => 0,
            };
            let d = if rng.next() & 1 == 0 {
                rng.u32()
            } else {
                rng.shifted_u32()
            };
            run(&mut check, lo, hi, d, status, other);
        }
    }
    println!("div/idiv: {faults} of the cases are #DE (checked against the ALU only)");
    check.finish();
}

#[test]
fn bit_operations_match_the_cpu() {
    let mut check = Check::new("bt/bts/btr/btc/bsf/bsr/bswap");
    let rng = &mut Rng(0x7777_1111_9999_5555);
    let wide = &[Width::W16, Width::D32];
    let bt = |w: Width, a: u32, b: u32, f: u32| (a & w.mask(), alu::bt(w, a, b, f));
    // Offsets: the shift checker runs every count 0..=31 and some above.
    check_shift(&mut check, AluOp::Bt, wide, cpu_bt_wide, bt, rng);
    check_shift(&mut check, AluOp::Bts, wide, cpu_bts_wide, alu::bts, rng);
    check_shift(&mut check, AluOp::Btr, wide, cpu_btr_wide, alu::btr, rng);
    check_shift(&mut check, AluOp::Btc, wide, cpu_btc_wide, alu::btc, rng);
    check_binary(&mut check, AluOp::Bt, wide, cpu_bt_wide, bt, rng);
    check_binary(&mut check, AluOp::Bsf, wide, cpu_bsf_wide, alu::bsf, rng);
    check_binary(&mut check, AluOp::Bsr, wide, cpu_bsr_wide, alu::bsr, rng);
    // Single-bit sources for bsf/bsr.
    for w in [Width::W16, Width::D32] {
        for bit in 0..w.bits() {
            for src in [
                1 << bit,
                (1 << bit) | 1,
                w.mask() << bit,
                u32::MAX >> (31 - bit),
            ] {
                let dst = rng.u32();
                let status = rng.u32() & STATUS;
                for (op, cpu, alu_fn) in [
                    (AluOp::Bsf, cpu_bsf_wide as BinaryFn, alu::bsf as BinaryFn),
                    (AluOp::Bsr, cpu_bsr_wide, alu::bsr),
                ] {
                    let c = cpu(w, dst, src, status);
                    let r = alu_fn(w, dst, src, status);
                    let operands = || format!("{dst:#x}, {src:#x}");
                    check.case(
                        op,
                        w,
                        0,
                        operands,
                        (&[c.0 & w.mask()], c.1),
                        (&[r.0], r.1),
                        status,
                    );
                }
            }
        }
    }
    for w in [Width::W16, Width::D32] {
        let mut values = edges(w);
        values.extend((0..1000).map(|_| rng.u32()));
        for a in values {
            let c = cpu_bswap(w, a) & w.mask();
            let r = alu::bswap(w, a);
            check.case(
                AluOp::Bswap,
                w,
                0,
                || format!("{a:#x}"),
                (&[c], 0),
                (&[r], 0),
                0,
            );
        }
    }
    check.finish();
}

// ---- decimal adjusts, in 32-bit compatibility mode ------------------------------------------
//
// DAA DAS AAA AAS AAM AAD are invalid in 64-bit mode, so the test switches this thread to
// compatibility mode for each case: Linux gives 64-bit processes a 32-bit user code segment
// (selector 0x23, next to the 64-bit 0x33). A page below 2 GiB holds the trampoline, its
// data and a 32-bit stack; a far return enters 32-bit code, which runs the instruction
// between `popfd` and `pushfd` and far-returns to 64-bit code that restores RSP.

#[cfg(target_os = "linux")]
mod compat {
    use core::arch::asm;

    const USER32_CS: u8 = 0x23;
    const USER64_CS: u8 = 0x33;
    const USER_DS: u8 = 0x2b;
    const SIZE: usize = 64 * 1024;
    const CODE32: u32 = 0x100;
    const CODE64_BACK: u32 = 0x200;
    const SAVED_RSP: u32 = 0x800;
    const EAX: u32 = 0x808;
    const EFLAGS: u32 = 0x80c;

    unsafe fn syscall6(nr: u64, args: [u64; 6]) -> i64 {
        let ret: i64;
        // SAFETY: the caller upholds the system call's own contract; the kernel clobbers
        // rcx and r11 only, which are declared.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") nr as i64 => ret,
                in("rdi") args[0], in("rsi") args[1], in("rdx") args[2],
                in("r10") args[3], in("r8") args[4], in("r9") args[5],
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            )
        };
        ret
    }

    /// A mapped trampoline page; unmapped on drop.
    pub struct Trampoline {
        base: *mut u8,
        /// Offset of the instruction under test (2 bytes, NOP-padded).
        slot: usize,
    }

    impl Trampoline {
        /// Map and fill the page, or `None` if the kernel refuses (no MAP_32BIT, no RWX).
        pub fn new() -> Option<Trampoline> {
            const PROT_RWX: u64 = 7;
            const MAP_PRIVATE_ANON_32BIT: u64 = 0x02 | 0x20 | 0x40;
            // SAFETY: an anonymous private mapping touches no existing memory.
            let addr = unsafe {
                syscall6(
                    9,
                    [
                        0,
                        SIZE as u64,
                        PROT_RWX,
                        MAP_PRIVATE_ANON_32BIT,
                        u64::MAX,
                        0,
                    ],
                )
            };
            if !(1..0x8000_0000).contains(&addr) {
                return None;
            }
            let base = addr as u32;
            let mut code = vec![0x90u8; 0x300];
            let at = |code: &mut Vec<u8>, offset: u32, bytes: &[u8]| {
                code[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
            };
            let le = |v: u32| v.to_le_bytes();
            // 64-bit entry: save RSP, switch to the low stack, far-return into 32-bit code.
            let mut entry = vec![0x48, 0x89, 0x24, 0x25]; // mov [abs32], rsp
            entry.extend(le(base + SAVED_RSP));
            entry.push(0xbc); // mov esp, imm32
            entry.extend(le(base + SIZE as u32 - 16));
            entry.extend([0x6a, USER32_CS]); // push 0x23
            entry.push(0x68); // push imm32
            entry.extend(le(base + CODE32));
            entry.extend([0x48, 0xcb]); // retfq
            at(&mut code, 0, &entry);
            // 32-bit code: flat data segments, load EFLAGS and EAX, run the slot, store both,
            // far-return to 64-bit code.
            let mut body = vec![0xb9]; // mov ecx, imm32
            body.extend(le(USER_DS as u32));
            body.extend([0x8e, 0xd9, 0x8e, 0xc1, 0x8e, 0xd1]); // mov ds/es/ss, cx
            body.extend([0xff, 0x35]); // push dword [abs32]
            body.extend(le(base + EFLAGS));
            body.push(0x9d); // popfd
            body.push(0xa1); // mov eax, [abs32]
            body.extend(le(base + EAX));
            let slot = CODE32 as usize + body.len();
            body.extend([0x90, 0x90]); // the slot
            body.push(0xa3); // mov [abs32], eax
            body.extend(le(base + EAX));
            body.push(0x9c); // pushfd
            body.extend([0x8f, 0x05]); // pop dword [abs32]
            body.extend(le(base + EFLAGS));
            body.extend([0x6a, USER64_CS]); // push 0x33
            body.push(0x68); // push imm32
            body.extend(le(base + CODE64_BACK));
            body.push(0xcb); // retf
            at(&mut code, CODE32, &body);
            // 64-bit return: restore RSP and return to the caller.
            let mut back = vec![0x48, 0x8b, 0x24, 0x25]; // mov rsp, [abs32]
            back.extend(le(base + SAVED_RSP));
            back.push(0xc3); // ret
            at(&mut code, CODE64_BACK, &back);
            let base = addr as *mut u8;
            // SAFETY: the mapping is SIZE bytes, writable, and ours alone.
            unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), base, code.len()) };
            Some(Trampoline { base, slot })
        }

        /// Run `instruction` (1 or 2 bytes) in 32-bit mode with EAX and the status flags of
        /// `flags`; returns EAX and EFLAGS afterwards.
        pub fn run(&mut self, instruction: &[u8], eax: u32, flags: u32) -> (u32, u32) {
            let mut slot = [0x90u8; 2];
            slot[..instruction.len()].copy_from_slice(instruction);
            // SAFETY: all offsets lie inside the mapping; x86 keeps instruction fetch
            // coherent with these stores on the same thread.
            unsafe {
                core::ptr::copy_nonoverlapping(slot.as_ptr(), self.base.add(self.slot), 2);
                self.base
                    .add(EAX as usize)
                    .cast::<u32>()
                    .write_volatile(eax);
                self.base
                    .add(EFLAGS as usize)
                    .cast::<u32>()
                    .write_volatile(super::cpu_flags_in(flags) as u32);
            }
            // SAFETY: the trampoline returns to the instruction after the call with RSP
            // restored; it touches only RAX, RCX, EFLAGS, DS ES SS (restored below) and its
            // own page. Upper halves of the other registers are architecturally undefined
            // after a compatibility-mode excursion, so every caller-saved register is
            // declared clobbered; the 32-bit code never writes the callee-saved ones.
            unsafe {
                asm!(
                    "mov eax, ds",
                    "push rax",
                    "mov eax, es",
                    "push rax",
                    "call {entry}",
                    "pop rax",
                    "mov es, eax",
                    "pop rax",
                    "mov ds, eax",
                    entry = in(reg) self.base,
                    clobber_abi("C"),
                );
            }
            // SAFETY: as above.
            unsafe {
                (
                    self.base.add(EAX as usize).cast::<u32>().read_volatile(),
                    self.base.add(EFLAGS as usize).cast::<u32>().read_volatile(),
                )
            }
        }
    }

    impl Drop for Trampoline {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `new`; nothing refers to it now.
            unsafe { syscall6(11, [self.base as u64, SIZE as u64, 0, 0, 0, 0]) };
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn decimal_adjusts_match_the_cpu_in_32_bit_mode() {
    let Some(mut cpu) = compat::Trampoline::new() else {
        println!("decimal adjusts: skipped, no executable mapping below 2 GiB");
        return;
    };
    let mut check = Check::new("daa/das/aaa/aas/aam/aad");
    let rng = &mut Rng(0x2468_1357_aaaa_5555);
    let high_bytes = [
        0x00,
        0x01,
        0x7f,
        0x80,
        0xfe,
        0xff,
        rng.u32() & 0xff,
        rng.u32() & 0xff,
    ];
    type Adjust = fn(u32, u32) -> (u32, u32);
    let adjusts: [(AluOp, u8, Adjust); 4] = [
        (AluOp::Daa, 0x27, alu::daa),
        (AluOp::Das, 0x2f, alu::das),
        (AluOp::Aaa, 0x37, alu::aaa),
        (AluOp::Aas, 0x3f, alu::aas),
    ];
    for ah in high_bytes {
        for al in 0..=0xff {
            let ax = ah << 8 | al;
            for cf_af in [0, CF, AF, CF | AF] {
                let status = (rng.u32() & STATUS & !(CF | AF)) | cf_af;
                let other = rng.other_flags();
                for (op, opcode, alu_fn) in adjusts {
                    let (eax, f) = cpu.run(&[opcode], ax, status);
                    let (r, rf) = alu_fn(ax, status | other);
                    // DAA/DAS write AL only; the ALU gets and returns AL for them.
                    let (cpu_value, alu_value) = match op {
                        AluOp::Daa | AluOp::Das => (eax & 0xffff, ax & 0xff00 | r),
                        _ => (eax & 0xffff, r),
                    };
                    let operands = || format!("AX={ax:#06x}");
                    check.case(
                        op,
                        Width::B8,
                        0,
                        operands,
                        (&[cpu_value], f & STATUS),
                        (&[alu_value], rf),
                        status | other,
                    );
                }
                for base in [10, 7, 16, 1, 0xff, 0] {
                    let (eax, f) = cpu.run(&[0xd5, base as u8], ax, status);
                    let (r, rf) = alu::aad(ax, base, status | other);
                    let operands = || format!("AX={ax:#06x}, base {base}");
                    check.case(
                        AluOp::Aad,
                        Width::B8,
                        0,
                        operands,
                        (&[eax & 0xffff], f & STATUS),
                        (&[r], rf),
                        status | other,
                    );
                    let got = alu::aam(al, base, status | other);
                    if base == 0 {
                        check.cases += 1;
                        if got != Err(DivideError::DivideByZero) {
                            check.fail(AluOp::Aam, Width::B8, u32::MAX, || {
                                format!("AAM AL={al:#x}, base 0: alu {got:x?}, expected #DE")
                            });
                        }
                        continue;
                    }
                    let (eax, f) = cpu.run(&[0xd4, base as u8], ax, status);
                    let (r, rf) = got.unwrap_or((!0, 0));
                    let operands = || format!("AX={ax:#06x}, base {base}");
                    check.case(
                        AluOp::Aam,
                        Width::B8,
                        0,
                        operands,
                        (&[eax & 0xffff], f & STATUS),
                        (&[r], rf),
                        status | other,
                    );
                }
            }
        }
    }
    check.finish();
}
