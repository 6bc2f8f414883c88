//! The embedding example from the README, and the QBX program's final state (seed 003),
//! checked through the library API rather than the command line.

use vmkit_isa::Reg;
use vmkit_machine::{Config, Exit, Machine};

#[test]
fn readme_embedding_example() {
    let image = vmkit_asm::assemble_str("demo", "main:\n mov r1, 20\n hcall twice\n halt\n")
        .unwrap()
        .image;
    let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
    vm.register_host("twice", |call| Ok(call.arg(0) * 2));
    assert_eq!(vm.run(), Exit::Halted);
    assert_eq!(vm.reg(Reg::r(0)), 40);
}

fn symbol(image: &vmkit_image::Image, name: &str) -> u64 {
    image.symbols.iter().find(|s| s.name == name).unwrap().addr
}

#[test]
fn qbx_program_final_registers_and_memory() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/qbx.s");
    let image = vmkit_asm::assemble_file(std::path::Path::new(path))
        .unwrap()
        .image;
    for specialize in [true, false] {
        let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
        vm.set_specialize(specialize);
        vm.capture_output();
        assert_eq!(vm.run(), Exit::Halted);
        // q0..q3 were saved in r10..r13 before the prints (which clobber r0 and r1).
        let q: Vec<u64> = (10..14).map(|n| vm.reg(Reg::r(n)) & 0xFFFF).collect();
        assert_eq!(q, [0x03FE, 0xFEED, 0xFEED, 0x03FE]);
        let mem = symbol(&image, "qbx_mem");
        assert_eq!(vm.read(mem + 1022, 2).unwrap(), &[0xED, 0xED]);
        assert_eq!(
            vm.read(mem, 1022)
                .unwrap()
                .iter()
                .filter(|&&b| b != 0)
                .count(),
            0
        );
        // The stack is balanced: two pushes, two pops.
        assert_eq!(vm.reg(Reg::SP), vm.memory_size());
    }
}

/// Every example behaves identically with the specialised records and with the reference
/// semantics alone (stdout, exit, step count, registers).
#[test]
fn examples_agree_across_backends() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "s") {
            continue;
        }
        let image = vmkit_asm::assemble_file(&path).unwrap().image;
        let mut results = Vec::new();
        for specialize in [true, false] {
            let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
            vm.set_specialize(specialize);
            vm.capture_output();
            vm.set_stdin(b"x");
            vm.offer_key(b'x');
            let exit = vm.run_for(50_000_000);
            results.push((exit, vm.output().to_vec(), vm.steps(), vm.regs()));
        }
        assert_eq!(results[0], results[1], "{}", path.display());
    }
}
