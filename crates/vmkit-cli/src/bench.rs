//! `vmkit bench`: guest instructions per second on four programs, and the ratio to the same
//! algorithm in native Rust measured in the same run (these machines are noisy; ratios are
//! what to compare across runs).

use std::hint::black_box;
use std::time::Instant;
use vmkit_isa::Reg;
use vmkit_machine::{Config, Dispatch, Exit, Machine};

/// A benchmark program: its source, the input it takes in r10, and the register holding
/// its result, with the same algorithm in native Rust.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) source: &'static str,
    pub(crate) input: u64,
    pub(crate) expect_reg: Reg,
    pub(crate) native: fn(u64) -> u64,
}

fn native_counter(n: u64) -> u64 {
    let mut i = 0u64;
    while black_box(i) != n {
        i += 1;
    }
    i
}

fn native_fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        native_fib(black_box(n - 1)) + native_fib(n - 2)
    }
}

fn native_sieve(n: u64) -> u64 {
    let mut composite = vec![0u8; n as usize + 1];
    let mut count = 0;
    let mut i = 2;
    while i <= n {
        if composite[i as usize] == 0 {
            count += 1;
            let mut j = i * i;
            while j <= n {
                composite[j as usize] = 1;
                j += i;
            }
        }
        i += 1;
    }
    black_box(&composite);
    count
}

fn native_memcopy(reps: u64) -> u64 {
    const QWORDS: usize = 131072;
    let mut src = vec![0u64; QWORDS];
    let mut dst = vec![0u64; QWORDS];
    src[QWORDS - 1] = 0x1234;
    for _ in 0..reps {
        let s = black_box(&mut src);
        dst.copy_from_slice(s);
        black_box(&mut dst);
    }
    dst[QWORDS - 1]
}

/// The benchmark programs at full size, or smaller with `quick`.
pub(crate) fn cases(quick: bool) -> Vec<Case> {
    let scale = |full: u64, small: u64| if quick { small } else { full };
    vec![
        Case {
            name: format!("counter loop {}M", scale(300, 30)),
            source: include_str!("../../../benches/counter.s"),
            input: scale(300_000_000, 30_000_000),
            expect_reg: Reg::r(1),
            native: native_counter,
        },
        Case {
            name: format!("fib({}) recursive", scale(30, 25)),
            source: include_str!("../../../benches/fib.s"),
            input: scale(30, 25),
            expect_reg: Reg::r(0),
            native: native_fib,
        },
        Case {
            name: format!("sieve {}M", scale(10, 1)),
            source: include_str!("../../../benches/sieve.s"),
            input: scale(10_000_000, 1_000_000),
            expect_reg: Reg::r(0),
            native: native_sieve,
        },
        Case {
            name: format!("memcopy 1 MiB x{}", scale(64, 8)),
            source: include_str!("../../../benches/memcopy.s"),
            input: scale(64, 8),
            expect_reg: Reg::r(4),
            native: native_memcopy,
        },
    ]
}

/// One measurement of one case on one dispatch backend.
struct Row {
    name: String,
    steps: u64,
    vm_secs: f64,
    native_secs: f64,
}

fn measure(case: &Case, dispatch: Dispatch) -> Result<Row, String> {
    let assembled = vmkit_asm::assemble_str(&case.name, case.source).map_err(|d| format!("{d}"))?;
    let mut machine =
        Machine::from_image(&assembled.image, &Config::default()).map_err(|e| e.to_string())?;
    machine.set_dispatch(dispatch);
    machine.set_reg(Reg::r(10), case.input);
    let start = Instant::now();
    let exit = machine.run();
    let vm_secs = start.elapsed().as_secs_f64();
    if exit != Exit::Halted {
        return Err(format!("benchmark {} did not halt: {exit:?}", case.name));
    }
    let start = Instant::now();
    let expected = (case.native)(black_box(case.input));
    let native_secs = start.elapsed().as_secs_f64().max(1e-9);
    let got = machine.reg(case.expect_reg);
    if got != expected {
        return Err(format!(
            "benchmark {}: the guest computed {got}, native Rust {expected}",
            case.name
        ));
    }
    Ok(Row {
        name: format!("{} [{}]", case.name, format!("{dispatch:?}").to_lowercase()),
        steps: machine.steps(),
        vm_secs,
        native_secs,
    })
}

/// `vmkit bench`: every case on every dispatch backend.
pub fn bench(quick: bool, json: bool) -> Result<i32, String> {
    let mut rows = Vec::new();
    if !json {
        println!(
            "{:<28} {:>13} {:>9} {:>10} {:>9} {:>9}",
            "benchmark [dispatch]", "guest instrs", "vm time", "M instr/s", "native", "vm/native"
        );
    }
    for case in cases(quick) {
        for dispatch in Dispatch::ALL {
            let row = measure(&case, dispatch)?;
            let mips = row.steps as f64 / row.vm_secs / 1e6;
            let ratio = row.vm_secs / row.native_secs;
            if json {
                rows.push(format!(
                    "{{\"name\":\"{}\",\"guest_instructions\":{},\"vm_seconds\":{:.6},\"native_seconds\":{:.6},\"mips\":{mips:.1},\"slowdown\":{ratio:.2}}}",
                    row.name, row.steps, row.vm_secs, row.native_secs
                ));
            } else {
                println!(
                    "{:<28} {:>13} {:>8.3}s {:>10.1} {:>8.4}s {:>8.1}x",
                    row.name, row.steps, row.vm_secs, mips, row.native_secs, ratio
                );
            }
        }
    }
    if json {
        println!("[{}]", rows.join(","));
    }
    Ok(0)
}
