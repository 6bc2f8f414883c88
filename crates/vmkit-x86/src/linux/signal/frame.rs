//! The i386 signal frames, laid out as `arch/x86/kernel/signal_32.c` and
//! `arch/x86/include/asm/sigframe.h` lay them out, and `sigreturn` / `rt_sigreturn`, which
//! read them back.
//!
//! Where a frame goes (`get_sigframe`): from the interrupted stack pointer, or the top of
//! the alternate stack for an `SA_ONSTACK` handler not already on it; the x87 state
//! (`_fpstate_32`, the `fnsave` image: vmkit's CPU has no FXSR, so the kernel's frame has no
//! FXSR tail either) 64-byte aligned below that, and the frame below it, aligned so that
//! `(sp + 4) % 16 == 0` at the handler's entry, as for any function called with a return
//! address pushed.
//!
//! The handler returns into its `pretcode`: `sa_restorer` with `SA_RESTORER` (what the C
//! library always sets); otherwise the native kernel uses the vDSO's `__kernel_sigreturn`.
//! vmkit has no vDSO, and the frame's own `retcode` would need an executable stack, so it
//! maps one read-only executable page holding the same two trampolines (see
//! [`super::action`]) and points `pretcode` there. `retcode` is still written, as the
//! kernel writes it, for the debuggers and unwinders that look for it.

use super::{Action, AltStack, Linux, SigInfo, SA_ONSTACK, SA_RESTORER, SA_SIGINFO, SIGSEGV};
use super::{SI_KERNEL, SS_AUTODISARM, UNBLOCKABLE};
use crate::cpu::flags::{AF, CF, DF, OF, PF, SF, TF, ZF};
use crate::cpu::x87::F80;
use crate::cpu::{Cpu, Seg, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP};
use crate::linux::errno::Errno;
use crate::linux::{guest, Completion};
use vmkit_mem::Memory;

/// Offsets in `struct sigcontext_32` (88 bytes).
pub(super) mod sc {
    pub const GS: u32 = 0;
    pub const FS: u32 = 4;
    pub const ES: u32 = 8;
    pub const DS: u32 = 12;
    pub const EDI: u32 = 16;
    pub const ESI: u32 = 20;
    pub const EBP: u32 = 24;
    pub const ESP: u32 = 28;
    pub const EBX: u32 = 32;
    pub const EDX: u32 = 36;
    pub const ECX: u32 = 40;
    pub const EAX: u32 = 44;
    pub const TRAPNO: u32 = 48;
    pub const ERR: u32 = 52;
    pub const EIP: u32 = 56;
    pub const CS: u32 = 60;
    pub const EFLAGS: u32 = 64;
    pub const ESP_AT_SIGNAL: u32 = 68;
    pub const SS: u32 = 72;
    pub const FPSTATE: u32 = 76;
    pub const OLDMASK: u32 = 80;
    pub const CR2: u32 = 84;
    pub const SIZE: u32 = 88;
}

/// Offsets in `struct sigframe_ia32` (a handler without `SA_SIGINFO`).
pub(super) mod sigframe {
    pub const PRETCODE: u32 = 0;
    pub const SIG: u32 = 4;
    pub const SC: u32 = 8;
    /// `struct _fpstate_32 fpstate_unused` (624 bytes), kept so `extramask` stays where old
    /// programs look; the kernel does not write it.
    pub const FPSTATE_UNUSED: u32 = 96;
    pub const EXTRAMASK: u32 = 720;
    pub const RETCODE: u32 = 724;
    pub const SIZE: u32 = 732;
}

/// Offsets in `struct rt_sigframe_ia32` (a handler with `SA_SIGINFO`).
pub(super) mod rt_sigframe {
    pub const PRETCODE: u32 = 0;
    pub const SIG: u32 = 4;
    pub const PINFO: u32 = 8;
    pub const PUC: u32 = 12;
    /// `siginfo_t`, 128 bytes.
    pub const INFO: u32 = 16;
    /// `struct ucontext_ia32`: flags, link, `uc_stack` (12), `uc_mcontext` (88),
    /// `uc_sigmask` (8).
    pub const UC: u32 = 144;
    pub const UC_FLAGS: u32 = UC;
    pub const UC_LINK: u32 = UC + 4;
    pub const UC_STACK: u32 = UC + 8;
    pub const UC_MCONTEXT: u32 = UC + 20;
    pub const UC_SIGMASK: u32 = UC + 108;
    pub const RETCODE: u32 = 260;
    pub const SIZE: u32 = 268;
}

