//! `vmkit bench protect`: what protection costs, on the native machine's benchmark
//! programs. For each: native instructions executed per virtual instruction, virtual
//! instructions per plain instruction, the wall-clock ratio protected/plain (best of 3,
//! in the same run), the image size ratio, and how long `devirtualize` takes to give the
//! program back (which must then compute the same result in as many instructions as the
//! plain program).

use crate::bench::{cases, Case};
use std::time::Instant;
use vmkit_image::Image;
use vmkit_isa::Reg;
use vmkit_machine::{Config, Exit, Machine};
use vmkit_protect::{protect, Options};

/// Smaller inputs than `vmkit bench`: a protected program runs about 30 times more
/// instructions, each several times slower. With `quick`, each protected run stays near
/// two million instructions, so the whole suite takes a few seconds.
fn input(case: &Case, quick: bool) -> u64 {
    let s = |full: u64, small: u64| if quick { small } else { full };
    if case.name.starts_with("counter") {
        s(1_000_000, 2_000)
    } else if case.name.starts_with("fib") {
        s(20, 10)
    } else if case.name.starts_with("sieve") {
        s(200_000, 500)
    } else {
        1 // memcopy: one pass over its buffer
    }
}

/// The program's source: memcopy copies 8 KiB instead of 1 MiB with `quick` (its result,
/// the last qword, does not depend on the size).
fn source(case: &Case, quick: bool) -> (String, &'static str) {
    const FULL: &str = "QWORDS = 131072";
    if quick && case.source.contains(FULL) {
        (case.source.replace(FULL, "QWORDS = 1024"), "8 KiB")
    } else {
        (case.source.to_string(), "1 MiB")
    }
}

struct Run {
    steps: u64,
    secs: f64,
    result: u64,
}

fn run(image: &Image, n: u64, reg: Reg) -> Result<Run, String> {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..3 {
        let mut m = Machine::from_image(image, &Config::default()).map_err(|e| e.to_string())?;
        m.set_reg(Reg::r(10), n);
        let t = Instant::now();
        let exit = m.run();
        best = best.min(t.elapsed().as_secs_f64());
        if exit != Exit::Halted {
            return Err(format!("did not halt: {exit:?}"));
        }
        last = Some(Run {
            steps: m.steps(),
            secs: 0.0,
            result: m.reg(reg),
        });
    }
    let mut r = last.ok_or("no run")?;
    r.secs = best;
    Ok(r)
}

/// Counts the virtual instructions a protected run dispatches (one step at a time).
fn dispatches(image: &Image, n: u64, dispatch: &[u64]) -> Result<u64, String> {
    let mut m = Machine::from_image(image, &Config::default()).map_err(|e| e.to_string())?;
    m.set_reg(Reg::r(10), n);
    let mut count = 0;
    loop {
        if dispatch.contains(&m.ip()) {
            count += 1;
        }
        if let Some(exit) = m.step() {
            return match exit {
                Exit::Halted => Ok(count),
                other => Err(format!("did not halt: {other:?}")),
            };
        }
    }
}

/// `vmkit bench protect`.
pub fn bench(quick: bool, json: bool, seed: u64) -> Result<i32, String> {
    if !json {
        println!(
            "{:<20} {:>12} {:>13} {:>13} {:>10} {:>10} {:>10} {:>8} {:>10}",
            "program",
            "plain instrs",
            "virtual instrs",
            "native instrs",
            "native/v",
            "v/plain",
            "time ratio",
            "size",
            "devirt ms"
        );
    }
    let mut rows = Vec::new();
    for case in cases(true) {
        let n = input(&case, quick);
        let (src, buffer) = source(&case, quick);
        let plain = vmkit_asm::assemble_str(&case.name, &src)
            .map_err(|d| format!("{d}"))?
            .image;
        let (protected, report) = protect(
            &plain,
            &Options {
                seed,
                vms: 1,
                ..Options::default()
            },
        )
        .map_err(|e| format!("{}: {e}", case.name))?;
        let p = run(&plain, n, case.expect_reg)?;
        let q = run(&protected, n, case.expect_reg)?;
        let want = (case.native)(n);
        if p.result != want || q.result != want {
            return Err(format!(
                "{}: native Rust gives {want}, the plain program {}, the protected {}",
                case.name, p.result, q.result
            ));
        }
        // The devirtualizer on the same image: how long it takes, and that what it gives
        // back computes the same result in as many instructions as the plain program.
        let t = std::time::Instant::now();
        let back = vmkit_protect::devirtualize(&protected)
            .map_err(|e| format!("{}: devirt: {e}", case.name))?;
        let devirt_ms = t.elapsed().as_secs_f64() * 1000.0;
        let r = run(&back.image, n, case.expect_reg)?;
        if r.result != want || r.steps != p.steps {
            return Err(format!(
                "{}: the devirtualized program gives {} in {} steps, the plain one {want} in {}",
                case.name, r.result, r.steps, p.steps
            ));
        }
        let d: Vec<u64> = report.vms.iter().map(|v| v.dispatch).collect();
        let v = dispatches(&protected, n, &d)?;
        // The program's own name and this benchmark's input (the native suite's names
        // carry its inputs).
        let word: String = case
            .name
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let name = if word == "memcopy" {
            format!("memcopy({buffer})")
        } else {
            format!("{word}({n})")
        };
        let per_v = q.steps as f64 / v.max(1) as f64;
        let v_per_plain = v as f64 / p.steps.max(1) as f64;
        let time = q.secs / p.secs.max(1e-9);
        let size = protected.to_bytes().len() as f64 / plain.to_bytes().len() as f64;
        if json {
            rows.push(format!(
                "{{\"name\":\"{name}\",\"plain_instructions\":{},\"virtual_instructions\":{v},\"protected_instructions\":{},\"native_per_virtual\":{per_v:.2},\"virtual_per_plain\":{v_per_plain:.2},\"time_ratio\":{time:.1},\"size_ratio\":{size:.1},\"devirt_ms\":{devirt_ms:.1}}}",
                p.steps, q.steps
            ));
        } else {
            println!(
                "{name:<20} {:>12} {v:>13} {:>13} {per_v:>10.1} {v_per_plain:>10.1} {time:>9.0}x {size:>7.0}x {devirt_ms:>10.0}",
                p.steps, q.steps
            );
        }
    }
    if json {
        println!("[{}]", rows.join(","));
    }
    Ok(0)
}
