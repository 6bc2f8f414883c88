//! The translator on the sandbox's edges: wild addresses, address arithmetic that wraps at
//! 4 GiB, accesses that straddle a page or the end of the address space, stores into
//! read-only and code pages, code written then executed, faults in the middle of a block
//! and step limits inside one. Every case runs on the reference engine, the interpreter and
//! the translator, which must agree on the exit (the fault report included), every
//! register, EFLAGS, the instruction count and memory.

use vmkit_mem::page;
use vmkit_x86::{Engine, X86Exit, X86Machine};

const CODE: u32 = 0x1000;
const DATA: u32 = 0x1000_0000;

/// A machine with `code` at `CODE`, a read-write data page at `DATA`, the registers set by
/// `setup`.
fn machine(code: &[u8], engine: Engine, setup: &dyn Fn(&mut X86Machine)) -> X86Machine {
    let mut vm = X86Machine::new();
    vm.load_raw(CODE, code).unwrap();
    vm.map(DATA, 0x1000, page::R | page::W);
    let pattern: Vec<u8> = (0..0x1000u32).map(|i| (i * 7 + 3) as u8).collect();
    vm.memory_mut().poke(DATA as u64, &pattern).unwrap();
    vm.cpu_mut().eflags = 0x202 | 0x85; // CF PF SF: flags a fault report must keep
    vm.set_engine(engine);
    // Translated from the first run: these programs run once.
    vm.set_jit_threshold(1);
    setup(&mut vm);
    vm
}

/// Runs `code` on every engine (at most `steps` instructions) and checks that they agree
/// with the reference engine; returns the reference's exit.
fn agree(code: &[u8], steps: u64, setup: &dyn Fn(&mut X86Machine)) -> X86Exit {
    let mut reference = machine(code, Engine::Reference, setup);
    let want = reference.run_for(steps);
    for engine in [Engine::Interp, Engine::Jit] {
        let mut vm = machine(code, engine, setup);
        let got = vm.run_for(steps);
        assert_eq!(got, want, "{engine:?}: exit");
        assert_eq!(vm.cpu(), reference.cpu(), "{engine:?}: registers");
        assert_eq!(vm.steps(), reference.steps(), "{engine:?}: steps");
        assert_eq!(
            vm.memory().peek(DATA as u64, 0x1000).unwrap(),
            reference.memory().peek(DATA as u64, 0x1000).unwrap(),
            "{engine:?}: memory"
        );
    }
    want
}

/// `code` followed by `mov eax, 1 ; int 0x80` (exit with ebx).
fn with_exit(code: &[u8]) -> Vec<u8> {
    let mut c = code.to_vec();
    c.extend([0xB8, 1, 0, 0, 0, 0xCD, 0x80]);
    c
}

fn fault_addr(exit: &X86Exit) -> Option<u32> {
    match exit {
        X86Exit::Fault(f) => Some(f.eip),
        _ => None,
    }
}

#[test]
fn a_fault_in_the_middle_of_a_block_leaves_exact_registers() {
    let code = with_exit(&[
        0xB8, 1, 0, 0, 0, // mov eax, 1
        0xBB, 2, 0, 0, 0, // mov ebx, 2
        0x01, 0xD9, // add ecx, ebx (flags)
        0x89, 0x04, 0x24, // mov [esp], eax
        0x8B, 0x15, 0x00, 0x00, 0x00, 0x50, // mov edx, [0x50000000] (unmapped)
        0x43, // inc ebx
    ]);
    let exit = agree(&code, u64::MAX, &|vm| {
        vm.cpu_mut().regs[1] = 0xFFFF_FFFF;
        vm.cpu_mut().regs[4] = DATA + 0x800;
    });
    assert_eq!(fault_addr(&exit), Some(CODE + 15));
}

