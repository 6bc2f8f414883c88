//! Behaviour of the machine on small hand-built programs: results, faults, limits,
//! self-modifying code, protection, and every backend agreeing (each dispatch backend, with
//! the specialised fast records and with the reference semantics).

mod common;
use common::*;
use vmkit_image::{Image, Segment, SegmentKind};
use vmkit_isa::{Cond, Op, Reg, Size};
use vmkit_machine::{Config, Dispatch, Exit, FaultKind, Machine, MemError};

/// Runs `code` on every backend (each dispatch, with fast and with reference records), checks
/// that they all agree, and returns the first machine (`Match` dispatch, fast records) and
/// its exit.
fn run_all(code: &[u8], mem: u64) -> (Machine, Exit) {
    let mut all = machines(mem).into_iter();
    let (_, mut first) = all.next().unwrap();
    let exit = first.execute_bytes(code, 0);
    for (name, mut m) in all {
        assert_eq!(m.execute_bytes(code, 0), exit, "{name} disagrees on exit");
        assert_eq!(m.regs(), first.regs(), "{name} disagrees on registers");
        assert_eq!(m.flags(), first.flags(), "{name} disagrees on flags");
        assert_eq!(m.steps(), first.steps(), "{name} disagrees on steps");
        assert_eq!(
            m.read(0, mem).unwrap(),
            first.read(0, mem).unwrap(),
            "{name}: memory"
        );
    }
    (first, exit)
}

#[test]
fn counter_loop_counts_and_steps() {
    let code = Prog::new()
        .q(Op::Mov, &[r(1), imm(0)])
        .q(Op::Mov, &[r(2), imm(1000)])
        .label("loop")
        .q(Op::Add, &[r(1), imm(1)])
        .q(Op::Cmp, &[r(1), r(2)])
        .jcc(Cond::Nz, "loop")
        .q(Op::Halt, &[])
        .finish();
    let (m, _) = run_all(&code, 4096);
    assert_eq!(m.reg(Reg::r(1)), 1000);
    assert_eq!(m.steps(), 2 + 3 * 1000 + 1);
}

#[test]
fn step_limit_is_exact_and_resumable() {
    let code = Prog::new()
        .label("loop")
        .q(Op::Inc, &[r(1)])
        .jmp("loop")
        .finish();
    for limit in [0u64, 1, 2, 3, 63, 64, 65, 1000, 12345] {
        for (name, mut m) in machines(4096) {
            m.load_bytes(0, &code).unwrap();
            assert_eq!(m.run_for(limit), Exit::StepLimit, "{name}");
            assert_eq!(m.steps(), limit, "{name}");
            assert_eq!(m.reg(Reg::r(1)), limit.div_ceil(2), "{name}");
        }
    }
    for (name, mut m) in machines(4096) {
        m.load_bytes(0, &code).unwrap();
        m.run_for(101);
        m.run_for(99);
        assert_eq!(m.steps(), 200, "{name}");
        assert_eq!(m.reg(Reg::r(1)), 100, "{name}");
    }
}

#[test]
fn recursive_fib() {
    // fib(n): r1 = n -> r0
    let code = Prog::new()
        .q(Op::Mov, &[r(1), imm(20)])
        .call("fib")
        .q(Op::Halt, &[])
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
    let (m, _) = run_all(&code, 1 << 16);
    assert_eq!(m.reg(Reg::r(0)), 6765);
}

