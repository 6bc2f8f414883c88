//! Running plain and protected images and comparing what a user can observe.

#![allow(dead_code)]

use vmkit_image::{Image, SegmentKind};
use vmkit_machine::{Config, Exit, Machine};
use vmkit_protect::{devirtualize, Devirtualized};
use vmkit_protect::{protect, Options};

/// Everything observable at the end of a run.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Exit status as a process would see it.
    pub status: i32,
    /// What the program wrote (stdout and host-function output).
    pub output: String,
    /// r0..r15, sp.
    pub regs: Vec<u64>,
    /// Flags.
    pub flags: u64,
    /// The program's own data, const and bss segments at the end.
    pub memory: Vec<(u64, Vec<u8>)>,
}

/// Runs `image` for at most `max_steps`, with `keys` waiting in the keyboard mailbox; the
/// data segments compared are those of `plain` (the protector adds its own).
pub fn run(image: &Image, plain: &Image, keys: &[u8], max_steps: u64) -> (Outcome, u64) {
    let mut m = Machine::from_image(image, &Config::default()).expect("image loads");
    m.capture_output();
    for &k in keys {
        m.offer_key(k);
    }
    let exit = m.run_for(max_steps);
    assert_ne!(
        exit,
        Exit::StepLimit,
        "the program did not finish in {max_steps} steps"
    );
    let memory = plain
        .segments
        .iter()
        .filter(|s| s.kind != SegmentKind::Code)
        .map(|s| {
            (
                s.addr,
                m.read(s.addr, s.mem_size)
                    .expect("segment readable")
                    .to_vec(),
            )
        })
        .collect();
    let mut output = String::from_utf8_lossy(m.output()).into_owned();
    output.push_str(&String::from_utf8_lossy(m.error_output()));
    let outcome = Outcome {
        status: exit.status(),
        output,
        regs: m.regs().to_vec(),
        flags: m.flags(),
        memory,
    };
    (outcome, m.steps())
}

/// Assembles a source file of the repository.
pub fn assemble(rel: &str) -> Image {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    vmkit_asm::assemble_file(&path)
        .unwrap_or_else(|d| panic!("{rel} assembles: {d}"))
        .image
}

/// Devirtualizes `image` (protected from `plain`): the result behaves as `plain` does,
/// and protecting it again with the recovered profile gives the same virtual code.
pub fn devirt_check(plain: &Image, image: &Image, keys: &[u8], steps: u64, what: &str) {
    let (want, _) = run(plain, plain, keys, steps);
    let d = devirtualize(image).unwrap_or_else(|e| panic!("{what}: devirt: {e}"));
    d.image
        .validate()
        .expect("the devirtualized image is valid");
    assert!(
        d.functions.iter().all(|f| f.moved_to.is_none()),
        "{what}: every function fits its place"
    );
    let (got, _) = run(&d.image, plain, keys, steps);
    assert_eq!(got, want, "{what}: devirtualized");
    let (again, _) = protect(
        &d.image,
        &Options {
            seed: 0x5EED,
            profile: Some(d.profile.clone()),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{what}: re-protect: {e}"));
    assert_eq!(
        virtual_code(&again, &d),
        virtual_code(image, &d),
        "{what}: re-encryption"
    );
}

/// The protector's read-only segment without the handler tables (which hold handler
/// addresses, and handler code depends on the seed): the condition tables and every
/// byte of virtual code.
fn virtual_code(image: &Image, d: &Devirtualized) -> Vec<u8> {
    let seg = image
        .segments
        .iter()
        .find(|s| s.addr == d.profile.base)
        .expect("the protector's segment");
    let mut bytes = seg.data.clone();
    for vm in &d.vms {
        let off = (vm.handler_table() - seg.addr) as usize;
        bytes[off..off + 1024].fill(0);
    }
    bytes
}