#[test]
fn wild_addresses_fault_exactly() {
    for insn in [
        &[0x8B, 0x05, 0xEF, 0xBE, 0xAD, 0xDE][..], // mov eax, [0xdeadbeef]
        &[0x89, 0x84, 0xBE, 0xFF, 0xFF, 0xFF, 0x7F][..], // mov [esi+edi*4+0x7fffffff], eax
        &[0xFF, 0x35, 0x00, 0x00, 0x00, 0xC0][..], // push dword [0xc0000000]
        &[0xFF, 0x25, 0x00, 0x10, 0x00, 0x70][..], // jmp [0x70001000]
    ] {
        let exit = agree(&with_exit(insn), u64::MAX, &|vm| {
            vm.cpu_mut().regs[6] = 0x1234_5678;
            vm.cpu_mut().regs[7] = 0x8765_4321;
            vm.cpu_mut().regs[4] = DATA + 0x800;
        });
        assert_eq!(fault_addr(&exit), Some(CODE), "{insn:x?}");
    }
}

#[test]
fn address_arithmetic_wraps_at_4_gib() {
    // ebx = 0xfffffff0: [ebx + DATA + 0x10 + 0x20] wraps around to DATA + 0x20.
    let code = with_exit(&[
        0x8B, 0x83, 0x30, 0x00, 0x00, 0x10, // mov eax, [ebx + 0x10000030]
        0x89, 0x83, 0x40, 0x00, 0x00, 0x10, // mov [ebx + 0x10000040], eax
        0x8B, 0x1C, 0x1B, // mov ebx, [ebx + ebx] (0x1fffffe0 + ... unmapped: faults)
    ]);
    let exit = agree(&code, u64::MAX, &|vm| vm.cpu_mut().regs[3] = 0xFFFF_FFF0);
    assert_eq!(fault_addr(&exit), Some(CODE + 12));
}

#[test]
fn accesses_straddling_a_page_or_the_end_of_the_address_space() {
    let setup = |vm: &mut X86Machine| {
        vm.map(0xFFFF_F000, 0x1000, page::R | page::W);
        vm.cpu_mut().regs[4] = DATA + 0x800;
    };
    // The last 4 bytes of the address space, then 4 bytes that would cross its end.
    let end = with_exit(&[
        0xC7, 0x05, 0xFC, 0xFF, 0xFF, 0xFF, 0x78, 0x56, 0x34,
        0x12, // mov dword [0xfffffffc], 0x12345678
        0x8B, 0x05, 0xFC, 0xFF, 0xFF, 0xFF, // mov eax, [0xfffffffc]
        0x8B, 0x1D, 0xFE, 0xFF, 0xFF, 0xFF, // mov ebx, [0xfffffffe] (crosses 4 GiB)
    ]);
    let exit = agree(&end, u64::MAX, &setup);
    assert_eq!(fault_addr(&exit), Some(CODE + 16));
    // The last bytes of a page whose next page is unmapped, then across into it.
    let page_end = with_exit(&[
        0x8B, 0x05, 0xFC, 0x0F, 0x00, 0x10, // mov eax, [DATA + 0xffc]
        0x66, 0x89, 0x05, 0xFE, 0x0F, 0x00, 0x10, // mov [DATA + 0xffe], ax
        0x89, 0x05, 0xFE, 0x0F, 0x00, 0x10, // mov [DATA + 0xffe], eax (crosses)
    ]);
    let exit = agree(&page_end, u64::MAX, &setup);
    assert_eq!(fault_addr(&exit), Some(CODE + 13));
}

#[test]
fn one_check_for_several_accesses_still_faults_at_the_right_one() {
    // Three accesses through esi share one check; the last crosses into an unmapped page:
    // the first two happen, the fault is at the third.
    let code = with_exit(&[
        0x8B, 0x06, // mov eax, [esi]
        0x89, 0x46, 0x10, // mov [esi + 0x10], eax
        0x8B, 0x9E, 0xFE, 0x07, 0x00, 0x00, // mov ebx, [esi + 0x7fe] (crosses)
    ]);
    let exit = agree(&code, u64::MAX, &|vm| vm.cpu_mut().regs[6] = DATA + 0x800);
    assert_eq!(fault_addr(&exit), Some(CODE + 5));
    // The same accesses with esi changed in between: two checks, no fault.
    let code = with_exit(&[
        0x8B, 0x06, // mov eax, [esi]
        0x81, 0xEE, 0x00, 0x04, 0x00, 0x00, // sub esi, 0x400
        0x8B, 0x9E, 0xFE, 0x07, 0x00, 0x00, // mov ebx, [esi + 0x7fe]
    ]);
    let exit = agree(&code, u64::MAX, &|vm| vm.cpu_mut().regs[6] = DATA + 0x800);
    assert!(matches!(exit, X86Exit::Exited(_)), "{exit:?}");
}

