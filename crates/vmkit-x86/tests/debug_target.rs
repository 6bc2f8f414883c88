//! The x86 machine driven only through the `DebugTarget` trait, as a debugger front end
//! (a gdb stub, a Python binding) would drive it: breakpoints, continuing with a budget,
//! registers by name, single steps, memory, and the stop reasons. Every test runs on both
//! engines. It mirrors vmkit-machine's tests/debug_target.rs.

use vmkit_x86::{DebugError, DebugTarget, Engine, RegisterInfo, Signal, StopReason, X86Machine};

/// Where the programs are loaded.
const BASE: u64 = 0x1000;
/// A word of the stack region, which `load_raw` maps read-write.
const BUF: u64 = 0xBFF0_0000;

/// A loop that adds 3 to ecx five times, stores ecx at `BUF`, then exits with status 0.
///
/// ```text
/// 0x1000: mov ecx, 0
/// 0x1005: mov edx, 5
/// 0x100a: loop:  add ecx, 3
/// 0x100d:        dec edx
/// 0x100e:        jnz loop
/// 0x1010: after: mov [0xbff00000], ecx
/// 0x1016:        mov ebx, 0 ; mov eax, 1 ; int 0x80
/// ```
const PROGRAM: &[u8] = &[
    0xB9, 0, 0, 0, 0, // mov ecx, 0
    0xBA, 5, 0, 0, 0, // mov edx, 5
    0x83, 0xC1, 3,    // add ecx, 3
    0x4A, // dec edx
    0x75, 0xFA, // jnz loop
    0x89, 0x0D, 0x00, 0x00, 0xF0, 0xBF, // mov [0xbff00000], ecx
    0xBB, 0, 0, 0, 0, // mov ebx, 0
    0xB8, 1, 0, 0, 0, // mov eax, 1
    0xCD, 0x80, // int 0x80
];
const LOOP: u64 = 0x100A;
const AFTER: u64 = 0x1010;

const ENGINES: [Engine; 3] = [Engine::Interp, Engine::Reference, Engine::Jit];

/// The machine with `code` at `BASE`, on `engine`, boxed as a trait object.
fn target(code: &[u8], engine: Engine) -> Box<dyn DebugTarget> {
    let mut vm = X86Machine::new();
    vm.set_engine(engine);
    vm.load_raw(BASE as u32, code).unwrap();
    Box::new(vm)
}

#[test]
fn breakpoint_continue_read_register_step() {
    for engine in ENGINES {
        let mut t = target(PROGRAM, engine);
        let t: &mut dyn DebugTarget = t.as_mut();
        assert_eq!(t.stop_reason(), None);
        assert!(t.add_breakpoint(LOOP));
        assert!(
            !t.add_breakpoint(LOOP),
            "a second breakpoint at one address"
        );

        // Each pass of the loop stops at its head, before `add` runs.
        for pass in 0..5 {
            let stop = t.resume(1000);
            assert_eq!(stop, StopReason::Breakpoint { address: LOOP }, "{engine:?}");
            assert_eq!(t.pc(), LOOP);
            assert_eq!(t.read_register("ecx").unwrap(), 3 * pass);
            assert_eq!(t.read_register("edx").unwrap(), 5 - pass);
        }
        assert_eq!(
            t.stop_reason(),
            Some(&StopReason::Breakpoint { address: LOOP })
        );

        // A single step from a breakpoint runs the instruction there.
        assert_eq!(t.step(), StopReason::Stepped);
        assert_eq!(t.read_register("ecx").unwrap(), 15);
        assert_eq!(t.pc(), LOOP + 3);

        assert!(t.remove_breakpoint(LOOP));
        assert!(!t.remove_breakpoint(LOOP));
        assert!(t.add_breakpoint(AFTER));
        assert_eq!(t.breakpoints(), vec![AFTER]);
        assert_eq!(t.resume(1000), StopReason::Breakpoint { address: AFTER });
        assert_eq!(t.read_register("edx").unwrap(), 0);

        // Run to the end; the store is visible through the debugger's memory view.
        assert_eq!(t.resume(1000), StopReason::Exited { status: 0 });
        let buf = t.read_memory(BUF, 4).unwrap();
        assert_eq!(u32::from_le_bytes(buf.try_into().unwrap()), 15);
    }
}

