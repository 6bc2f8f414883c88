//! Every example, protected under several seeds and VM counts, behaves as the plain
//! program: same output, exit status, registers, flags and data memory.

mod common;

use common::{assemble, devirt_check, run};
use vmkit_protect::devirtualize;
use vmkit_protect::{protect, Options, ProtectError};

const SEEDS: [u64; 3] = [1, 2, 0xDEAD_BEEF];

fn check(rel: &str, keys: &[u8], steps: u64) {
    let plain = assemble(rel);
    let (want, _) = run(&plain, &plain, keys, steps);
    for seed in SEEDS {
        for vms in [1, 2, 3] {
            let opts = Options {
                seed,
                vms,
                ..Options::default()
            };
            let (image, report) = protect(&plain, &opts).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(!report.protected.is_empty());
            image.validate().expect("the protected image is valid");
            let bytes = image.to_bytes();
            let reloaded = vmkit_image::Image::from_bytes(&bytes).expect("it round-trips");
            let (mut got, _) = run(&reloaded, &plain, keys, steps);
            if want.status >= 128 {
                // A fault stops the program inside a handler: the same signal, output and
                // memory, but the registers are the VM's.
                got.regs = want.regs.clone();
                got.flags = want.flags;
            }
            assert_eq!(got, want, "{rel} with seed {seed}, {vms} VMs");
            devirt_check(
                &plain,
                &image,
                keys,
                steps,
                &format!("{rel} with seed {seed}, {vms} VMs"),
            );
        }
    }
}

#[test]
fn hello() {
    check("examples/hello.s", &[], 10_000_000);
}

#[test]
fn fib() {
    check("examples/fib.s", &[], 100_000_000);
}

#[test]
fn addressing() {
    check("examples/addressing.s", &[], 10_000_000);
}

#[test]
fn floats() {
    check("examples/floats.s", &[], 10_000_000);
}

#[test]
fn qbx() {
    check("examples/qbx.s", &[], 10_000_000);
}

#[test]
fn screen() {
    check("examples/screen.s", b"x", 10_000_000);
}

#[test]
fn divide_fault() {
    // The fault happens inside a handler now, but it is the same fault: SIGFPE.
    check("examples/divide_fault.s", &[], 10_000_000);
}

#[test]
fn self_modifying_code_stays_native_with_a_reason() {
    let plain = assemble("examples/selfmod.s");
    let err = protect(
        &plain,
        &Options {
            vms: 1,
            ..Options::default()
        },
    )
    .unwrap_err();
    let ProtectError::NothingToProtect(reasons) = &err else {
        panic!("unexpected error {err}")
    };
    assert!(reasons[0].contains("self-modifying"), "{err}");
}

#[test]
fn same_seed_same_image_other_seed_other_image() {
    let plain = assemble("examples/fib.s");
    let build = |seed| {
        protect(
            &plain,
            &Options {
                seed,
                vms: 1,
                ..Options::default()
            },
        )
        .unwrap()
        .0
        .to_bytes()
    };
    assert_eq!(build(5), build(5));
    assert_ne!(build(5), build(6));
}