fn expect_fault(code: &[u8], check: impl Fn(&FaultKind) -> bool) -> vmkit_machine::Fault {
    match run_all(code, 1 << 16).1 {
        Exit::Fault(f) => {
            assert!(check(&f.kind), "unexpected fault {f}");
            *f
        }
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn faults_are_values_with_ip_and_text() {
    let f = expect_fault(
        &Prog::new()
            .q(Op::Mov, &[r(1), imm(7)])
            .q(Op::Div, &[r(1), r(2)])
            .finish(),
        |k| *k == FaultKind::DivideByZero,
    );
    assert_eq!(f.ip, 5); // `mov r1, 7` is opcode, mode, reg, mode, imm8
    assert_eq!(f.instr_text.as_deref(), Some("div r1, r2"));
    assert_eq!(f.regs[1], 7);
    let report = f.to_string();
    assert!(
        report.contains("division by zero") && report.contains("r1=0x0000000000000007"),
        "{report}"
    );

    // Zeroed memory is not a NOP sled: 0x00 is undefined.
    expect_fault(&Prog::new().q(Op::Nop, &[]).finish(), |k| {
        matches!(k, FaultKind::InvalidInstruction(_))
    });
    // Wild jump.
    let f = expect_fault(
        &Prog::new()
            .q(Op::Mov, &[r(1), imm(0x7FFF_0000)])
            .q(Op::JmpInd, &[r(1)])
            .finish(),
        |k| matches!(k, FaultKind::Memory(MemError::OutOfBounds { .. })),
    );
    assert_eq!(f.ip, 0x7FFF_0000);
    // Wild jumps to the very top of the address space (the jump cache's empty-slot tag).
    for target in [u64::MAX, u64::MAX - 1] {
        let f = expect_fault(
            &Prog::new()
                .q(Op::Mov, &[r(1), imm(target as i64)])
                .q(Op::JmpInd, &[r(1)])
                .finish(),
            |k| matches!(k, FaultKind::Memory(MemError::OutOfBounds { .. })),
        );
        assert_eq!(f.ip, target);
    }
    // Load outside memory.
    expect_fault(&Prog::new().q(Op::Mov, &[r(1), mem(2, -8)]).finish(), |k| {
        matches!(k, FaultKind::Memory(MemError::OutOfBounds { .. }))
    });
    // Signed overflow.
    expect_fault(
        &Prog::new()
            .q(Op::Mov, &[r(1), imm(i64::MIN)])
            .q(Op::Mov, &[r(2), imm(-1)])
            .q(Op::Idiv, &[r(1), r(2)])
            .finish(),
        |k| *k == FaultKind::DivideOverflow,
    );
}

#[test]
fn endless_recursion_is_a_stack_overflow() {
    let image = image_of(Prog::new().label("f").call("f").finish());
    for (d, mut m) in per_dispatch(|| Machine::from_image(&image, &Config::default()).unwrap()) {
        match m.run() {
            Exit::Fault(f) => assert!(matches!(f.kind, FaultKind::StackOverflow { .. }), "{f}"),
            e => panic!("{d:?}: {e:?}"),
        }
    }
}

fn image_of(code: Vec<u8>) -> Image {
    let mut image = Image::new(0x1000);
    image
        .segments
        .push(Segment::new(SegmentKind::Code, 0x1000, code));
    image
}

#[test]
fn null_page_and_constant_pool_are_protected() {
    let mut image = image_of(Prog::new().q(Op::Mov, &[r(1), abs(8)]).finish());
    for (d, mut m) in per_dispatch(|| Machine::from_image(&image, &Config::default()).unwrap()) {
        assert!(
            matches!(m.run(), Exit::Fault(f) if matches!(f.kind, FaultKind::Memory(MemError::Unmapped { addr: 8, .. }))),
            "{d:?}"
        );
    }

    image = image_of(Prog::new().q(Op::Mov, &[abs(0x2000), imm(1)]).finish());
    image
        .segments
        .push(Segment::new(SegmentKind::Const, 0x2000, vec![0; 8]));
    for (d, mut m) in per_dispatch(|| Machine::from_image(&image, &Config::default()).unwrap()) {
        assert!(
            matches!(m.run(), Exit::Fault(f) if matches!(f.kind, FaultKind::Memory(MemError::Protection { addr: 0x2000, .. }))),
            "{d:?}"
        );
    }
}

/// Self-modifying code: overwrite the immediate of an instruction that already ran, then run
/// it again; and patch the very next instruction of the running block.
#[test]
fn self_modifying_code_is_seen() {
    // 0: mov r1, 5 = opcode, REG, 1, IMM8, 5: the immediate is byte 4
    let code = Prog::new()
        .label("top")
        .q(Op::Mov, &[r(1), imm(5)])
        .q(Op::Add, &[r(2), r(1)])
        .q(Op::Cmp, &[r(2), imm(50)])
        .jcc(Cond::A, "done")
        .i(Op::Mov, Size::B, &[abs(4), imm(40)]) // patch the immediate to 40
        .jmp("top")
        .label("done")
        .q(Op::Halt, &[])
        .finish();
    let (m, _) = run_all(&code, 4096);
    assert_eq!(m.reg(Reg::r(2)), 5 + 40 + 40);

    // Patch the instruction right after the store, inside the same block: `mov r3, 1`
    // becomes `mov r3, 9` before it executes.
    let mut p = Prog::new();
    p.i(Op::Mov, Size::B, &[abs(0), imm(0)]); // placeholder, fixed below
    let patch_len = p.code.len();
    p.q(Op::Mov, &[r(3), imm(1)]).q(Op::Halt, &[]);
    let mut code = p.finish();
    let target = (patch_len + 4) as u32; // immediate byte of `mov r3, 1`
    let mut fixed = Prog::new();
    fixed.i(Op::Mov, Size::B, &[abs(target), imm(9)]);
    code[..patch_len].copy_from_slice(&fixed.finish());
    let (m, _) = run_all(&code, 4096);
    assert_eq!(m.reg(Reg::r(3)), 9);
}

/// A store into one block drops that block only: the others keep their decoded code, a
/// store next to code (on a code page, over no decoded byte) drops nothing, and the patched
/// block runs its new bytes, on every dispatch backend.
#[test]
fn a_store_into_code_drops_only_the_blocks_it_overlaps() {
    let mut p = Prog::new();
    p.jmp("main");
    let data = p.code.len() as u32;
    p.bytes(&[0; 8]).label("main");
    p.q(Op::Mov, &[r(1), imm(0)])
        .q(Op::Mov, &[r(2), imm(0)])
        .jmp("loop");
    let patched = p.code.len();
    p.label("loop")
        .q(Op::Add, &[r(1), imm(1)]) // opcode, REG, 1, IMM8, 1: the immediate is byte 4
        .call("other")
        .i(Op::Mov, Size::B, &[abs(data), r(1)]) // next to code: drops nothing
        .i(Op::Mov, Size::B, &[abs(patched as u32 + 4), imm(2)]) // `add r1, 1` -> `add r1, 2`
        .q(Op::Cmp, &[r(1), imm(100)])
        .jcc(Cond::B, "loop")
        .q(Op::Halt, &[])
        .label("other")
        .q(Op::Add, &[r(2), imm(1)])
        .q(Op::Ret, &[]);
    let code = p.finish();
    assert_eq!(code[patched + 4], 1, "the immediate byte of `add r1, 1`");

    // r1 = 1, 3, 5, ... 101: 51 passes, each writing over the block at `loop` once.
    let (m, exit) = run_all(&code, 4096);
    assert_eq!(exit, Exit::Halted);
    assert_eq!((m.reg(Reg::r(1)), m.reg(Reg::r(2))), (101, 51));
    for (name, mut m) in machines(4096) {
        m.execute_bytes(&code, 0);
        assert_eq!(m.reg(Reg::r(1)), 101, "{name}");
        let stats = m.code_cache_stats();
        // Blocks at 0, main, loop, other, after the call, after each store, and the halt:
        // eight, plus the block at `loop` again for each of the 50 passes after the first.
        // Dropping the whole cache on each write would translate every block again.
        assert_eq!(
            (stats.translations, stats.invalidations, stats.flushes),
            (8 + 50, 51, 1),
            "{name}"
        );
    }
}

#[test]
fn w_x_forbids_writing_code() {
    let image = image_of(Prog::new().q(Op::Mov, &[abs(0x1000), imm(1)]).finish());
    let cfg = Config {
        wx: true,
        ..Config::default()
    };
    for (d, mut m) in per_dispatch(|| Machine::from_image(&image, &cfg).unwrap()) {
        assert!(
            matches!(m.run(), Exit::Fault(f) if matches!(f.kind, FaultKind::Memory(MemError::Protection { addr: 0x1000, .. }))),
            "{d:?}"
        );
    }
    // Without W^X the same program may patch itself.
    for (d, mut m) in per_dispatch(|| Machine::from_image(&image, &Config::default()).unwrap()) {
        assert!(
            matches!(m.run(), Exit::Fault(f) if matches!(f.kind, FaultKind::InvalidInstruction(_))),
            "{d:?}"
        );
    }
}

#[test]
fn breakpoint_stops_and_resumes() {
    let code = Prog::new()
        .q(Op::Mov, &[r(1), imm(1)])
        .q(Op::Brk, &[])
        .q(Op::Mov, &[r(1), imm(2)])
        .q(Op::Halt, &[])
        .finish();
    for (name, mut m) in machines(4096) {
        assert_eq!(m.execute_bytes(&code, 0), Exit::Breakpoint, "{name}");
        assert_eq!(m.reg(Reg::r(1)), 1, "{name}");
        assert_eq!(m.run(), Exit::Halted, "{name}");
        assert_eq!(m.reg(Reg::r(1)), 2, "{name}");
    }
}

#[test]
fn host_functions_and_output_capture() {
    let code = Prog::new()
        .q(Op::Mov, &[r(1), imm(21)])
        .q(Op::Hcall, &[vmkit_isa::Operand::U16(0)])
        .q(Op::Mov, &[r(1), r(0)])
        .q(Op::Hcall, &[vmkit_isa::Operand::U16(1)])
        .q(Op::Hcall, &[vmkit_isa::Operand::U16(2)])
        .finish();
    for (name, mut m) in machines(4096) {
        m.capture_output();
        m.set_imports(&["double", "print", "missing"]);
        m.register_host("double", |c| Ok(c.arg(0) * 2));
        m.register_host("print", |c| {
            let v = c.arg(0);
            c.print(&format!("{v}\n")).map(|_| 0)
        });
        match m.execute_bytes(&code, 0) {
            Exit::Fault(f) => assert!(f.to_string().contains("host function `missing`"), "{f}"),
            e => panic!("{name}: {e:?}"),
        }
        assert_eq!(m.output(), b"42\n", "{name}");
    }
}

#[test]
fn sys_write_and_exit() {
    let mut p = Prog::new();
    p.q(Op::Mov, &[r(1), imm(1)])
        .q(Op::Mov, &[r(2), imm(0x100)])
        .q(Op::Mov, &[r(3), imm(3)])
        .q(
            Op::Sys,
            &[vmkit_isa::Operand::U8(vmkit_isa::syscall::WRITE)],
        )
        .q(Op::Mov, &[r(1), imm(7)])
        .q(Op::Sys, &[vmkit_isa::Operand::U8(vmkit_isa::syscall::EXIT)]);
    let code = p.finish();
    for (name, mut m) in machines(4096) {
        m.capture_output();
        m.load_bytes(0x100, b"hi\n").unwrap();
        assert_eq!(m.execute_bytes(&code, 0), Exit::Exited(7), "{name}");
        assert_eq!(m.output(), b"hi\n", "{name}");
        assert_eq!(m.reg(Reg::r(0)), 3, "{name}");
    }
}

/// Tens of millions of instructions on a 64 KiB thread stack, under every dispatch backend:
/// no backend may grow the host stack per guest instruction or per block. If one does, the
/// test process aborts with "thread 'small-stack-<backend>' has overflowed its stack".
#[test]
fn long_run_on_a_small_host_stack() {
    let code = Prog::new()
        .q(Op::Mov, &[r(1), imm(10_000_000)])
        .label("loop")
        .q(Op::Push, &[r(1)])
        .q(Op::Pop, &[r(2)])
        .call("f")
        .q(Op::Dec, &[r(1)])
        .jcc(Cond::Nz, "loop")
        .q(Op::Halt, &[])
        .label("f")
        .q(Op::Ret, &[])
        .finish();
    for dispatch in Dispatch::ALL {
        let code = code.clone();
        let handle = std::thread::Builder::new()
            .name(format!("small-stack-{dispatch:?}"))
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut m = Machine::new(1 << 16);
                m.set_dispatch(dispatch);
                let exit = m.execute_bytes(&code, 0);
                (exit, m.steps())
            })
            .unwrap();
        let (exit, steps) = handle.join().unwrap();
        assert_eq!(exit, Exit::Halted, "{dispatch:?}");
        assert_eq!(steps, 1 + 10_000_000 * 6 + 1, "{dispatch:?}");
    }
}

