//! `cpuid` and `rdtsc`: what the guest CPU says it is.
//!
//! The guest is an i686 with an x87 FPU, `cmov`, `cmpxchg8b` and `tsc`, and nothing it does
//! not implement: no MMX, SSE or FXSR. Static glibc reads leaf 0 (vendor,
//! max leaf), leaf 1 (features) and 0x80000000; with max leaf 1 it treats cache sizes as
//! unknown, which is harmless.

use super::{Cpu, EAX, EBX, ECX, EDX};

/// Leaf 1 EDX feature bits advertised: FPU (0), TSC (4), CX8 (8), CMOV (15).
pub const FEATURES_EDX: u32 = 1 | (1 << 4) | (1 << 8) | (1 << 15);

/// Executes `cpuid` for the leaf in eax (sub-leaf in ecx).
pub fn cpuid(cpu: &mut Cpu) {
    let (a, b, c, d) = match cpu.regs[EAX] {
        // Max basic leaf 1, vendor "GenuineIntel" (ebx, edx, ecx).
        0 => (1, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
        // Family 6, model 5, stepping 2: a Pentium II class i686.
        1 => (0x0000_0652, 0, 0, FEATURES_EDX),
        0x8000_0000 => (0x8000_0000, 0, 0, 0),
        _ => (0, 0, 0, 0),
    };
    cpu.regs[EAX] = a;
    cpu.regs[EBX] = b;
    cpu.regs[ECX] = c;
    cpu.regs[EDX] = d;
}

/// A time-stamp counter that only moves forward: each read advances it by 1000, so guests
/// that time loops see progress without the host's real timing leaking into the sandbox.
///
/// The count belongs to the guest CPU, not to the process: a program reads the same values
/// in every run, whatever other machines in the same process (other tests, threads, fuzz
/// cases) have read, so a run can be replayed exactly.
pub fn virtual_tsc(cpu: &mut Cpu) -> u64 {
    cpu.tsc = cpu.tsc.wrapping_add(1000);
    cpu.tsc
}
