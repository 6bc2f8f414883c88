//! A 3-instruction counter loop, 200 M iterations: `speed_probe [match|threaded]`.
use vmkit_isa::{Cond, Instr, Op, Operand, Reg, Size};
use vmkit_machine::{Dispatch, Machine};
fn main() {
    let dispatch = match std::env::args().nth(1).as_deref() {
        None | Some("match") => Dispatch::Match,
        Some("threaded") => Dispatch::Threaded,
        Some(other) => panic!("unknown dispatch `{other}` (match, threaded)"),
    };
    let r = |n| Operand::Reg(Reg::r(n));
    let mut code = Vec::new();
    let e = |i: Instr, c: &mut Vec<u8>| {
        i.encode_into(c).unwrap();
    };
    e(
        Instr::new(Op::Mov, Size::Q, &[r(1), Operand::imm(0)]),
        &mut code,
    );
    e(
        Instr::new(Op::Mov, Size::Q, &[r(2), Operand::imm(200_000_000)]),
        &mut code,
    );
    let top = code.len();
    e(
        Instr::new(Op::Add, Size::Q, &[r(1), Operand::imm(1)]),
        &mut code,
    );
    e(Instr::new(Op::Cmp, Size::Q, &[r(1), r(2)]), &mut code);
    let rel = top as i64 - (code.len() as i64 + 6);
    e(
        Instr::new(
            Op::Jcc,
            Size::Q,
            &[Operand::Cond(Cond::Nz), Operand::Rel(rel as i32)],
        ),
        &mut code,
    );
    e(Instr::new(Op::Halt, Size::Q, &[]), &mut code);
    let mut m = Machine::new(4096);
    m.set_dispatch(dispatch);
    let t = std::time::Instant::now();
    let exit = m.execute_bytes(&code, 0);
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{dispatch:?}: {exit:?} {} steps in {dt:.3}s = {:.0} M/s",
        m.steps(),
        m.steps() as f64 / dt / 1e6
    );
}
