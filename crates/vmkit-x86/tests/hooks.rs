//! The embedding API's hooks and `run_from`, as a Unicorn user would use them.

use std::cell::RefCell;
use std::rc::Rc;
use vmkit_mem::page;
use vmkit_x86::cpu::{EAX, EBX, ECX, ESP};
use vmkit_x86::{HookAction, MemAccessKind, X86Exit, X86Machine};

/// `mov ecx, 10 ; l: add eax, ecx ; push eax ; pop edx ; dec ecx ; jnz l ; mov ebx, eax ;
/// mov eax, 1 ; int 0x80` at 0x1000: exits with 55.
const LOOP: [u8; 20] = [
    0xB9, 10, 0, 0, 0, 0x01, 0xC8, 0x50, 0x5A, 0x49, 0x75, 0xF9, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD,
];

fn machine() -> X86Machine {
    let mut code = LOOP.to_vec();
    code.push(0x80);
    let mut vm = X86Machine::new();
    vm.load_raw(0x1000, &code).unwrap();
    vm
}

#[test]
fn code_hooks_see_every_instruction_and_the_run_is_unchanged() {
    let mut plain = machine();
    assert_eq!(plain.run(), X86Exit::Exited(55));

    let mut vm = machine();
    let count = Rc::new(RefCell::new(0u64));
    let c = count.clone();
    vm.hook_code(.., move |_, _, _| *c.borrow_mut() += 1);
    assert_eq!(vm.run(), X86Exit::Exited(55));
    assert_eq!(*count.borrow(), plain.steps());
    assert_eq!(vm.steps(), plain.steps());
    assert_eq!(vm.cpu(), plain.cpu());
}

#[test]
fn a_hook_can_change_registers_stop_and_be_removed() {
    let mut vm = machine();
    // Before `mov ebx, eax` (0x100c), replace the sum.
    let id = vm.hook_code(0x100c..=0x100c, |ctx, _, _| ctx.cpu.regs[EAX] = 7);
    assert_eq!(vm.run(), X86Exit::Exited(7));

    assert!(vm.remove_hook(id));
    assert!(!vm.remove_hook(id));

    let mut vm = machine();
    let stopper = vm.hook_code(0x1009..0x100a, |ctx, _, _| {
        if ctx.cpu.regs[ECX] == 3 {
            ctx.stop();
        }
    });
    assert_eq!(vm.run(), X86Exit::Stopped);
    assert_eq!((vm.cpu().eip, vm.cpu().regs[ECX]), (0x1009, 3));
    // Without the hook the run goes on to the end (on the fast engine again).
    assert!(vm.remove_hook(stopper));
    assert_eq!(vm.run(), X86Exit::Exited(55));
}

#[test]
fn memory_hooks_see_implicit_stack_accesses_with_values() {
    let mut vm = machine();
    let top = vm.cpu().regs[ESP];
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    vm.hook_mem(
        top - 4..top,
        &[MemAccessKind::Read, MemAccessKind::Write],
        move |_, a| s.borrow_mut().push((a.kind, a.addr, a.value)),
    );
    assert_eq!(vm.run(), X86Exit::Exited(55));
    let seen = seen.borrow();
    // 10 pushes and 10 pops of the running sum, in order.
    assert_eq!(seen.len(), 20);
    assert_eq!(seen[0], (MemAccessKind::Write, top - 4, 10));
    assert_eq!(seen[1], (MemAccessKind::Read, top - 4, 10));
    assert_eq!(seen[19], (MemAccessKind::Read, top - 4, 55));
}

#[test]
fn run_from_until_stops_before_the_address_and_resumes() {
    let mut vm = machine();
    assert_eq!(vm.run_from(0x1000, Some(0x100c), u64::MAX), X86Exit::Until);
    assert_eq!((vm.cpu().eip, vm.cpu().regs[EAX]), (0x100c, 55));
    assert_eq!(vm.run_from(0x100c, None, u64::MAX), X86Exit::Exited(55));
    assert_eq!(vm.cpu().regs[EBX], 55);
}

#[test]
fn syscall_hooks_replace_or_pass_on_calls() {
    let mut vm = machine();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let c = calls.clone();
    vm.hook_syscall(move |_, nr| {
        c.borrow_mut().push(nr);
        HookAction::Pass
    });
    assert_eq!(vm.run(), X86Exit::Exited(55));
    assert_eq!(*calls.borrow(), [1]);
}

#[test]
fn unhandled_interrupts_still_fault() {
    // int 3
    let mut vm = X86Machine::new();
    vm.load_raw(0x1000, &[0xCC]).unwrap();
    vm.hook_interrupt(|_, _| HookAction::Pass);
    assert!(matches!(vm.run(), X86Exit::Fault(_)));
}

#[test]
fn hooks_can_map_memory_for_the_guest() {
    // mov eax, [0x5000] ; mov ebx, eax ; mov eax, 1 ; int 0x80
    let code = [
        0xA1, 0, 0x50, 0, 0, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80,
    ];
    let mut vm = X86Machine::new();
    vm.load_raw(0x1000, &code).unwrap();
    vm.hook_code(0x1000..0x1001, |ctx, _, _| {
        ctx.mem.protect(0x5000, 0x1000, page::R);
        ctx.mem.poke(0x5000, &[42]).unwrap();
    });
    assert_eq!(vm.run(), X86Exit::Exited(42));
}
