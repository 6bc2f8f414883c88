//! The embedding API's Unicorn-style calls (unmap, regions, context save and restore, the
//! invalid-access hook) and a debugger's primitives (registers by name, memory read and
//! write, single step).

use std::cell::RefCell;
use std::rc::Rc;
use vmkit_x86::cpu::{EAX, EBX, ECX};
use vmkit_x86::{
    page, Access, Engine, InvalidAccess, InvalidAccessAction, MemError, Region, X86Exit,
    X86FaultKind, X86Machine, REGISTER_NAMES,
};

/// `mov ebx, eax ; mov eax, 1 ; int 0x80`: exit(eax).
const EXIT_EAX: [u8; 9] = [0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];

fn with_exit(code: &[u8]) -> Vec<u8> {
    let mut v = code.to_vec();
    v.extend_from_slice(&EXIT_EAX);
    v
}

fn machine(code: &[u8]) -> X86Machine {
    let mut vm = X86Machine::new();
    vm.load_raw(0x1000, &with_exit(code)).unwrap();
    vm
}

/// The memory fault that ended a run.
fn memory_fault(exit: &X86Exit) -> &MemError {
    match exit {
        X86Exit::Fault(f) => match &f.kind {
            X86FaultKind::Memory(e) => e,
            other => panic!("not a memory fault: {other}"),
        },
        other => panic!("not a fault: {other:?}"),
    }
}

#[test]
fn regions_list_what_load_raw_and_map_made() {
    let mut vm = machine(&[]);
    vm.map(0x8000_0000, 0x2000, page::MAPPED);
    assert_eq!(
        vm.regions(),
        [
            Region {
                start: 0x1000,
                len: 0x1000,
                perms: page::R | page::W | page::X
            },
            Region {
                start: 0x8000_0000,
                len: 0x2000,
                perms: 0
            },
            Region {
                start: 0xBFF0_0000,
                len: 0x10_0000,
                perms: page::R | page::W
            },
        ]
    );
}

#[test]
fn unmapped_code_is_not_run_from_the_decoded_copy() {
    // mov eax, 7 ; exit(eax)
    let mut vm = machine(&[0xB8, 7, 0, 0, 0]);
    assert_eq!(vm.run_from(0x1000, Some(0x1005), u64::MAX), X86Exit::Until);
    vm.unmap(0x1000, 1);
    assert!(!vm.memory().is_mapped(0x1000));
    assert_eq!(vm.regions().len(), 1, "only the stack is left");
    let exit = vm.run_from(0x1000, None, u64::MAX);
    assert_eq!(
        memory_fault(&exit),
        &MemError::Unmapped {
            addr: 0x1000,
            access: Access::Execute
        }
    );
}

#[test]
fn a_saved_context_restores_registers_flags_segments_and_x87() {
    // fld1 ; fld1 ; faddp ; add eax, ecx ; stc
    let code = [0xD9, 0xE8, 0xD9, 0xE8, 0xDE, 0xC1, 0x01, 0xC8, 0xF9];
    let mut vm = machine(&code);
    vm.write_register("ecx", 5);
    vm.write_register("gs_base", 0x1234);
    assert_eq!(vm.run_for(2), X86Exit::StepLimit);
    let saved = vm.save_context();
    assert_eq!(saved.cpu(), vm.cpu());
    assert_eq!(vm.run_for(3), X86Exit::StepLimit);
    let after = vm.cpu().clone();
    assert_ne!(&after, saved.cpu());
    assert_eq!(after.regs[EAX], 5);

    vm.restore_context(&saved);
    assert_eq!(vm.cpu(), saved.cpu());
    assert_eq!(vm.read_register("gs_base"), Some(0x1234));
    // Running again from the restored state does the same work.
    assert_eq!(vm.run_for(3), X86Exit::StepLimit);
    assert_eq!(vm.cpu(), &after);

    // A context moves to another machine with the same memory.
    let mut other = machine(&code);
    other.restore_context(&saved);
    assert_eq!(other.run_for(3), X86Exit::StepLimit);
    assert_eq!(other.cpu(), &after);
}