/// The legacy `fnsave` image of `struct _fpstate_32` a CPU without FXSR gets: the 28-byte
/// environment, the eight registers in stack order, `status` (the status word) and `magic`
/// (0xffff: "regular FPU data only").
pub(super) const FPSTATE_SIZE: u32 = 112;

/// `popl %eax; movl $__NR_sigreturn, %eax; int $0x80`.
pub(super) const SIGRETURN_CODE: [u8; 8] = [0x58, 0xB8, 119, 0, 0, 0, 0xCD, 0x80];
/// `movl $__NR_rt_sigreturn, %eax; int $0x80`, padded.
pub(super) const RT_SIGRETURN_CODE: [u8; 8] = [0xB8, 173, 0, 0, 0, 0xCD, 0x80, 0];

/// The user selectors (`__USER_CS`, `__USER_DS`).
const USER_CS: u16 = 0x23;
const USER_DS: u16 = 0x2b;
/// Resume flag, which sigreturn takes from the frame on a real CPU; vmkit's CPU has none.
const AC: u32 = 1 << 18;
/// The flags `sigreturn` takes from the frame (`FIX_EFLAGS`, without RF).
const FIX_EFLAGS: u32 = AC | OF | DF | TF | SF | ZF | AF | PF | CF;

/// What the trap that raised a signal leaves in `sigcontext` (`trapno`, `err`, `cr2`); all
/// zero for a signal sent by a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Trap {
    /// The exception vector.
    pub trapno: u32,
    /// The exception's error code.
    pub err: u32,
    /// The faulting address of a page fault.
    pub cr2: u32,
}

/// One handler to start: the signal, its disposition and `siginfo`, the mask its return
/// restores, and what the trap that raised it leaves in `sigcontext`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Delivery {
    /// The signal.
    pub sig: u32,
    /// Its disposition (a handler).
    pub action: Action,
    /// Its `siginfo`.
    pub info: SigInfo,
    /// The mask to restore when the handler returns.
    pub old_mask: u64,
    /// `trapno`, `err`, `cr2`.
    pub trap: Trap,
}

/// Where the frame of a handler with `action` goes, from stack pointer `sp` with
/// alternate stack `alt`: (frame, fpstate), or `None` if it would overflow the alternate
/// stack (the kernel then gives a bogus address, and the write fails: SIGSEGV).
fn place(sp: u32, alt: AltStack, action: &Action, size: u32) -> Option<(u32, u32)> {
    let nested = alt.on(sp);
    let mut top = sp;
    let mut entering = false;
    if action.flags & SA_ONSTACK != 0 && alt.state(sp) == 0 {
        top = alt.sp.wrapping_add(alt.size);
        entering = true;
    }
    let fpstate = top.wrapping_sub(FPSTATE_SIZE) & !63;
    let frame = (fpstate.wrapping_sub(size).wrapping_add(4) & !15).wrapping_sub(4);
    if (nested || entering) && !alt.holds(frame) {
        return None;
    }
    Some((frame, fpstate))
}

/// The `fnsave` image of the x87 state (see [`FPSTATE_SIZE`]).
fn fpstate_image(cpu: &Cpu) -> [u8; FPSTATE_SIZE as usize] {
    let fpu = &cpu.fpu;
    let mut b = [0u8; FPSTATE_SIZE as usize];
    b[..28].copy_from_slice(&fpu.env32(fpu.fop));
    for i in 0..8 {
        b[28 + 10 * i..38 + 10 * i].copy_from_slice(&fpu.st(i).to_bytes());
    }
    b[108..110].copy_from_slice(&fpu.status().to_le_bytes());
    b[110..112].copy_from_slice(&0xFFFFu16.to_le_bytes());
    b
}