#[test]
fn budget_runs_out_and_resumes() {
    for engine in ENGINES {
        let mut t = target(PROGRAM, engine);
        // Without breakpoints the engine runs: 2 + 3 instructions are one pass and a half.
        assert_eq!(t.resume(5), StopReason::BudgetExhausted, "{engine:?}");
        assert_eq!(t.read_register("ecx").unwrap(), 3);
        // With a breakpoint that is never reached, the budget still counts instructions.
        t.add_breakpoint(0xdead_0000);
        assert_eq!(t.resume(3), StopReason::BudgetExhausted);
        assert_eq!(t.read_register("ecx").unwrap(), 6);
        // One beyond the address space is never reached either.
        t.add_breakpoint(1 << 40);
        assert_eq!(t.resume(1000), StopReason::Exited { status: 0 });
    }
}

#[test]
fn registers_by_name() {
    for engine in ENGINES {
        let mut t = target(PROGRAM, engine);
        let names: Vec<&str> = t.registers().iter().map(|r| r.name).collect();
        assert_eq!(
            &names[..10],
            ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"]
        );
        let bits = |name: &str| t.registers().iter().find(|r| r.name == name).unwrap().bits;
        assert_eq!((bits("eax"), bits("cs"), bits("fctrl")), (32, 16, 16));
        assert!(t.registers().iter().all(|r: &RegisterInfo| r.bits <= 32));
        assert_eq!(t.architecture(), "i386");

        t.write_register("edi", 0x1234_5678).unwrap();
        assert_eq!(t.read_register("edi").unwrap(), 0x1234_5678);
        assert_eq!(t.read_register("di").unwrap(), 0x5678);
        t.write_register("al", 0x99).unwrap();
        assert_eq!(t.read_register("eax").unwrap(), 0x99);
        assert_eq!(t.read_register("eip").unwrap(), t.pc());
        assert_eq!(t.pc(), BASE);
        // Moving the program counter skips the loop: ecx stays 0.
        t.write_register("eip", AFTER).unwrap();
        assert_eq!(
            t.resume(1000),
            StopReason::Exited { status: 0 },
            "{engine:?}"
        );
        assert_eq!(t.read_register("ecx").unwrap(), 0);
        assert_eq!(
            t.read_register("r1"),
            Err(DebugError::UnknownRegister("r1".into()))
        );
        assert!(t.write_register("xmm0", 1).is_err());
        assert_eq!(
            t.write_register("eax", 1 << 32),
            Err(DebugError::BadRegisterValue {
                name: "eax".into(),
                value: 1 << 32
            })
        );
        assert!(t.write_register("al", 0x100).is_err());
    }
}

