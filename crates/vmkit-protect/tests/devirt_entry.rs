//! Devirtualization, stage 1: from the protected image alone, the entry stubs, vm_entry's
//! chain, register roles, VIP direction, calc_jmp's chain and the handler table are
//! recovered exactly as the protector drew them.

mod common;

use common::assemble;
use proptest::prelude::*;
use vmkit_protect::devirt::entry::recover;
use vmkit_protect::devirt::DevirtError;
use vmkit_protect::{protect, Options};

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn vm_entry_and_calc_jmp_are_recovered(seed: u64, vms in 1..4usize) {
        let plain = assemble("examples/fib.s");
        let (image, report) = protect(&plain, &Options { seed, vms, ..Options::default() }).unwrap();
        let got = recover(&image).unwrap();
        prop_assert_eq!(got.len(), report.profile.vms.len());
        for (k, vm) in got.iter().enumerate() {
            let p = &report.profile.vms[k];
            prop_assert_eq!(vm.entry, report.vms[k].entry);
            prop_assert_eq!(vm.dispatch, report.vms[k].dispatch);
            prop_assert_eq!(vm.regs, p.regs);
            prop_assert_eq!(vm.forward, p.forward);
            prop_assert_eq!(vm.entry_chain, p.entry);
            prop_assert_eq!(vm.dispatch_chain, p.dispatch);
            prop_assert_eq!(vm.table_transform, p.table);
            let mut distinct = vm.handlers.clone();
            distinct.sort();
            distinct.dedup();
            prop_assert_eq!(distinct.len(), 256, "every opcode has its own handler copy");
            for &(_, enc) in &vm.stubs {
                prop_assert!(report.vms[k].blocks.contains(&vm.block_of(enc)));
            }
        }
    }
}

#[test]
fn a_plain_image_is_not_protected() {
    let plain = assemble("examples/fib.s");
    assert_eq!(recover(&plain), Err(DevirtError::NotProtected));
}

#[test]
fn handlers_are_classified_by_what_they_do() {
    use vmkit_protect::devirt::classify::classify;
    let plain = assemble("examples/fib.s");
    for seed in [1u64, 2, 3] {
        let (image, report) = protect(&plain, &Options { seed, vms: 1, ..Options::default() }).unwrap();
        let got = recover(&image).unwrap();
        let t = std::time::Instant::now();
        let h = classify(&image, &got[0]).unwrap();
        eprintln!("classified in {:?}", t.elapsed());
        for (b, info) in h.iter().enumerate() {
            assert_eq!(info.spec, report.profile.vms[0].handlers[b], "opcode {b:#x}");
        }
    }
}
