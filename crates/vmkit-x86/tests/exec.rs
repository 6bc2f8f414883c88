//! Instruction-level behaviour of the x86 guest on hand-assembled snippets (encodings in the
//! comments). Flag semantics are checked against the host CPU in `alu_vs_cpu.rs`.

use vmkit_x86::cpu::{EAX, EBX, ECX, EDI, EDX, ESI, ESP};
use vmkit_x86::{X86Exit, X86FaultKind, X86Machine};

/// Loads `code` at 0 with `data` at 0x100 (same page), runs `steps` instructions.
fn run(code: &[u8], data: &[u8], steps: u64) -> X86Machine {
    let mut image = vec![0u8; 0x300];
    image[..code.len()].copy_from_slice(code);
    image[0x100..0x100 + data.len()].copy_from_slice(data);
    let mut vm = X86Machine::new();
    vm.load_raw(0, &image).unwrap();
    assert_eq!(vm.run_for(steps), X86Exit::StepLimit);
    vm
}

#[test]
fn mul_then_div_round_trips() {
    let code = [
        0xB8, 0x78, 0x56, 0x34, 0x12, // mov eax, 0x12345678
        0xB9, 0x00, 0x01, 0x00, 0x00, // mov ecx, 0x100
        0xF7, 0xE1, // mul ecx
        0x89, 0xC6, // mov esi, eax
        0x89, 0xD7, // mov edi, edx
        0xF7, 0xF1, // div ecx
    ];
    let vm = run(&code, &[], 6);
    assert_eq!(
        (vm.cpu().regs[ESI], vm.cpu().regs[EDI]),
        (0x3456_7800, 0x12)
    );
    assert_eq!((vm.cpu().regs[EAX], vm.cpu().regs[EDX]), (0x1234_5678, 0));
}

#[test]
fn repne_scasb_finds_the_terminator_and_rep_movsb_copies() {
    let code = [
        0xBF, 0x00, 0x01, 0x00, 0x00, // mov edi, 0x100
        0x31, 0xC0, // xor eax, eax
        0xB9, 0xFF, 0xFF, 0xFF, 0xFF, // mov ecx, -1
        0xFC, // cld
        0xF2, 0xAE, // repne scasb
        0xBE, 0x00, 0x01, 0x00, 0x00, // mov esi, 0x100
        0xBF, 0x00, 0x02, 0x00, 0x00, // mov edi, 0x200
        0xB9, 0x05, 0x00, 0x00, 0x00, // mov ecx, 5
        0xF3, 0xA4, // rep movsb
    ];
    let vm = run(&code[..15], b"hello\0", 5);
    assert_eq!(vm.cpu().regs[ECX], 0xFFFF_FFFF - 6, "scanned six bytes");
    assert_eq!(vm.cpu().regs[EDI], 0x106);
    let vm = run(&code, b"hello\0", 9);
    assert_eq!(vm.memory().peek(0x200, 5).unwrap(), b"hello");
    assert_eq!(
        (vm.cpu().regs[ECX], vm.cpu().regs[ESI], vm.cpu().regs[EDI]),
        (0, 0x105, 0x205)
    );
}

#[test]
fn cmpxchg8b_swaps_when_equal() {
    let code = [
        0xBE, 0x00, 0x01, 0x00, 0x00, // mov esi, 0x100
        0xB8, 0x22, 0x22, 0x22, 0x22, // mov eax, 0x22222222
        0xBA, 0x11, 0x11, 0x11, 0x11, // mov edx, 0x11111111
        0xBB, 0x44, 0x44, 0x44, 0x44, // mov ebx, 0x44444444
        0xB9, 0x33, 0x33, 0x33, 0x33, // mov ecx, 0x33333333
        0x0F, 0xC7, 0x0E, // cmpxchg8b [esi]
    ];
    let data = 0x1111_1111_2222_2222u64.to_le_bytes();
    let vm = run(&code, &data, 6);
    assert_eq!(
        vm.memory().peek(0x100, 8).unwrap(),
        &0x3333_3333_4444_4444u64.to_le_bytes()
    );
    assert!(vm.cpu().eflags & vmkit_x86::cpu::flags::ZF != 0);
}

