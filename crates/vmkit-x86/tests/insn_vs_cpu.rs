//! vmkit's x86 guest against the real CPU, instruction by instruction.
//!
//! `insn_vs_cpu/cases.rs` generates tens of thousands of small cases: every encoding of every
//! integer instruction the emulator implements (8/16/32-bit, register and memory forms,
//! immediates, 0x66 and 0x67 prefixes, segment overrides), edge and random operands, random
//! flags, every shift count, every condition, bit strings, string instructions with `rep`,
//! stack and control transfers, faults. `insn_vs_cpu/runner.c`, built here with
//! `gcc -m32 -static`, runs them natively in a 32-bit process; `X86Machine` runs them too;
//! registers, EFLAGS, the data region, the final eip and the signal (if any) must agree.
//!
//! Architecturally undefined flags and results are compared too when the host is the CPU
//! whose values `vmkit_x86::cpu::alu` reproduces (AMD family 1Ah, Zen 5); elsewhere they are
//! masked (`VMKIT_ALU_STRICT=1`/`0` forces either, as in `alu_vs_cpu.rs`). The cases come
//! from a fixed seed; `VMKIT_INSN_SEED=<number>` explores others. Without
//! `gcc -m32` (gcc-multilib, installed by the test when run as root) the test fails at once
//! with the command to run; it never skips.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

#[path = "insn_vs_cpu/cases.rs"]
mod cases;

use cases::{Case, Gen, CODE_BASE, REGION, REGION_SIZE};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use vmkit_mem::page;
use vmkit_x86::cpu::{Cpu, Seg, REG_NAMES};
use vmkit_x86::{Engine, X86Exit, X86FaultKind, X86Machine};

/// EFLAGS bits compared: all of the low 16 (status, TF IF DF, IOPL, NT, reserved), AC and
/// ID. RF, VM, VIF and VIP are system state the kernel reports as it likes.
const FLAGS_COMPARED: u32 = 0x0024_ffff;
/// Signal number standing for "vmkit did not stop at a fault or the final `hlt`".
const NO_STOP: u32 = 0xffff;

/// True on the CPU whose undefined-flag values the ALU reproduces (AMD family 1Ah).
fn host_is_reference() -> bool {
    match std::env::var("VMKIT_ALU_STRICT").as_deref() {
        Ok("1") => return true,
        Ok("0") => return false,
        _ => {}
    }
    use core::arch::x86_64::__cpuid;
    #[allow(unused_unsafe)]
    // SAFETY: cpuid is available on every x86_64 CPU.
    let (vendor, signature) = unsafe { (__cpuid(0), __cpuid(1).eax) };
    let amd = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163);
    let base_family = (signature >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((signature >> 20) & 0xff)
    } else {
        base_family
    };
    amd && family == 0x1a
}

/// The state after a case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    /// 0 when the case ran to its final `hlt`, else the signal.
    sig: u32,
    eip: u32,
    regs: [u32; 8],
    eflags: u32,
    /// Region bytes that changed: (offset, new value), ascending.
    mem: Vec<(u16, u8)>,
}

// ---- the native side --------------------------------------------------------------------------

fn build_runner() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/insn_vs_cpu/runner.c");
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("insn_vs_cpu_runner-{}", std::process::id()));
    vmkit_test_support::require_gcc_m32();
    let out = Command::new("gcc")
        .args(["-m32", "-static", "-O1", "-fno-pie", "-no-pie", "-Wall"])
        // High, so that below 2 GiB only the region and the code area are mapped, as in
        // vmkit: a wild address (a bit string, a random target) faults on both sides.
        .arg("-Wl,-Ttext-segment=0xa0000000")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output();
    match out {
        Err(e) => panic!(
            "cannot run gcc ({e}): this test needs gcc and gcc-multilib (see docs/testing.md)"
        ),
        Ok(o) if !o.status.success() => panic!(
            "gcc -m32 -static failed (see docs/testing.md):\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => exe,
    }
}