#[test]
fn registers_by_name_cover_every_listed_name() {
    let mut vm = X86Machine::new();
    for (i, name) in REGISTER_NAMES.iter().enumerate() {
        assert!(vm.read_register(name).is_some(), "{name}");
        assert!(vm.write_register(name, i as u32), "{name}");
    }
    assert_eq!(vm.read_register("st0"), None);
    assert!(!vm.write_register("rax", 1));

    let mut vm = X86Machine::new();
    vm.write_register("ecx", 0xAABB_CCDD);
    vm.write_register("ch", 0x11);
    vm.write_register("cx", 0x2200 | vm.read_register("cl").unwrap());
    assert_eq!(vm.cpu().regs[ECX], 0xAABB_22DD);
    vm.write_register("EIP", 0x4000);
    assert_eq!(vm.cpu().eip, 0x4000);
    vm.write_register("fctrl", 0x027F);
    assert_eq!(vm.cpu().fpu.cw, 0x027F);
    vm.write_register("fs", 0x33);
    assert_eq!(vm.read_register("fs"), Some(0x33));
}

#[test]
fn single_steps_and_memory_writes_as_a_debugger_makes_them() {
    // mov eax, 1 ; mov eax, 2 ; exit(eax)
    let mut vm = machine(&[0xB8, 1, 0, 0, 0, 0xB8, 2, 0, 0, 0]);
    assert_eq!(vm.run_for(1), X86Exit::StepLimit);
    assert_eq!(
        (vm.read_register("eip"), vm.read_register("eax")),
        (Some(0x1005), Some(1))
    );
    assert_eq!(vm.read_memory(0x1005, 2).unwrap(), [0xB8, 2]);
    // Patch the decoded second instruction: the run sees the new one.
    vm.write_memory(0x1006, &[40]).unwrap();
    assert_eq!(vm.run(), X86Exit::Exited(40));

    // The same through memory_mut, between two runs of the decoded code.
    let mut vm = machine(&[0xB8, 1, 0, 0, 0]);
    assert_eq!(vm.run(), X86Exit::Exited(1));
    vm.memory_mut().poke(0x1001, &[9]).unwrap();
    assert_eq!(vm.run_from(0x1000, None, u64::MAX), X86Exit::Exited(9));

    // Reads and writes ignore permissions, not the end of the address space.
    vm.map(0x2000, 0x1000, page::MAPPED);
    vm.write_memory(0x2000, b"hidden").unwrap();
    assert_eq!(vm.read_memory(0x2000, 6).unwrap(), b"hidden");
    assert!(vm.read_memory(u32::MAX, 2).is_err());
    assert!(vm.write_memory(u32::MAX, &[0, 0]).is_err());
}

/// `mov dword [0x50000], 9 ; mov eax, [0x50000]`, then exit(eax).
fn store_then_load() -> X86Machine {
    machine(&[0xC7, 0x05, 0, 0, 5, 0, 9, 0, 0, 0, 0xA1, 0, 0, 5, 0])
}

#[test]
fn an_invalid_access_hook_can_map_the_page_and_retry() {
    for engine in [Engine::Interp, Engine::Reference, Engine::Jit] {
        let mut vm = store_then_load();
        vm.set_engine(engine);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        vm.hook_mem_invalid(0x50000..0x51000, move |ctx, fault| {
            log.borrow_mut().push(fault.clone());
            ctx.mem.protect(0x50000, 0x1000, page::R | page::W);
            InvalidAccessAction::Retry
        });
        assert_eq!(vm.run(), X86Exit::Exited(9));
        assert_eq!(
            *seen.borrow(),
            [InvalidAccess {
                eip: 0x1000,
                addr: 0x50000,
                access: Access::Write,
                error: MemError::Unmapped {
                    addr: 0x50000,
                    access: Access::Write
                },
            }]
        );
        // The retried store counts once.
        let mut plain = store_then_load();
        plain.map(0x50000, 0x1000, page::R | page::W);
        assert_eq!(plain.run(), X86Exit::Exited(9));
        assert_eq!(vm.steps(), plain.steps());
    }
}