/// Two segments in one page: the page gets both segments' permissions, so neither the code
/// nor the data becomes unusable; under W^X the shared page loses write.
#[test]
fn segments_sharing_a_page_get_the_union_of_permissions() {
    let mut image = image_of(
        Prog::new()
            .q(Op::Mov, &[r(1), abs(0x1100)])
            .q(Op::Mov, &[abs(0x1108), r(1)])
            .q(Op::Halt, &[])
            .finish(),
    );
    image.segments.push(Segment::new(
        SegmentKind::Data,
        0x1100,
        42u64.to_le_bytes().to_vec(),
    ));
    let mut m = Machine::from_image(&image, &Config::default()).unwrap();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.read_u64(0x1108).unwrap(), 42);

    let cfg = Config {
        wx: true,
        ..Config::default()
    };
    let mut m = Machine::from_image(&image, &cfg).unwrap();
    assert!(
        matches!(m.run(), Exit::Fault(f) if matches!(f.kind, FaultKind::Memory(MemError::Protection { addr: 0x1108, .. })))
    );
}

/// A huge bss costs nothing until touched: loading does not write it.
#[test]
fn large_bss_loads_without_touching_memory() {
    let mut image = image_of(Prog::new().q(Op::Halt, &[]).finish());
    image.segments.push(Segment {
        kind: SegmentKind::Bss,
        perms: vmkit_image::Perms::RW,
        addr: 0x10_0000,
        mem_size: 8 << 30,
        data: vec![],
    });
    let mut m = Machine::from_image(&image, &Config::default()).unwrap();
    assert_eq!(m.run(), Exit::Halted);
    assert!(m.memory_size() > 8 << 30);
}
