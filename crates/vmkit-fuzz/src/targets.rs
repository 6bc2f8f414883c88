//! The fuzz targets: one function per input format, `fn(&[u8]) -> Signature`, that must never
//! panic and must finish quickly on any input. Each also returns a coarse [`Signature`] of
//! what happened (which error, which kind of exit), which the runner uses as a cheap stand-in
//! for coverage: an input that produces a new signature joins the corpus.
//!
//! Every guest run is bounded by a step limit, and a guest sees no host stdin, writes into
//! captured buffers, and (x86) cannot sleep; so any time a case takes is the host's own.

use std::hash::{DefaultHasher, Hash, Hasher};
use vmkit_image::Image;
use vmkit_machine::{Config, Exit, Machine};
use vmkit_x86::{HookAction, X86Exit, X86Machine};

/// A coarse summary of what one input did (a hash of the error kind or exit kind).
pub type Signature = u64;

/// Guest instructions a target runs at most per input.
pub const GUEST_STEPS: u64 = 20_000;

/// Where raw x86 code is loaded (PyVM's default base).
pub const X86_BASE: u32 = 0x1000;

/// The assembler: `data` as source text (lossy UTF-8). A program that assembles is also
/// disassembled and its image serialised and parsed back, which must give the same image.
pub fn assembler(data: &[u8]) -> Signature {
    let source = String::from_utf8_lossy(data);
    match vmkit_asm::assemble_str("fuzz.s", &source) {
        Ok(assembled) => {
            let image = assembled.image;
            let text = vmkit_asm::disassemble(&image);
            let bytes = image.to_bytes();
            let back = Image::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("an assembled image does not load back: {e}"));
            assert!(
                back == image,
                "an assembled image changes through to_bytes/from_bytes"
            );
            signature(&(
                "ok",
                image.segments.len(),
                log2(bytes.len() as u64),
                assembled.warnings.len().min(4),
                text.lines().count().min(64) / 8,
            ))
        }
        Err(diagnostics) => {
            let first = diagnostics.0.first().map(|d| shape(&d.message));
            signature(&("err", first, diagnostics.0.len().min(8)))
        }
    }
}

/// The image loader: `data` as a `.vmi` file, parsed as it is and again with its checksum
/// made right (so that damage reaches the parser behind the CRC). An image that loads is
/// put into a native machine and run for [`GUEST_STEPS`] instructions.
pub fn image(data: &[u8]) -> Signature {
    let as_is = Image::from_bytes(data).map(|_| ()).map_err(|e| shape(&e));
    let fixed = with_valid_crc(data);
    let result = match Image::from_bytes(&fixed) {
        Ok(image) => {
            let back = Image::from_bytes(&image.to_bytes())
                .unwrap_or_else(|e| panic!("a loaded image does not load back: {e}"));
            assert!(back == image, "a loaded image changes through to_bytes");
            run_native(&image)
        }
        Err(e) => signature(&shape(&e)),
    };
    signature(&(as_is.is_ok(), result))
}

/// The devirtualizer: `data` as a (protected, damaged) image, checksum made right. An image
/// that loads is devirtualized; a recovered program is explained and serialised.
pub fn devirt(data: &[u8]) -> Signature {
    let fixed = with_valid_crc(data);
    let image = match Image::from_bytes(&fixed) {
        Ok(image) => image,
        Err(e) => return signature(&("image", shape(&e))),
    };
    match vmkit_protect::devirtualize(&image) {
        Ok(d) => {
            let text = vmkit_protect::explain(&d);
            let _ = d.image.to_bytes();
            signature(&(
                "ok",
                d.vms.len(),
                d.functions.len(),
                log2(text.len() as u64),
            ))
        }
        Err(e) => signature(&("devirt", shape(&e))),
    }
}

/// The x86 decoder and both engines: `data` as raw 32-bit code at [`X86_BASE`] (PyVM's
/// `execute_file` setup: code read-write-execute, a 1 MiB stack), run for [`GUEST_STEPS`]
/// instructions by the fast engine and by the reference engine, which must agree exactly:
/// exit (fault kind and text included), registers, flags, x87 state, step count, output.
///
/// Only deterministic system calls reach the Linux personality here (exit, read of the empty
/// stdin, write, memory management, `set_thread_area`, `getpid`); the others fail with
/// ENOSYS, since the time or randomness they return would differ between the two runs. The
/// ELF target exercises the whole personality.
pub fn x86_raw(data: &[u8]) -> Signature {
    let (Some(fast), Some(reference)) = (
        run_raw(data, vmkit_x86::Engine::Interp),
        run_raw(data, vmkit_x86::Engine::Reference),
    ) else {
        return signature(&"load");
    };
    assert!(
        fast == reference,
        "the fast and reference engines disagree:\n fast:      {fast:?}\n reference: {reference:?}"
    );
    fast.signature
}

/// What one raw x86 run ended in, for comparing the engines.
#[derive(Debug, PartialEq)]
struct RawRun {
    exit: X86Exit,
    cpu: vmkit_x86::cpu::Cpu,
    steps: u64,
    output: Vec<u8>,
    signature: Signature,
}