fn put(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn serialize(gen: &Gen) -> Vec<u8> {
    let mut buf = Vec::new();
    for v in [0x584b_4d56, REGION, REGION_SIZE, CODE_BASE, gen.code_size()] {
        put(&mut buf, v);
    }
    buf.extend_from_slice(&gen.base);
    buf.extend_from_slice(&gen.code_image());
    for c in &gen.cases {
        put(&mut buf, c.start);
        put(&mut buf, c.end());
        for r in c.regs {
            put(&mut buf, r);
        }
        put(&mut buf, c.eflags);
        put(&mut buf, c.patches.len() as u32);
        for &(offset, byte) in &c.patches {
            put(&mut buf, offset as u32 | (byte as u32) << 16);
        }
    }
    put(&mut buf, 0);
    buf
}

/// Runs every case natively; returns the fs selector the runner set up and the outcomes.
fn run_native(exe: &Path, gen: &Gen) -> (u16, Vec<Outcome>) {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the runner starts");
    let input = serialize(gen);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    let written = writer.join().unwrap();
    assert!(
        status.success() && written.is_ok(),
        "the native runner failed ({status}): {err}"
    );

    let mut words = out
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()));
    let mut next = || words.next().expect("the runner's output is complete");
    let fs = next() as u16;
    let outcomes = gen
        .cases
        .iter()
        .map(|_| {
            let sig = next();
            let eip = next();
            let mut regs = [0; 8];
            for r in &mut regs {
                *r = next();
            }
            let eflags = next();
            let changed = next();
            let mem = (0..changed)
                .map(|_| {
                    let p = next();
                    (p as u16, (p >> 16) as u8)
                })
                .collect();
            Outcome {
                sig,
                eip,
                regs,
                eflags,
                mem,
            }
        })
        .collect();
    (fs, outcomes)
}

// ---- the emulator -----------------------------------------------------------------------------

fn run_vmkit(gen: &Gen, fs: u16, engine: Engine) -> Vec<Outcome> {
    let mut vm = X86Machine::new();
    vm.set_engine(engine);
    // Every case's instruction runs as translated code, not after a few interpreted runs.
    vm.set_jit_threshold(1);
    vm.map(CODE_BASE, gen.code_size(), page::R | page::W | page::X);
    vm.map(REGION, REGION_SIZE, page::R | page::W);
    vm.memory_mut()
        .poke(CODE_BASE as u64, &gen.code_image())
        .unwrap();
    let mut pre = gen.base.to_vec();
    gen.cases
        .iter()
        .map(|c| {
            pre.copy_from_slice(&gen.base);
            for &(offset, byte) in &c.patches {
                pre[offset as usize] = byte;
            }
            vm.memory_mut().poke(REGION as u64, &pre).unwrap();
            let mut cpu = Cpu {
                regs: c.regs,
                eip: c.start,
                eflags: c.eflags,
                ..Cpu::default()
            };
            cpu.selectors[Seg::Fs as usize] = fs;
            cpu.seg_base[Seg::Fs as usize] = REGION;
            *vm.cpu_mut() = cpu;
            let sig = match vm.run_for(1 << 20) {
                X86Exit::Fault(f) if f.kind == X86FaultKind::Privileged && f.eip == c.end() => 0,
                X86Exit::Fault(f) => f.kind.signal().number(),
                X86Exit::Exited(_) | X86Exit::StepLimit | X86Exit::Stopped | X86Exit::Until => {
                    NO_STOP
                }
            };
            let now = vm.memory().peek(REGION as u64, REGION_SIZE as u64).unwrap();
            let mem = now
                .iter()
                .zip(&pre)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (&a, _))| (i as u16, a))
                .collect();
            Outcome {
                sig,
                eip: vm.cpu().eip,
                regs: vm.cpu().regs,
                eflags: vm.cpu().eflags,
                mem,
            }
        })
        .collect()
}