#[test]
fn cpuid_says_genuine_intel_i686_without_sse() {
    let code = [0x31, 0xC0, 0x0F, 0xA2]; // xor eax, eax ; cpuid
    let vm = run(&code, &[], 2);
    let mut vendor = Vec::new();
    for r in [EBX, EDX, ECX] {
        vendor.extend_from_slice(&vm.cpu().regs[r].to_le_bytes());
    }
    assert_eq!(vendor, b"GenuineIntel");
    let code = [0xB8, 1, 0, 0, 0, 0x0F, 0xA2]; // mov eax, 1 ; cpuid
    let vm = run(&code, &[], 2);
    assert_eq!(vm.cpu().regs[EDX] & (1 << 25), 0, "no SSE advertised");
    assert_eq!(
        vm.cpu().regs[EDX] & (1 << 26 | 1 << 24 | 1 << 23),
        0,
        "no SSE2, FXSR, MMX"
    );
    assert_ne!(vm.cpu().regs[EDX] & (1 << 15), 0, "cmov advertised");
    assert_ne!(vm.cpu().regs[EDX] & 1, 0, "x87 FPU advertised");
}

#[test]
fn pushad_popad_restore_everything_but_esp() {
    let code = [
        0xB8, 1, 0, 0, 0, // mov eax, 1
        0xBB, 2, 0, 0, 0, // mov ebx, 2
        0xBE, 3, 0, 0, 0,    // mov esi, 3
        0x60, // pushad
        0x31, 0xC0, // xor eax, eax
        0x31, 0xDB, // xor ebx, ebx
        0x31, 0xF6, // xor esi, esi
        0x61, // popad
    ];
    let vm = run(&code, &[], 8);
    assert_eq!(
        (vm.cpu().regs[EAX], vm.cpu().regs[EBX], vm.cpu().regs[ESI]),
        (1, 2, 3)
    );
    assert_eq!(vm.cpu().regs[ESP], 0xC000_0000);
}

#[test]
fn a_store_into_code_is_seen_by_the_next_execution() {
    // The store patches the immediate of the very next instruction, which was already
    // decoded as part of the same block.
    let code = [
        0xC6, 0x05, 0x08, 0x00, 0x00, 0x00, 0x2A, // mov byte [0x8], 0x2a
        0xBB, 0x00, 0x00, 0x00, 0x00, // mov ebx, 0   (its immediate starts at byte 8)
    ];
    let vm = run(&code, &[], 2);
    assert_eq!(vm.cpu().regs[EBX], 0x2A);
}

#[test]
fn privileged_and_undefined_instructions_fault() {
    let mut vm = X86Machine::new();
    vm.load_raw(0, &[0xF4]).unwrap(); // hlt
    match vm.run() {
        X86Exit::Fault(f) => assert_eq!(f.kind, X86FaultKind::Privileged),
        e => panic!("{e:?}"),
    }
    let mut vm = X86Machine::new();
    vm.load_raw(0, &[0x90, 0x0F, 0x0B]).unwrap(); // nop ; ud2
    match vm.run() {
        X86Exit::Fault(f) => {
            assert!(matches!(f.kind, X86FaultKind::IllegalInstruction(_)));
            assert_eq!(f.eip, 1);
            assert_eq!(f.instr_text.as_deref(), Some("ud2"));
        }
        e => panic!("{e:?}"),
    }
}