#[test]
fn an_invalid_access_hook_sees_protection_faults_and_fetches() {
    // A load from a page with no access, fixed by changing its protection.
    let mut vm = store_then_load();
    vm.map(0x50000, 0x1000, page::W);
    let kinds = Rc::new(RefCell::new(Vec::new()));
    let log = kinds.clone();
    vm.hook_mem_invalid(.., move |ctx, fault| {
        log.borrow_mut().push((fault.access, fault.error.clone()));
        ctx.mem.protect(0x50000, 0x1000, page::R | page::W);
        InvalidAccessAction::Retry
    });
    assert_eq!(vm.run(), X86Exit::Exited(9));
    assert_eq!(
        *kinds.borrow(),
        [(
            Access::Read,
            MemError::Protection {
                addr: 0x50000,
                access: Access::Read
            }
        )]
    );

    // A jump to unmapped code: the hook maps code there.
    // mov eax, 0x60000 ; jmp eax
    let mut vm = machine(&[0xB8, 0, 0, 6, 0, 0xFF, 0xE0]);
    vm.hook_mem_invalid(.., |ctx, fault| {
        assert_eq!(
            (fault.access, fault.eip, fault.addr),
            (Access::Execute, 0x60000, 0x60000)
        );
        ctx.mem.protect(0x60000, 0x1000, page::R | page::X);
        // mov eax, 3 ; exit(eax)
        ctx.mem
            .poke(0x60000, &with_exit(&[0xB8, 3, 0, 0, 0]))
            .unwrap();
        InvalidAccessAction::Retry
    });
    assert_eq!(vm.run(), X86Exit::Exited(3));
}

#[test]
fn an_invalid_access_hook_can_stop_or_let_the_fault_end_the_run() {
    let mut plain = store_then_load();
    let fault = plain.run();
    assert!(matches!(fault, X86Exit::Fault(_)));

    // Passing the fault on: the run ends as without the hook.
    let mut vm = store_then_load();
    let calls = Rc::new(RefCell::new(0));
    let c = calls.clone();
    vm.hook_mem_invalid(.., move |_, _| {
        *c.borrow_mut() += 1;
        InvalidAccessAction::Fault
    });
    assert_eq!(vm.run(), fault);
    assert_eq!(*calls.borrow(), 1);

    // Stopping: eip is the faulting instruction, which changed nothing.
    let mut vm = store_then_load();
    vm.write_register("ebx", 77);
    vm.hook_mem_invalid(.., |ctx, _| {
        ctx.stop();
        InvalidAccessAction::Retry
    });
    assert_eq!(vm.run(), X86Exit::Stopped);
    assert_eq!((vm.cpu().eip, vm.cpu().regs[EBX]), (0x1000, 77));
    // Mapped now, the run goes on from there.
    vm.map(0x50000, 0x1000, page::R | page::W);
    assert_eq!(vm.run(), X86Exit::Exited(9));

    // A hook whose range misses the address is not called; a removed one neither.
    let mut vm = store_then_load();
    let missed = vm.hook_mem_invalid(0x1000..0x2000, |_, _| panic!("not this range"));
    assert_eq!(vm.run(), fault);
    let mut vm = store_then_load();
    let id = vm.hook_mem_invalid(.., |_, _| panic!("removed"));
    assert!(vm.remove_hook(id));
    assert!(!vm.remove_hook(missed));
    assert_eq!(vm.run(), fault);
}

#[test]
fn an_invalid_access_hook_works_beside_per_instruction_hooks() {
    let mut vm = store_then_load();
    let count = Rc::new(RefCell::new(0u64));
    let c = count.clone();
    vm.hook_code(.., move |_, _, _| *c.borrow_mut() += 1);
    vm.hook_mem_invalid(.., |ctx, fault| {
        ctx.mem.protect(fault.addr as u64, 1, page::R | page::W);
        InvalidAccessAction::Retry
    });
    assert_eq!(vm.run(), X86Exit::Exited(9));
    assert_eq!(vm.steps(), 5);
    // The code hook saw the faulting store twice: before the fault and before the retry.
    assert_eq!(*count.borrow(), 6);
}
