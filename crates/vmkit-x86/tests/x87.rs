//! x87 behaviour the host comparison (`x87_vs_cpu.rs`) cannot show: pending unmasked
//! exceptions ending the process with SIGFPE, the instruction and operand pointers that
//! `fnstenv` stores in 32-bit mode, `fnstsw ax`, `fnsave`/`frstor`, fault reports.

use vmkit_x86::cpu::x87::F80;
use vmkit_x86::cpu::{EAX, EDI, ESI};
use vmkit_x86::{Signal, X86Exit, X86FaultKind, X86Machine};

/// Loads `code` at 0 with `data` at 0x100 (same page), esi = 0x100, edi = 0x200.
fn machine(code: &[u8], data: &[u8]) -> X86Machine {
    let mut image = vec![0u8; 0x300];
    image[..code.len()].copy_from_slice(code);
    image[0x100..0x100 + data.len()].copy_from_slice(data);
    let mut vm = X86Machine::new();
    vm.load_raw(0, &image).unwrap();
    vm.cpu_mut().regs[ESI] = 0x100;
    vm.cpu_mut().regs[EDI] = 0x200;
    vm
}

#[test]
fn an_unmasked_exception_raises_sigfpe_at_the_next_waiting_instruction() {
    let code = [
        0xD9, 0x2E, // fldcw [esi]          (zero divide unmasked)
        0xD9, 0xE8, // fld1
        0xD9, 0xEE, // fldz
        0xDE, 0xF9, // fdivp                (raises ZE, sets ES; nothing written)
        0xDF, 0xE0, // fnstsw ax            (no wait: runs)
        0x9B, // fwait                      (faults here)
        0xF4,
    ];
    let mut vm = machine(&code, &0x037Bu16.to_le_bytes());
    let X86Exit::Fault(fault) = vm.run_for(100) else {
        panic!("expected a fault");
    };
    assert_eq!(fault.eip, 10, "at the fwait");
    assert_eq!(fault.kind.signal(), Signal::FPE);
    let X86FaultKind::X87Exception(status) = fault.kind else {
        panic!("{:?}", fault.kind);
    };
    assert_eq!(status & 0x80FF, 0x8084, "ZE with ES and B");
    assert_eq!(
        vm.cpu().regs[EAX] & 0xFFFF,
        status as u32,
        "fnstsw ran before the fault"
    );
    let report = fault.to_string();
    assert!(report.contains("zero divide"), "{report}");
    assert!(
        report.contains("st0=0000:0000000000000000"),
        "the stack is shown: {report}"
    );
    assert!(report.contains("st1=3fff:8000000000000000"), "{report}");
    assert!(report.contains("st2=empty"), "{report}");
}

#[test]
fn masked_exceptions_only_set_flags_and_fnclex_clears_them() {
    let code = [
        0xD9, 0xE8, // fld1
        0xD9, 0xEE, // fldz
        0xDE, 0xF9, // fdivp  -> +inf, ZE
        0xDF, 0xE0, // fnstsw ax
        0x89, 0xC3, // mov ebx, eax
        0xDB, 0xE2, // fnclex
        0xDF, 0xE0, // fnstsw ax
        0x9B, // fwait
    ];
    let mut vm = machine(&code, &[]);
    assert_eq!(vm.run_for(8), X86Exit::StepLimit);
    assert_eq!(vm.cpu().regs[3] & 0x3F, 0x04, "ZE flagged");
    assert_eq!(vm.cpu().regs[EAX] & 0xFF, 0, "fnclex cleared it");
    assert_eq!(vm.cpu().fpu.st(0), F80::INFINITY);
}

#[test]
fn fnstenv_stores_the_last_instruction_and_operand() {
    let code = [
        0xD9, 0x06, // 0: fld dword [esi]
        0xD9, 0xE1, // 2: fabs
        0xDC, 0x46, 0x08, // 4: fadd qword [esi+8]
        0xD9, 0x37, // 7: fnstenv [edi]
    ];
    let mut data = Vec::new();
    data.extend_from_slice(&(-2.0f32).to_bits().to_le_bytes());
    data.extend_from_slice(&[0; 4]);
    data.extend_from_slice(&0.5f64.to_bits().to_le_bytes());
    let mut vm = machine(&code, &data);
    assert_eq!(vm.run_for(4), X86Exit::StepLimit);
    let env = vm.memory().peek(0x200, 28).unwrap().to_vec();
    let word = |i: usize| u32::from_le_bytes(env[4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!(word(0), 0xFFFF_037F, "control word");
    assert_eq!(word(1) & 0xFFFF, 0x3800, "TOP = 7");
    assert_eq!(word(2), 0xFFFF_3FFF, "tag word: R7 valid, the rest empty");
    assert_eq!(word(3), 4, "FIP: the fadd");
    assert_eq!(
        word(4),
        0x23 | (0x446 << 16),
        "FCS and FOP (DC /0, ModRM 46)"
    );
    assert_eq!(word(5), 0x108, "FDP: the fadd's operand");
    assert_eq!(word(6), 0xFFFF_002B, "FDS");
    assert_eq!(
        vm.cpu().fpu.cw,
        0x037F,
        "fnstenv masks all exceptions (already masked)"
    );
    assert_eq!(vm.cpu().fpu.st(0), F80::from_f64_bits(2.5f64.to_bits()).0);
}

#[test]
fn fnsave_then_frstor_restores_everything() {
    let code = [
        0xD9, 0xEB, // fldpi
        0xD9, 0xE8, // fld1
        0xD9, 0x2E, // fldcw [esi]
        0xDD, 0x37, // fnsave [edi]   (then fninit)
        0xD9, 0xEE, // fldz
        0xDD, 0x27, // frstor [edi]
    ];
    let mut vm = machine(&code, &0x0C7Fu16.to_le_bytes());
    assert_eq!(vm.run_for(3), X86Exit::StepLimit);
    let saved = vm.cpu().fpu.clone();
    assert_eq!(vm.run_for(1), X86Exit::StepLimit);
    assert_eq!(vm.cpu().fpu.cw, 0x037F, "fnsave reinitialises");
    assert!(vm.cpu().fpu.is_empty(0));
    assert_eq!(vm.run_for(2), X86Exit::StepLimit);
    let f = &vm.cpu().fpu;
    assert_eq!(
        (f.cw, f.status(), f.full),
        (saved.cw, saved.status(), saved.full)
    );
    assert_eq!((f.st(0), f.st(1)), (saved.st(0), saved.st(1)));
    assert_eq!(f.st(0), F80::ONE);
    let image = vm.memory().peek(0x200, 108).unwrap();
    assert_eq!(
        &image[28..38],
        &F80::ONE.to_bytes(),
        "st0 first in the image"
    );
}

#[test]
fn stack_overflow_pushes_the_indefinite_and_sets_c1() {
    let mut code = Vec::new();
    for _ in 0..9 {
        code.extend_from_slice(&[0xD9, 0xE8]); // fld1
    }
    code.extend_from_slice(&[0xDF, 0xE0]); // fnstsw ax
    let mut vm = machine(&code, &[]);
    assert_eq!(vm.run_for(10), X86Exit::StepLimit);
    let sw = vm.cpu().regs[EAX] & 0xFFFF;
    assert_eq!(sw & 0x0241, 0x0241, "IE, SF and C1 (overflow): {sw:#x}");
    assert_eq!(vm.cpu().fpu.st(0), F80::INDEFINITE);
}
