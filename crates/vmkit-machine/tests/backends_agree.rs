//! Property test: the specialised fast records and the reference semantics, under every
//! dispatch backend, give identical results (registers, flags, memory, exit, step count) on
//! random programs.

mod common;
use common::*;
use proptest::prelude::*;
use vmkit_isa::{Addr, Cond, Instr, Mem, Op, Operand, Reg, Size};
use vmkit_machine::Machine;

const MEM: u64 = 1 << 16;
const SCRATCH: i64 = 0x8000;

fn reg() -> impl Strategy<Value = Operand> {
    // r15 is the scratch base and stays fixed; sp is left alone.
    (0u8..8).prop_map(|n| Operand::Reg(Reg::r(n)))
}

fn any_imm() -> impl Strategy<Value = Operand> {
    prop_oneof![
        (-130i64..130).prop_map(Operand::imm),
        any::<i32>().prop_map(|v| Operand::imm(v as i64)),
        any::<i64>().prop_map(Operand::imm),
        Just(Operand::imm(i64::MIN)),
        Just(Operand::imm(-1)),
    ]
}

fn memop() -> impl Strategy<Value = Operand> {
    prop_oneof![
        (0i32..256).prop_map(|d| Operand::mem(Addr::Based {
            base: Reg::r(15),
            disp: d
        })),
        (0u8..8, 0u8..4, 0i32..64).prop_map(|(i, s, d)| Operand::mem(Addr::Indexed {
            base: Some(Reg::r(15)),
            index: Reg::r(i),
            scale_log2: s,
            disp: d,
        })),
        (0u32..256).prop_map(|d| Operand::mem(Addr::Abs(SCRATCH as u32 + d))),
        // A pointer stored at scratch+0x200 (set up by the prologue) dereferenced once.
        Just(Operand::Mem(Mem {
            addr: Addr::Abs(SCRATCH as u32 + 0x200),
            depth: 1
        })),
    ]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![
        Just(Size::Q),
        Just(Size::Q),
        Just(Size::B),
        Just(Size::W),
        Just(Size::D)
    ]
}

fn instr() -> impl Strategy<Value = Instr> {
    let binops = prop_oneof![
        Just(Op::Mov),
        Just(Op::Add),
        Just(Op::Adc),
        Just(Op::Sub),
        Just(Op::Sbb),
        Just(Op::And),
        Just(Op::Or),
        Just(Op::Xor),
        Just(Op::Cmp),
        Just(Op::Test),
        Just(Op::Shl),
        Just(Op::Shr),
        Just(Op::Sar),
        Just(Op::Rol),
        Just(Op::Ror),
        Just(Op::Imul),
        Just(Op::Mul),
        Just(Op::Mulh),
        Just(Op::Imulh),
        Just(Op::Movzx),
        Just(Op::Movsx),
    ];
    let unops = prop_oneof![
        Just(Op::Inc),
        Just(Op::Dec),
        Just(Op::Neg),
        Just(Op::Not),
        Just(Op::Bswap)
    ];
    prop_oneof![
        (
            binops.clone(),
            size(),
            reg(),
            prop_oneof![reg(), any_imm(), memop()]
        )
            .prop_map(|(op, s, a, b)| Instr::new(op, s, &[a, b])),
        (binops, size(), memop(), prop_oneof![reg(), any_imm()]).prop_map(|(op, s, a, b)| {
            let op = if matches!(op, Op::Movzx | Op::Movsx) {
                Op::Mov
            } else {
                op
            };
            Instr::new(op, s, &[a, b])
        }),
        (unops, size(), prop_oneof![reg(), memop()]).prop_map(|(op, s, a)| Instr::new(op, s, &[a])),
        (reg(), memop()).prop_map(|(a, m)| Instr::new(Op::Lea, Size::Q, &[a, m])),
        (0u8..14, size(), prop_oneof![reg(), memop()]).prop_map(|(c, s, d)| Instr::new(
            Op::Setcc,
            s,
            &[Operand::Cond(Cond::ALL[c as usize]), d]
        )),
        (0u8..14, size(), reg(), prop_oneof![reg(), memop()]).prop_map(|(c, s, d, src)| {
            Instr::new(
                Op::Cmovcc,
                s,
                &[Operand::Cond(Cond::ALL[c as usize]), d, src],
            )
        }),
        (size(), reg()).prop_map(|(s, a)| Instr::new(Op::Push, s, &[a])),
        (size(), reg()).prop_map(|(s, a)| Instr::new(Op::Pop, s, &[a])),
        (reg(), reg()).prop_map(|(a, b)| Instr::new(Op::Xchg, Size::Q, &[a, b])),
        Just(Instr::new(Op::Pushf, Size::Q, &[])),
        Just(Instr::new(Op::Popf, Size::Q, &[])),
        (reg(), reg()).prop_map(|(a, b)| Instr::new(Op::Fadd, Size::Q, &[a, b])),
        (reg(), reg()).prop_map(|(a, b)| Instr::new(Op::Cvtif, Size::Q, &[a, b])),
        (reg(), reg()).prop_map(|(a, b)| Instr::new(Op::Cvtfi, Size::Q, &[a, b])),
    ]
}