fn run_raw(data: &[u8], engine: vmkit_x86::Engine) -> Option<RawRun> {
    const ENOSYS: u32 = 38u32.wrapping_neg();
    // A host that refuses the address space (ulimit -v) is not a finding of the input.
    let mut vm = X86Machine::try_new().ok()?;
    vm.load_raw(X86_BASE, data).ok()?;
    vm.set_engine(engine);
    // Hooks run in the order they were added: this one before run_x86's budget.
    vm.hook_syscall(|ctx, nr| {
        // exit, read, write, brk, old mmap, munmap, mprotect, writev, mremap, mmap2,
        // set_thread_area, exit_group, getpid
        if matches!(
            nr,
            1 | 3 | 4 | 45 | 90 | 91 | 125 | 146 | 163 | 192 | 243 | 252 | 20
        ) {
            return HookAction::Pass;
        }
        ctx.cpu.regs[vmkit_x86::cpu::EAX] = ENOSYS;
        HookAction::Handled
    });
    let (exit, signature) = run_x86(&mut vm);
    Some(RawRun {
        exit,
        cpu: vm.cpu().clone(),
        steps: vm.steps(),
        output: vm.output().to_vec(),
        signature,
    })
}

/// The ELF loader: `data` as an ELF32 file, loaded as `vmkit run` loads a static i386
/// program (segments, initial stack, `brk`) and, if it loads, run for [`GUEST_STEPS`].
pub fn elf(data: &[u8]) -> Signature {
    let mut vm = match X86Machine::try_new() {
        Ok(vm) => vm,
        Err(e) => return signature(&("host", shape(&e))),
    };
    let argv = ["/fuzz/prog".to_string(), "arg".to_string()];
    let envp = ["PATH=/bin".to_string()];
    match vm.load_elf(data, &argv, &envp) {
        Ok(()) => signature(&("ok", run_x86(&mut vm).1)),
        Err(e) => signature(&("err", shape(&e))),
    }
}

/// Runs a loaded native machine, isolated from the host: no stdin, output captured, no
/// directory granted.
fn run_native(image: &Image) -> Signature {
    let mut vm = match Machine::from_image(image, &Config::default()) {
        Ok(vm) => vm,
        Err(e) => return signature(&("machine", shape(&e))),
    };
    vm.capture_output();
    vm.set_stdin(&[]);
    let exit = vm.run_for(GUEST_STEPS);
    let kind = match &exit {
        Exit::Fault(f) => shape(&f.kind),
        other => shape(other),
    };
    signature(&(kind, log2(vm.steps())))
}

/// The address space an x86 fuzz guest may map in all (the program and its stack count):
/// past it `mmap`, `mremap` and `brk` fail with ENOMEM, as under `ulimit -v`.
///
/// A resource budget of the harness, like libFuzzer's `-malloc_limit_mb`: mapped memory costs
/// the host nothing until touched, but a guest that touches a gigabyte would make every case
/// slow, so the machine's own limit (`X86Machine::set_memory_limit`) keeps cases small.
pub const X86_MAP_BUDGET: u64 = 64 << 20;

/// Runs a loaded x86 machine, isolated from the host: no stdin, output captured, the
/// sleeping system calls return at once (a guest may ask to sleep for 136 years, which is
/// the guest's right, not a finding), and its address space stays within [`X86_MAP_BUDGET`].
fn run_x86(vm: &mut X86Machine) -> (X86Exit, Signature) {
    use vmkit_x86::cpu::EAX;
    vm.capture_output();
    vm.set_stdin(&[]);
    vm.set_memory_limit(Some(X86_MAP_BUDGET));
    vm.hook_syscall(move |ctx, nr| {
        match nr {
            // nanosleep, clock_nanosleep, clock_nanosleep_time64
            162 | 267 | 407 => ctx.cpu.regs[EAX] = 0,
            _ => return HookAction::Pass,
        }
        HookAction::Handled
    });
    let exit = vm.run_for(GUEST_STEPS);
    let kind = match &exit {
        X86Exit::Fault(f) => shape(&f.kind),
        other => shape(other),
    };
    let signature = signature(&(kind, log2(vm.steps())));
    (exit, signature)
}

/// `bytes` with the image checksum recomputed, if it is long enough to have one.
pub fn with_valid_crc(bytes: &[u8]) -> Vec<u8> {
    const CRC_OFFSET: usize = 60;
    let mut fixed = bytes.to_vec();
    if fixed.len() >= vmkit_image::HEADER_LEN && fixed.starts_with(&vmkit_image::MAGIC) {
        fixed[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
        let crc = crc32fast::hash(&fixed);
        fixed[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    }
    fixed
}

/// The kind of a value, without its numbers and quoted text: its `Debug` form's letters, up
/// to the first quote, so that "unknown mnemonic `x`" and "... `y`" count as one.
fn shape(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    text.chars()
        .take_while(|c| !matches!(c, '`' | '"' | '\''))
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .take(48)
        .collect()
}

fn log2(n: u64) -> u32 {
    64 - n.leading_zeros()
}

fn signature(value: &impl Hash) -> Signature {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}