/// `rdtsc` counts per machine: a second machine in the same process reads what the first
/// read (it was one counter for the whole process, so a saved fuzz input or a test could
/// not be replayed with the same values, and threads saw each other's reads).
#[test]
fn rdtsc_is_per_machine_and_reproducible() {
    // rdtsc ; mov ebx, eax ; rdtsc ; sub eax, ebx ; add ebx, eax ; mov eax, 1 ; int 0x80
    // exits with first + (second - first) = second.
    let code = [
        0x0F, 0x31, 0x89, 0xC3, 0x0F, 0x31, 0x29, 0xD8, 0x01, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80,
    ];
    let exits: Vec<X86Exit> = (0..3)
        .map(|_| {
            let mut vm = X86Machine::new();
            vm.load_raw(0x1000, &code).unwrap();
            vm.run()
        })
        .collect();
    // Two reads: 1000 then 2000, in every machine.
    assert_eq!(exits, vec![X86Exit::Exited(2000); 3]);
}

/// Far jumps, calls and returns, direct (`ljmp`/`lcall ptr16:32`) and through memory
/// (16:32 and 16:16 far pointers): to the user code segment (0x23) they go on in both
/// engines; to a selector user mode may not run (null, a kernel segment) they are a general
/// protection fault (SIGSEGV) that changes nothing. (The direct forms once panicked reading
/// their far pointer as an immediate, and `jmp far [eax]` with a 16:16 pointer ran as a
/// near jump in the fast engine: found by the x86 fuzz target.)
#[test]
fn far_transfers_in_both_engines() {
    // Where FORM starts, after `mov ebx, 7 ; mov eax, 0x1000`, and where the code after it
    // (`mov eax, 1 ; int 0x80`: exit(7)) starts for a 7-byte FORM.
    const FORM: u32 = 0x100A;
    let cases: [(&[u8], bool); 9] = [
        (&[0x9A, 0x11, 0x10, 0x00, 0x00, 0x23, 0x00], true), // call 0x23:0x1011
        (&[0xEA, 0x11, 0x10, 0x00, 0x00, 0x23, 0x00], true), // jmp 0x23:0x1011
        (&[0xEA, 0x11, 0x10, 0x00, 0x00, 0x1B, 0x00], false), // jmp 0x1b:0x1011
        (&[0xEA, 0x11, 0x10, 0x00, 0x00, 0x00, 0x00], false), // jmp 0:0x1011
        // [eax] holds `mov ebx, 7`'s bytes: offset 0x7bb, selector 0.
        (&[0xFF, 0x18, 0x90, 0x90, 0x90, 0x90, 0x90], false), // call far [eax]
        (&[0xFF, 0x28, 0x90, 0x90, 0x90, 0x90, 0x90], false), // jmp far [eax]
        (&[0x66, 0xFF, 0x18, 0x90, 0x90, 0x90, 0x90], false), // call far [eax] (16:16)
        (&[0x66, 0xFF, 0x28, 0x90, 0x90, 0x90, 0x90], false), // jmp far [eax] (16:16)
        (&[0x9A, 0x11, 0x10, 0x00, 0x00, 0x2B, 0x00], false), // call 0x2b:0x1011 (data)
    ];
    for (form, goes_on) in cases {
        for engine in [
            vmkit_x86::Engine::Interp,
            vmkit_x86::Engine::Reference,
            vmkit_x86::Engine::Jit,
        ] {
            let mut code = vec![0xBB, 7, 0, 0, 0, 0xB8, 0x00, 0x10, 0x00, 0x00];
            code.extend_from_slice(form);
            code.extend_from_slice(&[0xB8, 1, 0, 0, 0, 0xCD, 0x80]);
            let mut vm = X86Machine::new();
            vm.load_raw(0x1000, &code).unwrap();
            vm.set_engine(engine);
            let exit = vm.run_for(100);
            if goes_on {
                assert_eq!(exit, X86Exit::Exited(7), "{form:02x?} {engine:?}");
                continue;
            }
            match exit {
                X86Exit::Fault(f) => assert!(
                    matches!(f.kind, X86FaultKind::GeneralProtection { .. }) && f.eip == FORM,
                    "{form:02x?} {engine:?}: {f:?}"
                ),
                other => panic!("{form:02x?} {engine:?}: {other:?}"),
            }
        }
    }
}