#[test]
fn sieve_one_build() {
    // The heaviest example (about 4.8 billion native instructions once protected): one
    // build with two VMs instead of nine.
    let plain = assemble("examples/sieve.s");
    let (want, _) = run(&plain, &plain, &[], 100_000_000);
    let (image, _) = protect(
        &plain,
        &Options {
            seed: 3,
            vms: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let (got, _) = run(&image, &plain, &[], 20_000_000_000);
    assert_eq!(got, want);
    devirt_check(&plain, &image, &[], 100_000_000, "sieve");
}

#[test]
fn builds_differ_and_encrypted_opcodes_hide_the_kind() {
    let plain = assemble("examples/fib.s");
    let d = vmkit_protect::diversity(&plain, 100).unwrap();
    assert_eq!(d.permutations, 100, "{d:?}");
    // Chains of three constant-free transforms (`not; neg; inc`) can repeat across builds.
    assert!(d.dispatch_chains >= 90 && d.entry_chains >= 90, "{d:?}");
    assert!(d.register_roles >= 90, "{d:?}");
    assert!((20..=80).contains(&d.forward), "{d:?}");
    // A constant XOR would give 0 bits: each kind would always be the same byte.
    assert!(d.conditional_entropy > 5.0, "{d:?}");
}

#[test]
fn far_native_targets_stay_exact() {
    // Jumps above 2^31 once came out sign-extended from 32 bits.
    for src in [
        "main:\n    mov r1, 5\n    mov r2, 6\n    jmp 0x80000000\n",
        "main:\n    mov r1, 5\n    cmp r1, 5\n    jz 0x80000010\n    halt\n",
    ] {
        let plain = vmkit_asm::assemble_str("far.s", src).unwrap().image;
        let fault_ip = |image: &vmkit_image::Image| {
            let mut m =
                vmkit_machine::Machine::from_image(image, &vmkit_machine::Config::default())
                    .unwrap();
            match m.run_for(1_000_000) {
                vmkit_machine::Exit::Fault(f) => f.ip,
                other => panic!("expected a fault, got {other:?}"),
            }
        };
        let (image, _) = protect(
            &plain,
            &Options {
                vms: 1,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(fault_ip(&image), fault_ip(&plain), "{src}");
        let d = devirtualize(&image).unwrap();
        assert_eq!(fault_ip(&d.image), fault_ip(&plain), "{src}: devirtualized");
    }
}

#[test]
fn programs_beyond_one_gib_and_malformed_profiles_are_errors() {
    let src =
        "main:\n    mov r1, 5\n    mov r2, 6\n    halt\n.section bss, 0x40000000\nbig: .space 16\n";
    let big = vmkit_asm::assemble_str("big.s", src).unwrap().image;
    let err = protect(
        &big,
        &Options {
            vms: 1,
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, ProtectError::AddressSpace(_)), "{err}");
    let plain = assemble("examples/fib.s");
    let (_, report) = protect(
        &plain,
        &Options {
            vms: 1,
            ..Options::default()
        },
    )
    .unwrap();
    let mut profile = report.profile.clone();
    profile.vms[0].handlers.truncate(10);
    let err = protect(
        &plain,
        &Options {
            profile: Some(profile),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, ProtectError::BadProfile(_)), "{err}");
    let mut bad = report.profile.clone();
    bad.vms[0].regs.vsp = bad.vms[0].regs.vip;
    let mut profiles = vec![bad];
    // A base inside the program, unaligned, or far beyond 1 GiB (it once wrapped around).
    for base in [0x1000, report.profile.base + 1, u64::MAX - 0xFFF, 1 << 40] {
        let mut p = report.profile.clone();
        p.base = base;
        profiles.push(p);
    }
    let mut twice = report.profile.clone();
    twice.functions.push(twice.functions[0]);
    profiles.push(twice);
    for profile in profiles {
        let err = protect(
            &plain,
            &Options {
                profile: Some(profile),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, ProtectError::BadProfile(_)), "{err}");
    }
    // A function named twice is protected once.
    let (_, report) = protect(
        &plain,
        &Options {
            vms: 2,
            only: vec!["fib".into(), "fib".into(), "0x1047".into()],
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(report.protected.len(), 1);
}

#[test]
fn code_below_a_functions_entry() {
    // `main` jumps back to code above it in memory that belongs to it alone: the VM must
    // enter at `main`'s block, not at the lowest one, and the devirtualizer, which cannot
    // know where that code was, gives the function a place of its own.
    let src =
        "tail:\n    add r1, 5\n    hcall print_int\n    halt\nmain:\n    mov r1, 1\n    jmp tail\n";
    let plain = vmkit_asm::assemble_str("below.s", src).unwrap().image;
    let (want, _) = run(&plain, &plain, &[], 1_000_000);
    assert_eq!(want.output, "6\n");
    for seed in SEEDS {
        let opts = Options {
            seed,
            vms: 1,
            ..Options::default()
        };
        let (image, _) = protect(&plain, &opts).unwrap();
        let (got, _) = run(&image, &plain, &[], 10_000_000);
        assert_eq!(got, want, "seed {seed}");
        let d = devirtualize(&image).unwrap();
        assert!(d.functions[0].moved_to.is_some());
        let (got, _) = run(&d.image, &plain, &[], 1_000_000);
        assert_eq!(got, want, "seed {seed}: devirtualized");
    }
}
