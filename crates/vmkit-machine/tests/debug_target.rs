//! The native machine driven only through the `DebugTarget` trait, as a debugger front end
//! (a gdb stub, a Python binding) would drive it: breakpoints, continuing with a budget,
//! registers by name, single steps, memory, and the stop reasons.

use vmkit_machine::{Config, DebugError, DebugTarget, Machine, RegisterInfo, Signal, StopReason};

/// A loop that adds 3 to r1 five times, stores r1 at `buf`, then halts.
const PROGRAM: &str = "main:
    mov r1, 0
    mov r2, 5
loop:
    add r1, 3
    dec r2
    jnz loop
after:
    mov r3, buf
    mov [r3], r1
    halt
.bss
buf: .space 8
";

/// The machine, boxed as a trait object, and the addresses of `loop`, `after` and `buf`.
fn target(src: &str) -> (Box<dyn DebugTarget>, impl Fn(&str) -> u64) {
    let image = vmkit_asm::assemble_str("debug.s", src).unwrap().image;
    let symbols = image.symbols.clone();
    let addr = move |name: &str| symbols.iter().find(|s| s.name == name).unwrap().addr;
    let machine = Machine::from_image(&image, &Config::default()).unwrap();
    (Box::new(machine), addr)
}

#[test]
fn breakpoint_continue_read_register_step() {
    let (mut t, addr) = target(PROGRAM);
    let t: &mut dyn DebugTarget = t.as_mut();
    assert_eq!(t.stop_reason(), None);
    assert!(t.add_breakpoint(addr("loop")));
    assert!(
        !t.add_breakpoint(addr("loop")),
        "a second breakpoint at one address"
    );

    // Each pass of the loop stops at its head, before `add` runs.
    for pass in 0..5 {
        let stop = t.resume(1000);
        assert_eq!(
            stop,
            StopReason::Breakpoint {
                address: addr("loop")
            }
        );
        assert_eq!(t.pc(), addr("loop"));
        assert_eq!(t.read_register("r1").unwrap(), 3 * pass);
        assert_eq!(t.read_register("r2").unwrap(), 5 - pass);
    }
    assert_eq!(
        t.stop_reason(),
        Some(&StopReason::Breakpoint {
            address: addr("loop")
        })
    );

    // A single step from a breakpoint runs the instruction there.
    assert_eq!(t.step(), StopReason::Stepped);
    assert_eq!(t.read_register("r1").unwrap(), 15);
    assert!(t.pc() > addr("loop") && t.pc() < addr("after"));

    assert!(t.remove_breakpoint(addr("loop")));
    assert!(!t.remove_breakpoint(addr("loop")));
    assert!(t.add_breakpoint(addr("after")));
    assert_eq!(t.breakpoints(), vec![addr("after")]);
    assert_eq!(
        t.resume(1000),
        StopReason::Breakpoint {
            address: addr("after")
        }
    );
    assert_eq!(t.read_register("r2").unwrap(), 0);

    // Run to the end; the store is visible through the debugger's memory view.
    assert_eq!(t.resume(1000), StopReason::Exited { status: 0 });
    let buf = t.read_memory(addr("buf"), 8).unwrap();
    assert_eq!(u64::from_le_bytes(buf.try_into().unwrap()), 15);
}

#[test]
fn budget_runs_out_and_resumes() {
    let (mut t, _) = target(PROGRAM);
    // Without breakpoints the fast loop runs: 2 + 3 instructions are one pass and a half.
    assert_eq!(t.resume(5), StopReason::BudgetExhausted);
    assert_eq!(t.read_register("r1").unwrap(), 3);
    // With a breakpoint that is never reached, the budget still counts instructions.
    t.add_breakpoint(0xdead_0000);
    assert_eq!(t.resume(3), StopReason::BudgetExhausted);
    assert_eq!(t.read_register("r1").unwrap(), 6);
    assert_eq!(t.resume(1000), StopReason::Exited { status: 0 });
}

#[test]
fn registers_by_name() {
    let (mut t, addr) = target(PROGRAM);
    let names: Vec<&str> = t.registers().iter().map(|r| r.name).collect();
    assert_eq!(names.len(), 19);
    assert_eq!(&names[..2], ["r0", "r1"]);
    assert_eq!(&names[16..], ["sp", "ip", "flags"]);
    assert!(t.registers().iter().all(|r: &RegisterInfo| r.bits == 64));
    assert_eq!(t.architecture(), "vmkit");

    t.write_register("r7", 0x1234).unwrap();
    assert_eq!(t.read_register("r7").unwrap(), 0x1234);
    assert_eq!(t.read_register("ip").unwrap(), t.pc());
    // Moving the program counter skips the loop: r1 stays 0.
    t.write_register("ip", addr("after")).unwrap();
    assert_eq!(t.resume(1000), StopReason::Exited { status: 0 });
    assert_eq!(t.read_register("r1").unwrap(), 0);
    assert_eq!(
        t.read_register("eax"),
        Err(DebugError::UnknownRegister("eax".into()))
    );
    assert!(t.write_register("r16", 1).is_err());
}

#[test]
fn write_memory_changes_what_runs() {
    // `patch` is `mov r1, 1`; the debugger overwrites it with the bytes of `mov r1, 2`
    // after the code has run once (so it is in the code cache).
    let src = "main:
    mov r5, 0
again:
    call patch
    inc r5
    cmp r5, 2
    jb again
    halt
patch:
    mov r1, 1
    ret
two:
    mov r1, 2
    ret
";
    let (mut t, addr) = target(src);
    t.add_breakpoint(addr("again"));
    assert_eq!(
        t.resume(100),
        StopReason::Breakpoint {
            address: addr("again")
        }
    );
    assert_eq!(
        t.resume(100),
        StopReason::Breakpoint {
            address: addr("again")
        }
    );
    assert_eq!(t.read_register("r1").unwrap(), 1);
    let len = addr("two") - addr("patch");
    let replacement = t.read_memory(addr("two"), len).unwrap();
    t.write_memory(addr("patch"), &replacement).unwrap();
    t.remove_breakpoint(addr("again"));
    assert_eq!(t.resume(100), StopReason::Exited { status: 0 });
    assert_eq!(t.read_register("r1").unwrap(), 2);
    assert!(t.read_memory(u64::MAX - 4, 8).is_err());
}

#[test]
fn faults_and_traps_are_signals() {
    let (mut t, addr) =
        target("main:\n    mov r1, 0\n    mov r2, 7\nboom:\n    div r2, r1\n    halt\n");
    match t.resume(100) {
        StopReason::Signal {
            signal, address, ..
        } => {
            assert_eq!(signal, Signal::FPE);
            assert_eq!(address, addr("boom"));
        }
        other => panic!("expected SIGFPE, got {other:?}"),
    }
    assert_eq!(t.pc(), addr("boom"));

    let (mut t, _) = target("main:\n    brk\n    mov r1, 9\n    halt\n");
    match t.step() {
        StopReason::Signal { signal, .. } => assert_eq!(signal, Signal::TRAP),
        other => panic!("expected SIGTRAP, got {other:?}"),
    }
    // Execution goes on after `brk`.
    assert_eq!(t.resume(100), StopReason::Exited { status: 0 });
    assert_eq!(t.read_register("r1").unwrap(), 9);

    let (mut t, _) = target("main:\n    mov r1, 3\n    sys exit\n");
    assert_eq!(t.resume(100), StopReason::Exited { status: 3 });
}