/// `retf` and `iret` to the user code segment return; to a kernel segment they fault
/// without popping anything.
#[test]
fn far_returns_check_the_code_segment() {
    // mov ebx, 7 ; push FLAGS ; push CS ; push 0x1014 ; RET ; (0x1014) mov eax, 1 ; int 0x80
    for (cs, ret, ok) in [
        (0x23u8, 0xCBu8, true), // retf
        (0x23, 0xCF, true),     // iret
        (0x1B, 0xCB, false),    // retf to a kernel data segment
        (0x00, 0xCF, false),    // iret to the null selector
    ] {
        for engine in [
            vmkit_x86::Engine::Interp,
            vmkit_x86::Engine::Reference,
            vmkit_x86::Engine::Jit,
        ] {
            let code = [
                0xBB, 7, 0, 0, 0, 0x68, 0x02, 0x08, 0, 0, 0x6A, cs, 0x68, 0x14, 0x10, 0, 0, ret,
                0x90, 0x90, 0xB8, 1, 0, 0, 0, 0xCD, 0x80,
            ];
            let mut vm = X86Machine::new();
            vm.load_raw(0x1000, &code).unwrap();
            vm.set_engine(engine);
            let esp = vm.cpu().regs[ESP];
            let exit = vm.run_for(100);
            if ok {
                assert_eq!(exit, X86Exit::Exited(7), "{cs:#x} {ret:#x} {engine:?}");
                if ret == 0xCF {
                    // iret took OF (0x800) from the stack.
                    assert_eq!(vm.cpu().eflags & 0x800, 0x800);
                }
            } else {
                match exit {
                    X86Exit::Fault(f) => {
                        assert!(
                            f.kind
                                == X86FaultKind::GeneralProtection {
                                    error_code: cs as u32 & !3
                                }
                                && f.eip == 0x1011,
                            "{cs:#x} {ret:#x} {engine:?}: {f:?}"
                        );
                        assert_eq!(vm.cpu().regs[ESP], esp.wrapping_sub(12), "nothing popped");
                    }
                    other => panic!("{cs:#x} {ret:#x} {engine:?}: {other:?}"),
                }
            }
        }
    }
}

/// Exceptions carry the vector and error code Linux saves in `sigcontext` (`trapno`,
/// `err`), the signal it sends, and where eip points (at a fault, after a trap), as QEMU's
/// test-i386 prints them from its handlers natively.
#[test]
fn exceptions_carry_their_vector_and_error_code() {
    // (code after `mov eax, 0x1000`, trapno, err, signal, eip offset from the form)
    let cases: [(&[u8], u32, u32, u32, u32); 8] = [
        (&[0xCD, 0xFD], 13, 0x7ea, 11, 0), // int 0xfd: #GP (0xfd << 3 | 2)
        (&[0xCD, 0x05], 13, 0x2a, 11, 0),  // int 5: #GP
        (&[0xCD, 0x04], 4, 0, 11, 2),      // int 4: #OF, a trap
        (&[0xB0, 0x7F, 0x04, 0x01, 0xCE], 4, 0, 11, 5), // mov al,127; add al,1; into
        (&[0x66, 0xB9, 0xA1, 0x91, 0x8E, 0xE1], 13, 0x91a0, 11, 4), // mov cx,0x91a1; mov fs,cx
        (&[0xC6, 0x05, 0x34, 0x12, 0, 0, 1], 14, 6, 11, 0), // mov byte [0x1234], 1
        (&[0x8A, 0x05, 0x34, 0x12, 0, 0], 14, 4, 11, 0), // mov al, [0x1234]
        (&[0xFA], 13, 0, 11, 0),           // cli
    ];
    for (form, trapno, err, signal, eip_offset) in cases {
        for engine in [
            vmkit_x86::Engine::Interp,
            vmkit_x86::Engine::Reference,
            vmkit_x86::Engine::Jit,
        ] {
            let mut code = vec![0xB8, 0x00, 0x10, 0x00, 0x00];
            code.extend_from_slice(form);
            code.extend_from_slice(&[0xB8, 1, 0, 0, 0, 0xCD, 0x80]);
            let mut vm = X86Machine::new();
            vm.load_raw(0x10000, &code).unwrap();
            vm.set_engine(engine);
            match vm.run_for(100) {
                X86Exit::Fault(f) => {
                    let sig = f.kind.fault_signal(f.eip);
                    assert_eq!(
                        (sig.trapno, sig.error_code, sig.signal, f.eip),
                        (trapno, err, signal, 0x10005 + eip_offset),
                        "{form:02x?} {engine:?}: {f:?}"
                    );
                }
                other => panic!("{form:02x?} {engine:?}: {other:?}"),
            }
        }
    }
    // push 10 ; push 1 ; mov eax, INDEX ; bound eax, [esp]: 11 is out of range (#BR).
    for (index, fault) in [(11u8, true), (10, false)] {
        let code = [
            0x6A, 10, 0x6A, 1, 0xB8, index, 0, 0, 0, 0x62, 0x04, 0x24, // bound eax, [esp]
            0xBB, 0, 0, 0, 0, 0xB8, 1, 0, 0, 0, 0xCD, 0x80, // exit(0)
        ];
        let mut vm = X86Machine::new();
        vm.load_raw(0x10000, &code).unwrap();
        match vm.run_for(100) {
            X86Exit::Fault(f) if fault => {
                assert_eq!(f.kind, X86FaultKind::BoundRange);
                assert_eq!((f.eip, f.kind.trap()), (0x10009, (5, 0)));
            }
            X86Exit::Exited(0) if !fault => {}
            other => panic!("bound {index}: {other:?}"),
        }
    }
}