/// A program: a prologue giving registers values, then random instructions interleaved with
/// forward conditional branches (so it terminates), a call/ret pair, then halt.
fn program(body: &[(Instr, Option<(u8, u8)>)], seeds: &[i64]) -> Vec<u8> {
    let mut p = Prog::new();
    p.q(Op::Mov, &[r(15), imm(SCRATCH)]);
    p.q(Op::Mov, &[abs(SCRATCH as u32 + 0x200), imm(SCRATCH + 0x40)]);
    for (i, v) in seeds.iter().enumerate() {
        p.q(Op::Mov, &[r(i as u8), imm(*v)]);
    }
    for (k, (ins, branch)) in body.iter().enumerate() {
        p.label(&format!("L{k}"));
        ins.encode_into(&mut p.code).unwrap();
        if let Some((c, skip)) = branch {
            let target = (k + 1 + *skip as usize).min(body.len());
            // Half of the branches test a fresh compare (the fused compare-and-branch form),
            // against a register or an immediate of every width.
            match skip % 4 {
                0 => {
                    p.q(Op::Cmp, &[r(*c % 8), r((*c + 3) % 8)]);
                }
                1 => {
                    p.q(
                        Op::Cmp,
                        &[r(*c % 8), imm(seeds[*c as usize % 8] >> (*c * 4))],
                    );
                }
                2 => {
                    // Equal operands: where `l` and `le`, `b` and `be` differ.
                    p.q(Op::Cmp, &[r(*c % 8), r(*c % 8)]);
                }
                _ => {}
            }
            p.jcc(Cond::ALL[*c as usize], &format!("L{target}"));
        }
    }
    p.label(&format!("L{}", body.len()));
    p.q(Op::Halt, &[]);
    p.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]
    #[test]
    fn all_backends_agree(
        body in proptest::collection::vec((instr(), proptest::option::weighted(0.2, (0u8..14, 0u8..4))), 1..40),
        seeds in proptest::collection::vec(any::<i64>(), 8),
    ) {
        let code = program(&body, &seeds);
        // Every dispatch backend, each with the fast records and with the reference
        // semantics, against the first (`Match` dispatch, fast records).
        let mut all = machines(MEM).into_iter();
        let (_, mut fast) = all.next().unwrap();
        let ef = fast.execute_bytes(&code, 0);
        for (name, mut other) in all {
            let eo = other.execute_bytes(&code, 0);
            prop_assert_eq!(&eo, &ef, "{}", name);
            prop_assert_eq!(other.regs(), fast.regs(), "{}", name);
            prop_assert_eq!(other.flags(), fast.flags(), "{}", name);
            prop_assert_eq!(other.steps(), fast.steps(), "{}", name);
            prop_assert_eq!(other.read(0, MEM).unwrap(), fast.read(0, MEM).unwrap(), "{}", name);
        }

        // Single-stepping (the tracer's path) agrees too.
        let mut step = Machine::new(MEM);
        step.load_bytes(0, &code).unwrap();
        let mut exit = None;
        for _ in 0..10_000 {
            if let Some(e) = step.step() { exit = Some(e); break; }
        }
        prop_assert_eq!(exit.as_ref(), Some(&ef));
        prop_assert_eq!(step.regs(), fast.regs());
        prop_assert_eq!(step.flags(), fast.flags());
    }
}
