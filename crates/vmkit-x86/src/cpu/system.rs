//! System instructions a user-mode program meets: `cpuid` (answered by [`super::cpuid`]),
//! `rdtsc` from the virtual time-stamp counter, and the privileged instructions (`hlt`,
//! `cli`/`sti`, port I/O) that fault in user mode. `int 0x80` is decided in
//! [`super::exec`], where it becomes [`super::AfterInsn::Syscall`].

use super::cpuid::virtual_tsc;
use super::{Cpu, EAX, EDX};
use iced_x86::Mnemonic;

/// `rdtsc`: edx:eax from the virtual time-stamp counter.
pub(super) fn rdtsc(cpu: &mut Cpu) {
    // A monotonic count that advances with guest time; the host's real TSC would leak host
    // timing into the sandbox for nothing.
    let t = virtual_tsc(cpu);
    cpu.regs[EAX] = t as u32;
    cpu.regs[EDX] = (t >> 32) as u32;
}

/// Whether `m` is a privileged instruction: a general protection fault in user mode.
pub(super) fn is_privileged(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Hlt
            | M::Cli
            | M::Sti
            | M::In
            | M::Out
            | M::Insb
            | M::Insw
            | M::Insd
            | M::Outsb
            | M::Outsw
            | M::Outsd
    )
}
