//! Compares the dispatch backends on small guest programs, built from `vmkit_isa::Instr`.
//!
//! ```text
//! cargo run --release -p vmkit-machine --example dispatch_bench -- [RUNS] [WORKLOAD...] [BACKEND...]
//! ```
//!
//! Workloads: `count` (a 3-instruction counter loop, as `speed_probe`), `fib` (recursive
//! fib(30): calls, returns, pushes and pops), `mem` (an indexed load/add/store loop over an
//! 8 KiB array). Backends: `match`, `threaded`. Each run measures every chosen workload
//! under every chosen backend (all by default), alternating which goes first, in a fresh
//! machine; the table shows the median of RUNS (default 5) runs in millions of guest
//! instructions per second.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{imm, r, Prog};
use std::time::Instant;
use vmkit_isa::{Addr, Cond, Op, Operand, Reg};
use vmkit_machine::{Dispatch, Exit, Machine};

/// `[r15 + index*8 + disp]`.
fn elem(index: u8, disp: i32) -> Operand {
    Operand::mem(Addr::Indexed {
        base: Some(Reg::r(15)),
        index: Reg::r(index),
        scale_log2: 3,
        disp,
    })
}

/// A guest program, its memory size and the value r0 or r1 must hold at the end.
struct Workload {
    name: &'static str,
    code: Vec<u8>,
    memory: u64,
    check: (u8, u64),
}

fn count() -> Workload {
    let code = Prog::new()
        .q(Op::Mov, &[r(1), imm(0)])
        .q(Op::Mov, &[r(2), imm(200_000_000)])
        .label("loop")
        .q(Op::Add, &[r(1), imm(1)])
        .q(Op::Cmp, &[r(1), r(2)])
        .jcc(Cond::Nz, "loop")
        .q(Op::Halt, &[])
        .finish();
    Workload {
        name: "count",
        code,
        memory: 4096,
        check: (1, 200_000_000),
    }
}

/// fib(30), computed 5 times over (about 100 M instructions).
fn fib() -> Workload {
    let code = Prog::new()
        .q(Op::Mov, &[r(10), imm(5)])
        .label("again")
        .q(Op::Mov, &[r(1), imm(30)])
        .call("fib")
        .q(Op::Dec, &[r(10)])
        .jcc(Cond::Nz, "again")
        .q(Op::Halt, &[])
        // fib(r1) -> r0
        .label("fib")
        .q(Op::Cmp, &[r(1), imm(2)])
        .jcc(Cond::B, "base")
        .q(Op::Push, &[r(1)])
        .q(Op::Sub, &[r(1), imm(1)])
        .call("fib")
        .q(Op::Pop, &[r(1)])
        .q(Op::Push, &[r(0)])
        .q(Op::Sub, &[r(1), imm(2)])
        .call("fib")
        .q(Op::Pop, &[r(2)])
        .q(Op::Add, &[r(0), r(2)])
        .q(Op::Ret, &[])
        .label("base")
        .q(Op::Mov, &[r(0), r(1)])
        .q(Op::Ret, &[])
        .finish();
    Workload {
        name: "fib",
        code,
        memory: 1 << 16,
        check: (0, 832_040),
    }
}

/// a[(i+1) % 1024] = a[i % 1024] + i, 20 M times (8 instructions each, one load and one
/// store). The array lives on its own pages so stores never touch decoded code.
fn mem() -> Workload {
    const N: i64 = 20_000_000;
    let code = Prog::new()
        .q(Op::Mov, &[r(15), imm(0x1000)])
        .q(Op::Mov, &[r(1), imm(0)])
        .q(Op::Mov, &[r(2), imm(N)])
        .label("loop")
        .q(Op::Mov, &[r(3), r(1)])
        .q(Op::And, &[r(3), imm(1023)])
        .q(Op::Mov, &[r(4), elem(3, 0)])
        .q(Op::Add, &[r(4), r(1)])
        .q(Op::Mov, &[elem(3, 8), r(4)])
        .q(Op::Add, &[r(1), imm(1)])
        .q(Op::Cmp, &[r(1), r(2)])
        .jcc(Cond::Nz, "loop")
        .q(Op::Halt, &[])
        .finish();
    Workload {
        name: "mem",
        code,
        memory: 1 << 16,
        check: (1, N as u64),
    }
}

/// Runs `w` under `dispatch`; returns millions of guest instructions per second.
fn measure(w: &Workload, dispatch: Dispatch) -> f64 {
    let mut m = Machine::new(w.memory);
    m.set_dispatch(dispatch);
    let t = Instant::now();
    let exit = m.execute_bytes(&w.code, 0);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(exit, Exit::Halted, "{} under {dispatch:?}", w.name);
    let (reg, want) = w.check;
    assert_eq!(m.reg(Reg::r(reg)), want, "{} under {dispatch:?}", w.name);
    m.steps() as f64 / secs / 1e6
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut runs = 5;
    let mut names = Vec::new();
    let mut dispatches = Vec::new();
    for arg in std::env::args().skip(1) {
        match (arg.parse(), arg.as_str()) {
            (Ok(n), _) => runs = n,
            (_, "match") => dispatches.push(Dispatch::Match),
            (_, "threaded") => dispatches.push(Dispatch::Threaded),
            _ => names.push(arg),
        }
    }
    if dispatches.is_empty() {
        dispatches = Dispatch::ALL.to_vec();
    }
    let workloads: Vec<Workload> = [count(), fib(), mem()]
        .into_iter()
        .filter(|w| names.is_empty() || names.iter().any(|n| n == w.name))
        .collect();
    let mut results = vec![vec![Vec::new(); dispatches.len()]; workloads.len()];
    for run in 0..runs {
        for (w, per_dispatch) in workloads.iter().zip(&mut results) {
            // Alternate which backend goes first so neither always runs on a cold host cache.
            for k in 0..dispatches.len() {
                let d = (k + run) % dispatches.len();
                per_dispatch[d].push(measure(w, dispatches[d]));
            }
        }
    }
    print!("{:<10}", "M instr/s");
    for d in &dispatches {
        print!("{:>12}", format!("{d:?}"));
    }
    println!("   (median of {runs} runs)");
    for (w, per_dispatch) in workloads.iter().zip(&mut results) {
        print!("{:<10}", w.name);
        for samples in per_dispatch.iter_mut() {
            print!("{:>12.0}", median(samples));
        }
        println!();
    }
}
