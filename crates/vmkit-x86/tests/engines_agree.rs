//! The interpreter (micro-ops with lazy flags) and the translator (host code) against the
//! reference engine (every instruction through the reference semantics, flags computed
//! eagerly): random programs
//! built from the instruction forms the fast engine translates, mixed with flag-reading
//! and flag-writing instructions it leaves to the reference path, must end in the same
//! registers, EFLAGS, memory, instruction count and exit (including faults).

use proptest::prelude::*;
use vmkit_mem::page;
use vmkit_x86::cpu::{EBP, EDI, ESI, ESP};
use vmkit_x86::{Engine, X86Exit, X86Machine};

const CODE: u32 = 0x1000;
const DATA: u32 = 0x1000_0000;
const STACK_TOP: u32 = 0xC000_0000;

/// Registers random code may write: eax ecx edx ebx ebp (esp, esi, edi keep pointing at
/// the stack and the data page).
const DST: [u8; 5] = [0, 1, 2, 3, 5];

/// ModRM for `[esi + disp8]` (or `[edi + disp8]`) with `reg` in the reg field.
fn m_d8(reg: u8, base_edi: bool, disp: i8) -> Vec<u8> {
    let rm = if base_edi { 7 } else { 6 };
    vec![0x40 | (reg << 3) | rm, disp as u8]
}

fn rr(reg: u8, rm: u8) -> u8 {
    0xC0 | (reg << 3) | rm
}

/// One instruction form, parameterised by random values.
#[derive(Clone, Debug)]
struct Gen {
    form: u8,
    a: u8,
    b: u8,
    op: u8,
    imm: u32,
    disp: i8,
    edi: bool,
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        0u8..47,
        0usize..5,
        0u8..8,
        0u8..16,
        prop_oneof![
            Just(0u32),
            Just(1),
            Just(0x7f),
            Just(0x80),
            Just(0xff),
            Just(0x7fff_ffff),
            Just(0x8000_0000),
            Just(u32::MAX),
            any::<u32>()
        ],
        -64i8..60,
        any::<bool>(),
    )
        .prop_map(|(form, a, b, op, imm, disp, edi)| Gen {
            form,
            a: DST[a],
            b,
            op,
            imm,
            disp: disp & !3,
            edi,
        })
}

/// Encodes `g`; `skip` is the byte length of the code a forward jump may skip.
fn encode(g: &Gen, skip: u8) -> Vec<u8> {
    let (a, b, op) = (g.a, g.b, g.op);
    let alu = op & 7;
    let imm = g.imm.to_le_bytes();
    let mut v = Vec::new();
    let m = |reg| m_d8(reg, g.edi, g.disp);
    match g.form {
        0 => v.extend([(alu << 3) | 1, rr(b, a)]), // alu r32, r32
        1 => v.extend([0x85, rr(b, a)]),           // test r32, r32
        2 => v.extend([(alu << 3), rr(b & 3, a & 3)]), // alu r8, r8 (low bytes)
        3 => v.extend([0x84, rr(b, a & 3)]),       // test r8, r8
        4 => {
            v.extend([0x81, rr(alu, a)]);
            v.extend(imm);
        }
        5 => v.extend([0x83, rr(alu, a), imm[0]]), // alu r32, imm8
        6 => v.extend([0x80, rr(alu, a & 3), imm[0]]), // alu r8, imm8
        7 => {
            v.push((alu << 3) | 3); // alu r32, [m]
            v.extend(m(a));
        }
        8 => {
            v.push((alu << 3) | 2); // alu r8, [m]
            v.extend(m(a & 3));
        }
        9 => {
            v.push((alu << 3) | 1); // alu [m], r32
            v.extend(m(b));
        }
        10 => {
            v.push(0x81); // alu [m], imm32
            v.extend(m(alu));
            v.extend(imm);
        }
        11 => {
            v.push(0x80); // cmp byte [m], imm8
            v.extend(m(7));
            v.push(imm[0]);
        }
        12 => v.extend([0x89, rr(b, a)]), // mov r32, r32
        13 => {
            v.push(0xB8 + a);
            v.extend(imm);
        }
        14 => {
            v.push(0x8B);
            v.extend(m(a));
        }
        15 => {
            v.push(0x89);
            v.extend(m(b));
        }
        16 => {
            v.push(0xC7);
            v.extend(m(0));
            v.extend(imm);
        }
        17 => {
            v.push(0x8A); // mov r8, [m]
            v.extend(m(b));
        }
        18 => {
            v.push(0x88); // mov [m], r8
            v.extend(m(b));
        }
        19 => {
            v.extend([0x66, 0x89]); // mov [m], r16
            v.extend(m(b));
        }
        20 => {
            v.extend([0x0F, [0xB6, 0xB7, 0xBE, 0xBF][(op & 3) as usize]]); // movzx/movsx
            v.extend(m(a));
        }
        21 => v.extend([0x0F, [0xB6, 0xBE][(op & 1) as usize], rr(a, b)]), // movzx/sx r32, r8
        22 => v.extend([
            0x8D,
            0x44 | (a << 3),
            (op & 3) << 6 | (b << 3) | 6,
            g.disp as u8,
        ]), // lea
        23 => v.push([0x40, 0x48][(op & 1) as usize] + a),                 // inc/dec
        24 => v.extend([0xF7, rr(2 + (op & 1), a)]),                       // not/neg
        25 => v.extend([0xC1, rr([0, 1, 4, 5, 7][(op % 5) as usize], a), imm[0] % 40]), // rotates, shifts
        26 => v.extend([0x0F, 0xAF, rr(a, b)]),                                         // imul r, r
        27 => {
            v.extend([0x69, rr(a, b)]);
            v.extend(imm);
        }
        28 => v.extend([0x50 + b, 0x58 + a]), // push r ; pop r
        29 => v.extend([0x6A, imm[0], 0x58 + a]), // push imm8 ; pop r
        30 => v.push(0x99),                   // cdq
        31 => v.extend([0x87, rr(b & 3, a)]), // xchg
        32 => v.extend([0x0F, 0x90 + (op & 15), rr(0, b)]), // setcc r8
        33 => v.extend([0x0F, 0x40 + (op & 15), rr(a, b)]), // cmovcc r, r
        34 => {
            v.extend([0x0F, 0x40 + (op & 15)]); // cmovcc r, [m]
            v.extend(m(a));
        }
        35 => v.extend([0x70 + (op & 15), skip]), // jcc forward
        36 => v.extend([0xE8, 2, 0, 0, 0, 0xEB, 1, 0xC3]), // call ; jmp over ; ret
        37 => v.push([0xF8, 0xF9, 0xF5][(op % 3) as usize]), // clc / stc / cmc
        38 => v.extend([0x9C, 0x58 + a]),         // pushfd ; pop r
        39 => {
            v.push(alu << 3); // alu [m], r8
            v.extend(m(b));
        }
        40 => {
            v.push(0xFF); // inc / dec dword [m]
            v.extend(m(op & 1));
        }
        41 => {
            v.extend([0x66, 0xFF]); // inc / dec word [m]
            v.extend(m(op & 1));
        }
        42 => {
            v.extend([0x66, 0x8B]); // mov r16, [m]
            v.extend(m(a));
        }
        43 => {
            v.extend([0x66, 0x81, rr(alu, a)]); // alu r16, imm16
            v.extend(&imm[..2]);
        }
        44 => v.extend([0x66, 0x83, rr(alu, a), imm[0]]), // alu r16, imm8
        45 => v.extend([0xD3, rr([0, 1, 4, 5, 7][(op % 5) as usize], a)]), // shift r32, cl
        _ => v.extend([0xD1, rr(2 + (op & 1), a)]),       // rcl / rcr r32, 1 (reference path)
    }
    v
}