#[test]
fn write_memory_changes_what_runs() {
    // `patch` is `mov ecx, 1`; the debugger overwrites it with the bytes of `mov ecx, 2`
    // after the code has run once (so it is decoded and cached).
    //
    // 0x1000: xor esi, esi
    // 0x1002: again: call patch
    // 0x1007:        inc esi
    // 0x1008:        cmp esi, 2
    // 0x100b:        jb again
    // 0x100d: mov ebx, ecx ; mov eax, 1 ; int 0x80
    // 0x1016: patch: mov ecx, 1 ; ret
    // 0x101c: two:   mov ecx, 2 ; ret
    let code = [
        0x31, 0xF6, // xor esi, esi
        0xE8, 0x0F, 0, 0, 0,    // call patch
        0x46, // inc esi
        0x83, 0xFE, 2, // cmp esi, 2
        0x72, 0xF5, // jb again
        0x89, 0xCB, // mov ebx, ecx
        0xB8, 1, 0, 0, 0, // mov eax, 1
        0xCD, 0x80, // int 0x80
        0xB9, 1, 0, 0, 0, 0xC3, // patch: mov ecx, 1 ; ret
        0xB9, 2, 0, 0, 0, 0xC3, // two: mov ecx, 2 ; ret
    ];
    let (again, patch, two) = (0x1002, 0x1016, 0x101C);
    for engine in ENGINES {
        let mut t = target(&code, engine);
        t.add_breakpoint(again);
        assert_eq!(t.resume(100), StopReason::Breakpoint { address: again });
        assert_eq!(t.resume(100), StopReason::Breakpoint { address: again });
        assert_eq!(t.read_register("ecx").unwrap(), 1);
        let replacement = t.read_memory(two, two - patch).unwrap();
        t.write_memory(patch, &replacement).unwrap();
        t.remove_breakpoint(again);
        assert_eq!(
            t.resume(100),
            StopReason::Exited { status: 2 },
            "{engine:?}"
        );
        assert_eq!(t.read_register("ecx").unwrap(), 2);
        assert!(t.read_memory(u32::MAX as u64 - 3, 8).is_err());
        assert!(t.read_memory(1 << 32, 1).is_err());
        assert!(t.write_memory(u32::MAX as u64, &[1, 2]).is_err());
    }
}

#[test]
fn faults_are_signals() {
    for engine in ENGINES {
        // xor ecx, ecx ; mov eax, 7 ; xor edx, edx ; boom: div ecx
        let mut t = target(
            &[0x31, 0xC9, 0xB8, 7, 0, 0, 0, 0x31, 0xD2, 0xF7, 0xF1],
            engine,
        );
        match t.resume(100) {
            StopReason::Signal {
                signal, address, ..
            } => {
                assert_eq!(signal, Signal::FPE);
                assert_eq!(address, 0x1009);
            }
            other => panic!("expected SIGFPE, got {other:?}"),
        }
        assert_eq!(t.pc(), 0x1009);

        // mov eax, [0] under a breakpoint-driven run: a memory fault is SIGSEGV.
        let mut t = target(&[0x90, 0xA1, 0, 0, 0, 0], engine);
        t.add_breakpoint(0x2000);
        match t.resume(100) {
            StopReason::Signal {
                signal,
                address,
                message,
            } => {
                assert_eq!((signal, address), (Signal::SEGV, 0x1001));
                assert!(!message.is_empty());
            }
            other => panic!("expected SIGSEGV, got {other:?}"),
        }

        // ud2 stepped into: SIGILL.
        let mut t = target(&[0x0F, 0x0B], engine);
        match t.step() {
            StopReason::Signal { signal, .. } => assert_eq!(signal, Signal::ILL),
            other => panic!("expected SIGILL, got {other:?}"),
        }

        // mov ebx, 3 ; mov eax, 1 ; int 0x80: exit(3), also when stepped to.
        let exit3 = [0xBB, 3, 0, 0, 0, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
        let mut t = target(&exit3, engine);
        assert_eq!(t.resume(100), StopReason::Exited { status: 3 });
        let mut t = target(&exit3, engine);
        assert_eq!(t.step(), StopReason::Stepped);
        assert_eq!(t.step(), StopReason::Stepped);
        assert_eq!(t.step(), StopReason::Exited { status: 3 });
        assert_eq!(t.stop_reason(), Some(&StopReason::Exited { status: 3 }));
    }
}

#[test]
fn a_hook_that_stops_the_run_is_a_requested_stop() {
    for engine in ENGINES {
        let mut vm = X86Machine::new();
        vm.set_engine(engine);
        vm.load_raw(BASE as u32, PROGRAM).unwrap();
        vm.hook_code(AFTER as u32..AFTER as u32 + 1, |ctx, _, _| ctx.stop());
        let t: &mut dyn DebugTarget = &mut vm;
        assert_eq!(
            t.resume(1_000_000),
            StopReason::Requested { address: AFTER },
            "{engine:?}"
        );
        assert_eq!(t.read_register("ecx"), Ok(15), "{engine:?}");
    }
}