/// With the trap flag set, a repeated string instruction traps after each iteration (eip
/// stays on it while iterations remain), a load of ss holds the trap back for one
/// instruction, and `int 0x80` gets no trap of its own: as test-i386's single-step test
/// sees natively.
#[test]
fn the_trap_flag_steps_string_iterations_and_respects_the_ss_shadow() {
    use vmkit_x86::cpu::flags::TF;
    let start = 0x10000;
    let trap_at = |code: &[u8], setup: &dyn Fn(&mut X86Machine)| -> u32 {
        let mut vm = X86Machine::new();
        vm.load_raw(start, code).unwrap();
        setup(&mut vm);
        vm.cpu_mut().eflags |= TF;
        match vm.run_for(100) {
            X86Exit::Fault(f) if f.kind == X86FaultKind::Trap => f.eip - start,
            other => panic!("{code:02x?}: {other:?}"),
        }
    };
    // rep movsb with ecx = 3, then nop: the first trap is after one iteration, on the
    // instruction itself. (It copies the code's own bytes within its page: a store into
    // decoded code, which must not lose the repeat.)
    let rep = [0xF3, 0xA4, 0x90];
    let copy = |vm: &mut X86Machine| {
        let cpu = vm.cpu_mut();
        cpu.regs[ESI] = 0x10000;
        cpu.regs[EDI] = 0x10100;
        cpu.regs[ECX] = 3;
    };
    assert_eq!(trap_at(&rep, &copy), 0);
    // ecx = 1: the only iteration, then the next instruction.
    let once = |vm: &mut X86Machine| {
        copy(vm);
        vm.cpu_mut().regs[ECX] = 1;
    };
    assert_eq!(trap_at(&rep, &once), 2);
    // mov ss, eax ; nop ; nop: no trap after the mov, one after the first nop.
    let ss = |vm: &mut X86Machine| vm.cpu_mut().regs[EAX] = 0x2b;
    assert_eq!(trap_at(&[0x8E, 0xD0, 0x90, 0x90], &ss), 3);
    // mov eax, 20 (getpid) is stepped over first; then int 0x80 ; nop: the trap comes
    // after the nop.
    let getpid = |vm: &mut X86Machine| vm.cpu_mut().regs[EAX] = 20;
    assert_eq!(trap_at(&[0xCD, 0x80, 0x90, 0x90], &getpid), 3);
}