fn program(gens: &[Gen]) -> Vec<u8> {
    let mut pieces: Vec<Vec<u8>> = gens.iter().map(|g| encode(g, 0)).collect();
    // Forward jumps skip the next instruction.
    for i in 0..pieces.len() {
        if gens[i].form == 35 {
            let skip = pieces.get(i + 1).map_or(0, |p| p.len()) as u8;
            pieces[i] = encode(&gens[i], skip);
        }
    }
    let mut code: Vec<u8> = pieces.concat();
    // mov eax, 1 ; int 0x80 (exit with ebx)
    code.extend([0xB8, 1, 0, 0, 0, 0xCD, 0x80]);
    code
}

fn machine(code: &[u8], regs: [u32; 5], flags: u32, data: &[u8], engine: Engine) -> X86Machine {
    let mut vm = X86Machine::new();
    vm.load_raw(CODE, code).unwrap();
    vm.map(DATA, 0x1000, page::R | page::W);
    vm.memory_mut().poke(DATA as u64, data).unwrap();
    for (k, &r) in DST.iter().enumerate() {
        vm.cpu_mut().regs[r as usize] = regs[k];
    }
    vm.cpu_mut().regs[ESI] = DATA + 0x400;
    vm.cpu_mut().regs[EDI] = DATA + 0x800;
    vm.cpu_mut().regs[ESP] = STACK_TOP - 0x100;
    vm.cpu_mut().eflags = 0x202 | (flags & 0x8D5);
    vm.set_engine(engine);
    // Translated from the first run: these programs run once.
    vm.set_jit_threshold(1);
    vm
}

