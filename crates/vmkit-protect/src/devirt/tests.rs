//! The devirtualizer, stage by stage, from the protected image alone: stage 1 recovers
//! vm_entry's and calc_jmp's secrets exactly as the protector drew them; stage 2 classifies
//! every handler and its immediate chain exactly; plain and damaged images get errors,
//! never a panic. (Whole programs, devirtualized and re-encrypted, are checked in
//! `examples.rs` and `generated.rs`.)

//!
//! Unit tests, not integration tests: the stages are private to the crate.

use super::classify::classify;
use super::entry::{recover, VmEntry};
use super::rebuild::devirtualize;
use super::DevirtError;
use crate::{protect, Options};
use proptest::prelude::*;
use vmkit_image::Image;

/// Assembles a source file of the repository.
fn assemble(rel: &str) -> Image {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    vmkit_asm::assemble_file(&path)
        .unwrap_or_else(|d| panic!("{rel} assembles: {d}"))
        .image
}

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
            prop_assert_eq!(vm.exit, report.vms[k].exit);
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

    #[test]
    fn every_handler_and_immediate_chain_is_recovered(seed: u64) {
        let plain = assemble("examples/hello.s");
        let (image, report) = protect(&plain, &Options { seed, vms: 1, ..Options::default() }).unwrap();
        let vm = &recover(&image).unwrap()[0];
        let got = classify(&image, vm).unwrap();
        for (b, h) in got.iter().enumerate() {
            prop_assert_eq!(h.spec, report.profile.vms[0].handlers[b], "opcode {:#x}", b);
            prop_assert!(h.steps > 0);
        }
    }

    #[test]
    fn damaged_images_give_errors_not_panics(seed: u64, flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4)) {
        let plain = assemble("examples/fib.s");
        let (mut image, report) = protect(&plain, &Options { seed, vms: 1, ..Options::default() }).unwrap();
        // Damage the protector's own segments: virtual code, tables, VM code and stubs.
        let base = report.profile.base;
        let segs: Vec<usize> = (0..image.segments.len())
            .filter(|&n| image.segments[n].addr >= base && !image.segments[n].data.is_empty())
            .collect();
        for (at, x) in flips {
            let s = segs[at.index(segs.len())];
            let data = &mut image.segments[s].data;
            let i = at.index(data.len());
            data[i] ^= x;
        }
        // Ok (the damage missed what matters, or still decodes) or a typed error.
        if let Err(e) = devirtualize(&image) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn a_plain_image_is_not_protected() {
    let plain = assemble("examples/fib.s");
    assert_eq!(recover(&plain), Err(DevirtError::NotProtected));
    assert_eq!(
        devirtualize(&plain).map(|_| ()),
        Err(DevirtError::NotProtected)
    );
}

#[test]
fn a_damaged_handler_table_is_reported_with_its_address() {
    let plain = assemble("examples/fib.s");
    let (mut image, report) = protect(
        &plain,
        &Options {
            seed: 7,
            vms: 1,
            ..Options::default()
        },
    )
    .unwrap();
    let vm = &recover(&image).unwrap()[0];
    // Point every table entry at one handler's neighbour byte: no handler is there.
    let seg = image
        .segments
        .iter_mut()
        .find(|s| s.addr == report.profile.base)
        .unwrap();
    let off = (vm.table - seg.addr) as usize;
    seg.data[off..off + 1024].fill(0x5A);
    let err = devirtualize(&image).map(|_| ()).unwrap_err();
    assert!(matches!(err, DevirtError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("handler"), "{err}");
}

#[test]
fn vm_addresses_out_of_the_vms_reach_are_errors() {
    // What vm_entry's code claims comes from the image: a damaged one can put the
    // context anywhere. The classifier generates reference code at those addresses.
    let plain = assemble("examples/fib.s");
    let (image, _) = protect(
        &plain,
        &Options {
            seed: 3,
            vms: 1,
            ..Options::default()
        },
    )
    .unwrap();
    let good = recover(&image).unwrap().remove(0);
    let edits: [fn(&mut VmEntry); 5] = [
        |v| v.ctx = u64::MAX - 0xFFF,
        |v| {
            v.ctx = 0x7FFF_F000;
            v.vstack_top = v.ctx + 0x800;
        },
        |v| v.table = 1 << 40,
        |v| v.handler_base = 1 << 33,
        |v| v.vstack_top = v.ctx + (1 << 30),
    ];
    for edit in edits {
        let mut vm = good.clone();
        edit(&mut vm);
        assert!(classify(&image, &vm).is_err());
    }
}