/// The `sigcontext` of the interrupted state in `cpu`.
fn sigcontext(cpu: &Cpu, fpstate: u32, oldmask: u32, trap: Trap) -> [u8; sc::SIZE as usize] {
    let mut b = [0u8; sc::SIZE as usize];
    let mut put =
        |at: u32, v: u32| b[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
    let sel = |s: Seg| cpu.selectors[s as usize] as u32;
    put(sc::GS, sel(Seg::Gs));
    put(sc::FS, sel(Seg::Fs));
    put(sc::ES, sel(Seg::Es));
    put(sc::DS, sel(Seg::Ds));
    put(sc::EDI, cpu.regs[EDI]);
    put(sc::ESI, cpu.regs[ESI]);
    put(sc::EBP, cpu.regs[EBP]);
    put(sc::ESP, cpu.regs[ESP]);
    put(sc::EBX, cpu.regs[EBX]);
    put(sc::EDX, cpu.regs[EDX]);
    put(sc::ECX, cpu.regs[ECX]);
    put(sc::EAX, cpu.regs[EAX]);
    put(sc::TRAPNO, trap.trapno);
    put(sc::ERR, trap.err);
    put(sc::EIP, cpu.eip);
    put(sc::CS, sel(Seg::Cs));
    put(sc::EFLAGS, cpu.eflags);
    put(sc::ESP_AT_SIGNAL, cpu.regs[ESP]);
    put(sc::SS, sel(Seg::Ss));
    put(sc::FPSTATE, fpstate);
    put(sc::OLDMASK, oldmask);
    put(sc::CR2, trap.cr2);
    b
}

impl Linux {
    /// Builds the frame of a handler (`d`) on the guest's stack and points the registers at
    /// the handler, as `setup_frame` / `setup_rt_frame` and `handle_signal` do. `Err`: the
    /// frame could not be written (the caller ends the process with SIGSEGV, as the
    /// kernel's `force_sigsegv`).
    pub(super) fn setup_frame(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut Memory,
        d: &Delivery,
    ) -> Result<(), Errno> {
        let Delivery {
            sig,
            action,
            info,
            old_mask,
            trap,
        } = *d;
        let rt = action.flags & SA_SIGINFO != 0;
        let size = if rt {
            rt_sigframe::SIZE
        } else {
            sigframe::SIZE
        };
        let sp = cpu.regs[ESP];
        let alt = self.thread().signals.altstack;
        let (frame, fp) = place(sp, alt, &action, size).ok_or(Errno::EFAULT)?;
        guest::store(mem, fp, &fpstate_image(cpu))?;
        let context = sigcontext(cpu, fp, old_mask as u32, trap);
        let at = |off: u32| frame.wrapping_add(off);
        let restorer = if action.flags & SA_RESTORER != 0 {
            action.restorer
        } else {
            match (self.signals.trampoline, rt) {
                (Some(page), false) => page,
                (Some(page), true) => page + 8,
                (None, false) => at(sigframe::RETCODE),
                (None, true) => at(rt_sigframe::RETCODE),
            }
        };
        if rt {
            let mut b = vec![0u8; rt_sigframe::SIZE as usize];
            let mut put = |off: u32, data: &[u8]| {
                b[off as usize..off as usize + data.len()].copy_from_slice(data)
            };
            put(rt_sigframe::PRETCODE, &restorer.to_le_bytes());
            put(rt_sigframe::SIG, &sig.to_le_bytes());
            put(rt_sigframe::PINFO, &at(rt_sigframe::INFO).to_le_bytes());
            put(rt_sigframe::PUC, &at(rt_sigframe::UC).to_le_bytes());
            put(rt_sigframe::INFO, &info.to_bytes(sig));
            put(rt_sigframe::UC_FLAGS, &0u32.to_le_bytes());
            put(rt_sigframe::UC_LINK, &0u32.to_le_bytes());
            put(rt_sigframe::UC_STACK, &alt.saved());
            put(rt_sigframe::UC_MCONTEXT, &context);
            put(rt_sigframe::UC_SIGMASK, &old_mask.to_le_bytes());
            put(rt_sigframe::RETCODE, &RT_SIGRETURN_CODE);
            guest::store(mem, frame, &b)?;
            if alt.flags & SS_AUTODISARM != 0 {
                self.thread_mut().signals.altstack = AltStack::default();
            }
            cpu.regs[EDX] = at(rt_sigframe::INFO);
            cpu.regs[ECX] = at(rt_sigframe::UC);
        } else {
            // The kernel leaves `fpstate_unused` as it was: two writes around it.
            let mut head = [0u8; sigframe::FPSTATE_UNUSED as usize];
            let mut put = |off: u32, data: &[u8]| {
                head[off as usize..off as usize + data.len()].copy_from_slice(data)
            };
            put(sigframe::PRETCODE, &restorer.to_le_bytes());
            put(sigframe::SIG, &sig.to_le_bytes());
            put(sigframe::SC, &context);
            guest::store(mem, frame, &head)?;
            let mut tail = Vec::with_capacity(12);
            tail.extend_from_slice(&((old_mask >> 32) as u32).to_le_bytes());
            tail.extend_from_slice(&SIGRETURN_CODE);
            guest::store(mem, at(sigframe::EXTRAMASK), &tail)?;
            cpu.regs[EDX] = 0;
            cpu.regs[ECX] = 0;
        }
        cpu.regs[ESP] = frame;
        cpu.eip = action.handler;
        cpu.regs[EAX] = sig;
        for seg in [Seg::Ds, Seg::Es, Seg::Ss] {
            cpu.load_segment(seg, USER_DS);
        }
        cpu.load_segment(Seg::Cs, USER_CS);
        cpu.eflags &= !(DF | TF);
        // The handler starts with a fresh x87 state (`fpu__clear_user_states`).
        cpu.fpu.init();
        Ok(())
    }

    /// `sigreturn`: back from a handler without `SA_SIGINFO`, whose `pretcode` popped the
    /// frame's first two words (the frame is 8 bytes below esp).
    pub(in crate::linux) fn sigreturn(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> Completion {
        let frame = cpu.regs[ESP].wrapping_sub(8);
        let restored = (|| {
            let low = guest::u32_at(mem, frame.wrapping_add(sigframe::SC + sc::OLDMASK))?;
            let high = guest::u32_at(mem, frame.wrapping_add(sigframe::EXTRAMASK))?;
            self.thread_mut().signals.mask = (low as u64 | (high as u64) << 32) & !UNBLOCKABLE;
            restore_sigcontext(cpu, mem, frame.wrapping_add(sigframe::SC))
        })();
        self.after_sigreturn(restored)
    }

    /// `rt_sigreturn`: back from a handler with `SA_SIGINFO`, whose `pretcode` popped the
    /// frame's first word (the frame is 4 bytes below esp): the mask, the registers and
    /// the alternate stack of its `ucontext`.
    pub(in crate::linux) fn rt_sigreturn(&mut self, cpu: &mut Cpu, mem: &mut Memory) -> Completion {
        let frame = cpu.regs[ESP].wrapping_sub(4);
        let restored = (|| {
            let mask = guest::u64_at(mem, frame.wrapping_add(rt_sigframe::UC_SIGMASK))?;
            self.thread_mut().signals.mask = mask & !UNBLOCKABLE;
            let stack = guest::bytes(mem, frame.wrapping_add(rt_sigframe::UC_STACK), 12)?.to_vec();
            let eax = restore_sigcontext(cpu, mem, frame.wrapping_add(rt_sigframe::UC_MCONTEXT))?;
            // As `restore_altstack`: a stack that cannot be set now is left as it is.
            let _ = self.set_altstack(&stack, cpu.regs[ESP]);
            Ok(eax)
        })();
        self.after_sigreturn(restored)
    }

    /// A frame read back gives the interrupted eax; one that cannot be read is a SIGSEGV
    /// for the process (`signal_fault`), which the next delivery point delivers.
    fn after_sigreturn(&mut self, restored: Result<u32, Errno>) -> Completion {
        match restored {
            Ok(eax) => Completion::Returned(Ok(eax)),
            Err(_) => {
                self.force_signal(SIGSEGV, SigInfo::fault(SI_KERNEL, 0));
                Completion::Returned(Ok(0))
            }
        }
    }
}

/// Loads the registers, flags, selectors and x87 state of the `sigcontext` at `at`, as
/// `restore_sigcontext` does; returns the eax it holds.
fn restore_sigcontext(cpu: &mut Cpu, mem: &Memory, at: u32) -> Result<u32, Errno> {
    let b = guest::bytes(mem, at, sc::SIZE)?.to_vec();
    let word = |off: u32| {
        let k = off as usize;
        u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]])
    };
    let fpstate = word(sc::FPSTATE);
    let image = if fpstate != 0 {
        Some(guest::bytes(mem, fpstate, FPSTATE_SIZE)?.to_vec())
    } else {
        None
    };
    for (seg, off) in [
        (Seg::Gs, sc::GS),
        (Seg::Fs, sc::FS),
        (Seg::Es, sc::ES),
        (Seg::Ds, sc::DS),
    ] {
        cpu.load_segment(seg, word(off) as u16);
    }
    for (reg, off) in [
        (EDI, sc::EDI),
        (ESI, sc::ESI),
        (EBP, sc::EBP),
        (ESP, sc::ESP),
        (EBX, sc::EBX),
        (EDX, sc::EDX),
        (ECX, sc::ECX),
        (EAX, sc::EAX),
    ] {
        cpu.regs[reg] = word(off);
    }
    cpu.eip = word(sc::EIP);
    // CS and SS are forced to user privilege.
    cpu.load_segment(Seg::Cs, word(sc::CS) as u16 | 3);
    cpu.load_segment(Seg::Ss, word(sc::SS) as u16 | 3);
    cpu.eflags = (cpu.eflags & !FIX_EFLAGS) | (word(sc::EFLAGS) & FIX_EFLAGS);
    match image {
        None => cpu.fpu.init(),
        Some(image) => {
            cpu.fpu.load_env(&image[..28]);
            for i in 0..8 {
                let mut r = [0u8; 10];
                r.copy_from_slice(&image[28 + 10 * i..38 + 10 * i]);
                let p = cpu.fpu.phys(i);
                cpu.fpu.regs[p] = F80::from_bytes(r);
            }
        }
    }
    Ok(word(sc::EAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets against the kernel's structures (`struct sigcontext_32`,
    /// `struct sigframe_ia32`, `struct rt_sigframe_ia32`, `struct ucontext_ia32`), as
    /// `offsetof` gives them for i386.
    #[test]
    fn the_layouts_are_the_kernels() {
        assert_eq!(
            (sc::EIP, sc::EFLAGS, sc::FPSTATE, sc::SIZE),
            (56, 64, 76, 88)
        );
        // sigframe: pretcode, sig, sc (88), fpstate_unused (624), extramask, retcode[8].
        assert_eq!(sigframe::FPSTATE_UNUSED, sigframe::SC + sc::SIZE);
        assert_eq!(sigframe::EXTRAMASK, sigframe::FPSTATE_UNUSED + 624);
        assert_eq!(sigframe::SIZE, sigframe::RETCODE + 8);
        // The sigcontext's eip as the kernel's frame has it: 8 + 56.
        assert_eq!(sigframe::SC + sc::EIP, 64);
        // rt_sigframe: 16 bytes of header, siginfo (128), ucontext (4+4+12+88+8), retcode.
        assert_eq!(rt_sigframe::UC, rt_sigframe::INFO + 128);
        assert_eq!(rt_sigframe::UC_MCONTEXT + sc::EIP, 220);
        assert_eq!(rt_sigframe::UC_SIGMASK, rt_sigframe::UC_MCONTEXT + sc::SIZE);
        assert_eq!(rt_sigframe::RETCODE, rt_sigframe::UC_SIGMASK + 8);
        assert_eq!(rt_sigframe::SIZE, 268);
    }

    #[test]
    fn frames_are_placed_as_get_sigframe_places_them() {
        let action = Action::default();
        let (frame, fp) = place(0xBFFF_F123, AltStack::default(), &action, sigframe::SIZE).unwrap();
        assert_eq!(fp, (0xBFFF_F123 - 112) & !63);
        assert_eq!((frame + 4) % 16, 0);
        assert!(frame + sigframe::SIZE <= fp && fp - (frame + sigframe::SIZE) < 16);
        // On the alternate stack with SA_ONSTACK; a frame that does not fit is refused.
        let alt = AltStack {
            sp: 0x1000_0000,
            size: 0x4000,
            flags: 0,
        };
        let onstack = Action {
            flags: SA_ONSTACK,
            ..Action::default()
        };
        let (frame, fp) = place(0xBFFF_F000, alt, &onstack, rt_sigframe::SIZE).unwrap();
        assert_eq!(fp, 0x1000_4000 - 128);
        assert!(alt.holds(frame));
        let tiny = AltStack { size: 256, ..alt };
        assert_eq!(place(0xBFFF_F000, tiny, &onstack, rt_sigframe::SIZE), None);
        // Already on it: the frame goes below the interrupted stack pointer.
        let (frame, _) = place(0x1000_2000, alt, &onstack, rt_sigframe::SIZE).unwrap();
        assert!(frame < 0x1000_2000 - rt_sigframe::SIZE);
    }

    #[test]
    fn a_context_round_trips() {
        let mut mem = Memory::new(1 << 20);
        let mut cpu = Cpu {
            regs: [1, 2, 3, 4, 0x8000, 6, 7, 8],
            eip: 0x1234,
            eflags: 0x202 | CF | TF,
            ..Cpu::default()
        };
        cpu.fpu.push(F80::ONE);
        let image = fpstate_image(&cpu);
        mem.poke(0x4000, &image).unwrap();
        let ctx = sigcontext(&cpu, 0x4000, 0, Trap::default());
        mem.poke(0x5000, &ctx).unwrap();
        let mut back = Cpu::default();
        back.fpu.init();
        assert_eq!(restore_sigcontext(&mut back, &mem, 0x5000), Ok(1));
        assert_eq!(back.regs, cpu.regs);
        assert_eq!((back.eip, back.eflags), (cpu.eip, cpu.eflags));
        assert_eq!(back.fpu.st(0), F80::ONE);
        assert_eq!(back.fpu.status(), cpu.fpu.status());
    }
}