/// Runs `code` for `budget` instructions on the interpreter and on the translator, each
/// against the reference engine: the same exit, registers, EFLAGS, instruction count, data
/// and stack; a run that stopped early goes on to the same end.
fn agree_with_reference(
    code: &[u8],
    regs: [u32; 5],
    flags: u32,
    data: &[u8],
    budget: u64,
) -> Result<(), TestCaseError> {
    let mut slow = machine(code, regs, flags, data, Engine::Reference);
    let es = slow.run_for(budget);
    for engine in [Engine::Interp, Engine::Jit] {
        let mut fast = machine(code, regs, flags, data, engine);
        let ef = fast.run_for(budget);
        prop_assert_eq!(&ef, &es, "{:?}", engine);
        prop_assert_eq!(fast.cpu(), slow.cpu(), "{:?}", engine);
        prop_assert_eq!(fast.steps(), slow.steps(), "{:?}", engine);
        for (at, len) in [(DATA, 0x1000), (STACK_TOP - 0x200, 0x200)] {
            prop_assert_eq!(
                fast.memory().peek(at as u64, len).unwrap(),
                slow.memory().peek(at as u64, len).unwrap(),
                "{:?}",
                engine
            );
        }
        if ef == X86Exit::StepLimit {
            let mut slow = machine(code, regs, flags, data, Engine::Reference);
            slow.run_for(budget);
            prop_assert_eq!(fast.run(), slow.run(), "{:?}", engine);
            prop_assert_eq!(fast.cpu(), slow.cpu(), "{:?}", engine);
            prop_assert_eq!(fast.steps(), slow.steps(), "{:?}", engine);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn fast_engine_matches_reference(
        gens in proptest::collection::vec(gen(), 1..40),
        regs in any::<[u32; 5]>(),
        flags in any::<u32>(),
        data in proptest::collection::vec(any::<u8>(), 0x1000),
        budget in prop_oneof![Just(u64::MAX), 1u64..60],
    ) {
        let code = program(&gens);
        agree_with_reference(&code, regs, flags, &data, budget)?;
        let _ = EBP;
    }
}

/// `body` as a counted loop of `iterations` passes, closed by one of four back edges: a
/// fused `dec ecx ; jnz`, a fused `cmp ecx, 0 ; jne` after `sub`, `dec dword [esp] ; jnz`
/// (not fused), or `loop` (reference path). The body may write ecx: the counter is saved
/// around it. Without forward jumps in the body the loop is one block that branches to its
/// own start, which the fast engine runs again without leaving it.
fn counted_loop(body: &[Gen], back_edge: u8, iterations: u8) -> Vec<u8> {
    let mut inner: Vec<u8> = program(body);
    inner.truncate(inner.len() - 7); // no exit inside the loop
    let n = iterations as u32;
    let mut code = Vec::new();
    if back_edge == 2 {
        code.push(0x68); // push n
        code.extend(n.to_le_bytes());
    } else {
        code.push(0xB9); // mov ecx, n
        code.extend(n.to_le_bytes());
    }
    let top = code.len();
    if back_edge != 2 {
        code.push(0x51); // push ecx
    }
    code.extend(&inner);
    match back_edge {
        0 => code.extend([0x59, 0x49]), // pop ecx ; dec ecx
        1 => code.extend([0x59, 0x83, 0xE9, 0x01, 0x83, 0xF9, 0x00]), // pop ecx ; sub ecx, 1 ; cmp ecx, 0
        2 => code.extend([0xFF, 0x0C, 0x24]),                         // dec dword [esp]
        _ => code.push(0x59),                                         // pop ecx
    }
    let back = |code: &Vec<u8>, len: usize| (top as i64 - (code.len() + len) as i64) as i32;
    if back_edge == 3 {
        let rel = back(&code, 2);
        assert!(rel >= -128, "loop body too long for `loop`");
        code.extend([0xE2, rel as i8 as u8]); // loop top
    } else {
        let rel = back(&code, 6);
        code.extend([0x0F, 0x85]); // jnz top (rel32)
        code.extend(rel.to_le_bytes());
    }
    code.extend([0xB8, 1, 0, 0, 0, 0xCD, 0x80]);
    code
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Loops: the fast engine's passes over a block that branches to itself stop at the
    /// same instruction as the reference engine for any budget.
    #[test]
    fn loops_match_reference(
        body in proptest::collection::vec(gen(), 1..8),
        back_edge in 0u8..4,
        iterations in 1u8..12,
        regs in any::<[u32; 5]>(),
        flags in any::<u32>(),
        data in proptest::collection::vec(any::<u8>(), 0x1000),
        budget in prop_oneof![Just(u64::MAX), 1u64..400],
    ) {
        let code = counted_loop(&body, back_edge, iterations);
        agree_with_reference(&code, regs, flags, &data, budget)?;
    }
}

/// Self-modifying code: a store over the next instruction in the same block takes effect,
/// and a store over another block drops only that block.
#[test]
fn stores_into_code_take_effect_at_once() {
    let code = [
        0xC6, 0x05, 0x0D, 0x10, 0x00, 0x00,
        0x05, // mov byte [0x100d], 5 (imm of the add below)
        0x31, 0xDB, // xor ebx, ebx
        0x90, 0x90, // nops
        0x83, 0xC3, 0x01, // add ebx, 1   (patched to add ebx, 5)
        0xB8, 1, 0, 0, 0, 0xCD, 0x80, // exit(ebx)
    ];
    for engine in [Engine::Interp, Engine::Reference, Engine::Jit] {
        let mut vm = X86Machine::new();
        vm.load_raw(CODE, &code).unwrap();
        vm.set_engine(engine);
        vm.set_jit_threshold(1);
        assert_eq!(vm.run(), X86Exit::Exited(5), "{engine:?}");
    }
}