#[test]
fn stores_into_read_only_and_code_pages() {
    let ro = 0x2000_0000u32;
    let setup = move |vm: &mut X86Machine| {
        vm.map(ro, 0x1000, page::R);
        vm.cpu_mut().regs[4] = DATA + 0x800;
    };
    let a = ro.to_le_bytes();
    // A load from the read-only page works; the store faults with esp unchanged.
    let code = with_exit(&[
        0x8B, 0x0D, a[0], a[1], a[2], a[3], // mov ecx, [ro]
        0x89, 0x0D, a[0], a[1], a[2], a[3], // mov [ro], ecx
    ]);
    assert_eq!(fault_addr(&agree(&code, u64::MAX, &setup)), Some(CODE + 6));
    // A push onto a read-only stack faults before esp moves.
    let push = with_exit(&[0x50]); // push eax
    let exit = agree(&push, u64::MAX, &|vm| {
        vm.map(ro, 0x1000, page::R);
        vm.cpu_mut().regs[4] = ro + 0x800;
    });
    assert_eq!(fault_addr(&exit), Some(CODE));
    // A store into the code being run: the patched instruction runs with its new bytes.
    let smc = with_exit(&[
        0xC6, 0x05, 0x0D, 0x10, 0x00, 0x00, 0x07, // mov byte [0x100d], 7
        0x31, 0xDB, // xor ebx, ebx
        0x90, 0x90, // nop ; nop
        0x83, 0xC3, 0x01, // add ebx, 1 (patched to add ebx, 7)
    ]);
    assert_eq!(agree(&smc, u64::MAX, &|_| {}), X86Exit::Exited(7));
}

#[test]
fn code_written_then_executed() {
    // Writes `mov ebx, 42 ; ret` to DATA + 0x100 (made executable), calls it, exits with ebx.
    let code = with_exit(&[
        0xC7, 0x05, 0x00, 0x01, 0x00, 0x10, 0xBB, 42, 0,
        0, // mov dword [DATA+0x100], 0x2abb..
        0xC7, 0x05, 0x04, 0x01, 0x00, 0x10, 0x00, 0xC3, 0, 0, // mov dword [DATA+0x104], ret
        0xB8, 0x00, 0x01, 0x00, 0x10, // mov eax, DATA + 0x100
        0xFF, 0xD0, // call eax
        // Write it again with another value and call it again: the new bytes run.
        0xC6, 0x05, 0x01, 0x01, 0x00, 0x10, 43, // mov byte [DATA+0x101], 43
        0xFF, 0xD0, // call eax
    ]);
    let exit = agree(&code, u64::MAX, &|vm| {
        vm.map(DATA, 0x1000, page::R | page::W | page::X);
        vm.cpu_mut().regs[4] = DATA + 0x800;
    });
    assert_eq!(exit, X86Exit::Exited(43));
}

#[test]
fn step_limits_stop_inside_translated_blocks() {
    // A loop of 8-instruction blocks: every budget stops at the same instruction.
    let code = with_exit(&[
        0xB9, 10, 0, 0, 0, // mov ecx, 10
        0x01, 0xC8, // top: add eax, ecx
        0x89, 0x06, // mov [esi], eax
        0x83, 0xC6, 0x04, // add esi, 4
        0x31, 0xC3, // xor ebx, eax
        0xD1, 0xE0, // shl eax, 1
        0x49, // dec ecx
        0x75, 0xF2, // jnz top
    ]);
    for steps in 1..80 {
        agree(&code, steps, &|vm| vm.cpu_mut().regs[6] = DATA);
    }
}