// ---- comparison and reports -------------------------------------------------------------------

fn flag_names(flags: u32) -> String {
    let names = [
        (0x800, "OF"),
        (0x400, "DF"),
        (0x80, "SF"),
        (0x40, "ZF"),
        (0x10, "AF"),
        (0x4, "PF"),
        (0x1, "CF"),
        (0x4000, "NT"),
        (0x4_0000, "AC"),
        (0x20_0000, "ID"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("{flags:#x} [{}]", set.join(" "))
}

fn signal_name(sig: u32) -> String {
    match sig {
        0 => "none (reached the end)".into(),
        4 => "SIGILL".into(),
        5 => "SIGTRAP".into(),
        7 => "SIGBUS".into(),
        8 => "SIGFPE".into(),
        11 => "SIGSEGV".into(),
        NO_STOP => "none (vmkit exited or ran out of steps)".into(),
        s => format!("signal {s}"),
    }
}

/// The case's instructions in Intel syntax.
fn disassemble(c: &Case) -> String {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
    let mut decoder = Decoder::with_ip(32, &c.code, c.start as u64, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_hex_prefix("0x");
    formatter.options_mut().set_hex_suffix("");
    let mut parts = Vec::new();
    while decoder.can_decode() {
        let insn = decoder.decode();
        let mut text = String::new();
        formatter.format(&insn, &mut text);
        parts.push(text);
    }
    let bytes: Vec<String> = c.code.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}   ({})", parts.join(" ; "), bytes.join(" "))
}

/// What differs between the CPU (`cpu`) and vmkit (`vm`) outside what is undefined.
fn differences(c: &Case, cpu: &Outcome, vm: &Outcome, strict: bool) -> Vec<String> {
    let mut out = Vec::new();
    if cpu.sig != vm.sig {
        out.push(format!(
            "signal: cpu {} vmkit {}",
            signal_name(cpu.sig),
            signal_name(vm.sig)
        ));
    }
    if cpu.eip != vm.eip {
        out.push(format!("eip: cpu {:#010x} vmkit {:#010x}", cpu.eip, vm.eip));
    }
    for (i, name) in REG_NAMES.iter().enumerate() {
        let m = if strict {
            u32::MAX
        } else {
            !c.undefined_reg_bits[i]
        };
        if (cpu.regs[i] ^ vm.regs[i]) & m != 0 {
            out.push(format!(
                "{name}: cpu {:#010x} vmkit {:#010x}",
                cpu.regs[i], vm.regs[i]
            ));
        }
    }
    let m = FLAGS_COMPARED & !c.ignored_flags & if strict { u32::MAX } else { !c.undefined_flags };
    if (cpu.eflags ^ vm.eflags) & m != 0 {
        out.push(format!(
            "eflags: cpu {} vmkit {} (differ in {})",
            flag_names(cpu.eflags & m),
            flag_names(vm.eflags & m),
            flag_names((cpu.eflags ^ vm.eflags) & m)
        ));
    }
    let defined = |&&(offset, _): &&(u16, u8)| {
        strict
            || !c
                .undefined_mem
                .is_some_and(|(at, len)| (at..at + len).contains(&(offset as u32)))
    };
    let a: Vec<_> = cpu.mem.iter().filter(defined).collect();
    let b: Vec<_> = vm.mem.iter().filter(defined).collect();
    if a != b {
        let show = |m: &[&(u16, u8)]| {
            let mut s: Vec<String> = m
                .iter()
                .take(16)
                .map(|(o, v)| format!("{:#x}={v:02x}", REGION + *o as u32))
                .collect();
            if m.len() > 16 {
                s.push(format!("... ({} bytes)", m.len()));
            }
            if s.is_empty() {
                "unchanged".into()
            } else {
                s.join(" ")
            }
        };
        out.push(format!(
            "memory written: cpu {} | vmkit {}",
            show(&a),
            show(&b)
        ));
    }
    out
}

fn describe(c: &Case, diffs: &[String]) -> String {
    let mut s = format!("  {}\n    in: ", disassemble(c));
    for (i, name) in REG_NAMES.iter().enumerate() {
        let _ = write!(s, "{name}={:#010x} ", c.regs[i]);
    }
    let _ = write!(s, "eflags={}", flag_names(c.eflags));
    if !c.patches.is_empty() {
        let mut bytes: BTreeMap<u16, u8> = BTreeMap::new();
        for &(o, v) in &c.patches {
            bytes.insert(o, v);
        }
        let shown: Vec<String> = bytes
            .iter()
            .take(24)
            .map(|(o, v)| format!("{:#x}={v:02x}", REGION + *o as u32))
            .collect();
        let _ = write!(s, "\n    memory: {}", shown.join(" "));
    }
    for d in diffs {
        let _ = write!(s, "\n    {d}");
    }
    s.push('\n');
    s
}

#[test]
fn instructions_match_the_cpu() {
    let strict = host_is_reference();
    let t = Instant::now();
    let gen = Gen::all();
    let generated = t.elapsed();
    let exe = build_runner();
    let t = Instant::now();
    let (fs, native) = run_native(&exe, &gen);
    let native_time = t.elapsed();
    let _ = std::fs::remove_file(&exe);
    let t = Instant::now();
    // The default engine (the translator on x86-64 Linux hosts) is compared with the CPU;
    // the interpreter must then give the same outcome for every case.
    let emulated = run_vmkit(&gen, fs, Engine::default());
    let vmkit_time = t.elapsed();
    let interpreted = run_vmkit(&gen, fs, Engine::Interp);
    // Undefined flags and results are the host's under the translator and family 1Ah's in
    // the interpreter: they agree on them only on such a host.
    let engines_differ: Vec<String> = gen
        .cases
        .iter()
        .zip(emulated.iter().zip(&interpreted))
        .filter_map(|(c, (a, b))| {
            let d = differences(c, a, b, strict);
            (!d.is_empty()).then(|| format!("{:#x}: {}", c.start, d.join("; ")))
        })
        .take(4)
        .collect();
    assert!(
        engines_differ.is_empty(),
        "the interpreter and {:?} differ:\n{}",
        Engine::default(),
        engines_differ.join("\n")
    );

    let mut per_group: BTreeMap<&str, (usize, Vec<String>)> = BTreeMap::new();
    // Per group: cases, and how many of them fault on the CPU.
    let mut table: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((c, cpu), vm) in gen.cases.iter().zip(&native).zip(&emulated) {
        let row = table.entry(&c.group).or_default();
        row.0 += 1;
        row.1 += (cpu.sig != 0) as usize;
        let entry = per_group.entry(&c.group).or_default();
        entry.0 += 1;
        let diffs = differences(c, cpu, vm, strict);
        if !diffs.is_empty() {
            entry.1.push(describe(c, &diffs));
        }
    }
    let failed: usize = per_group.values().map(|(_, f)| f.len()).sum();
    let summary = format!(
        "{} cases in {} groups (undefined flags {}compared); generated in {:.1?}, native {:.1?}, vmkit {:.1?}",
        gen.cases.len(),
        per_group.len(),
        if strict { "" } else { "not " },
        generated,
        native_time,
        vmkit_time,
    );
    if failed == 0 {
        // Shown with --nocapture only.
        println!("{summary}");
        for (group, (cases, faults)) in &table {
            println!("  {group:<12} {cases:>6} cases, {faults:>5} fault on the CPU");
        }
        return;
    }
    let mut report = format!("{failed} of {summary} differ from the CPU:\n");
    for (group, (total, failures)) in &per_group {
        if failures.is_empty() {
            continue;
        }
        let _ = writeln!(
            report,
            "\n== {group}: {} of {total} cases differ",
            failures.len()
        );
        for f in failures.iter().take(4) {
            report.push_str(f);
        }
    }
    panic!("{report}");
}
