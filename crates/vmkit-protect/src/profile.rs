//! A VM instance's profile: every per-build secret that decides how virtual code is
//! encrypted, which register does what, and which opcode selects which handler.
//!
//! The protector draws a profile from `--seed`; the devirtualizer recovers one from a
//! protected image. Protecting the devirtualized program again with the recovered profile
//! reproduces the virtual code byte for byte.
//!
//! This module is the profile's whole vocabulary: the transforms and key chains
//! ([`Transform`], [`Chain3`], [`KeyChain`], [`KeyOp`]), the virtual instruction kinds
//! ([`VKind`]). The text form ([`Profile::to_text`], [`Profile::parse`]) is in
//! `profile_text.rs`; its error is [`crate::ProfileTextError`].

use crate::rng::Rng;
pub use crate::transform::{Chain3, KeyChain, KeyOp, Transform};
pub use crate::vop::VKind;
use vmkit_isa::{Reg, Size};

/// The native registers that hold the VM's own state while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmRegs {
    /// Virtual instruction pointer (VMP2's RSI).
    pub vip: Reg,
    /// Virtual stack pointer (VMP2's RBP).
    pub vsp: Reg,
    /// Rolling decryption key (VMP2's RBX).
    pub key: Reg,
}

impl VmRegs {
    /// Three different registers, none of them `sp`.
    pub fn check(&self) -> Result<(), String> {
        let r = self;
        if r.vip == r.vsp || r.vip == r.key || r.vsp == r.key {
            return Err("VIP, VSP and the key need three different registers".into());
        }
        if [r.vip, r.vsp, r.key].contains(&Reg::SP) {
            return Err("sp cannot be a VM register".into());
        }
        Ok(())
    }

    /// The general registers the VM leaves free for temporaries, in order.
    pub fn scratch(&self) -> Vec<Reg> {
        (0..16)
            .map(Reg::r)
            .filter(|r| ![self.vip, self.vsp, self.key].contains(r))
            .collect()
    }
}

/// What one opcode byte selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerSpec {
    /// The virtual instruction the handler performs.
    pub kind: VKind,
    /// How the handler decrypts its immediate (kinds with an immediate only).
    pub imm: Option<KeyChain>,
}

impl HandlerSpec {
    /// An immediate chain exactly where the kind has an immediate, at its width, with
    /// transforms that fit it.
    pub fn check(&self) -> Result<(), String> {
        match (self.imm, self.kind.imm_size()) {
            (None, None) => Ok(()),
            (Some(c), Some(size)) if c.size == size => c.check(),
            (Some(c), Some(size)) => Err(format!(
                "{} reads a {}-bit immediate, the chain is for {} bits",
                self.kind,
                size.bits(),
                c.size.bits()
            )),
            (None, Some(_)) => Err(format!("{} has an immediate: it needs a chain", self.kind)),
            (Some(_), None) => Err(format!("{} has no immediate: no chain", self.kind)),
        }
    }
}

/// One VM instance's profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmProfile {
    /// Register assignment.
    pub regs: VmRegs,
    /// Whether VIP moves forward (up) through virtual code; backward otherwise.
    pub forward: bool,
    /// vm_entry's decryption of the pushed 32-bit offset.
    pub entry: Chain3,
    /// calc_jmp's decryption of opcode bytes (8 bits).
    pub dispatch: KeyChain,
    /// The decryption of handler-table entries (32 bits).
    pub table: Transform,
    /// The handler behind each opcode byte (256 entries).
    pub handlers: Vec<HandlerSpec>,
}

impl VmProfile {
    /// A random profile: each kind gets at least one opcode, the remaining opcodes are
    /// aliases (weighted towards the kinds virtual code uses most), all shuffled.
    pub fn random(rng: &mut Rng) -> VmProfile {
        let mut regs: Vec<u8> = (0..16).collect();
        rng.shuffle(&mut regs);
        let regs = VmRegs {
            vip: Reg::r(regs[0]),
            vsp: Reg::r(regs[1]),
            key: Reg::r(regs[2]),
        };
        let all = VKind::all();
        let hot = [
            VKind::LoadV(Size::Q),
            VKind::StoreV(Size::Q),
            VKind::PushI(Size::B),
            VKind::PushI(Size::D),
            VKind::Add(Size::Q),
            VKind::Nand(Size::Q),
            VKind::Read(Size::Q),
            VKind::Write(Size::Q),
            VKind::Jmp,
        ];
        let mut kinds = all.clone();
        while kinds.len() < 256 {
            let k = if rng.chance(1, 2) {
                *rng.pick(&hot)
            } else {
                *rng.pick(&all)
            };
            kinds.push(k);
        }
        rng.shuffle(&mut kinds);
        let handlers = kinds
            .into_iter()
            .map(|kind| HandlerSpec {
                kind,
                imm: kind.imm_size().map(|s| KeyChain::random(rng, s)),
            })
            .collect();
        VmProfile {
            regs,
            forward: rng.chance(1, 2),
            entry: Chain3::random(rng, Size::D),
            dispatch: KeyChain::random(rng, Size::B),
            table: Transform::random(rng, Size::D),
            handlers,
        }
    }

    /// Checks what the generator relies on: 256 handlers, three distinct VM registers
    /// among r0..r15, and an immediate chain of the right width exactly where a kind has
    /// an immediate.
    pub fn validate(&self) -> Result<(), String> {
        if self.handlers.len() != 256 {
            return Err(format!("{} handlers instead of 256", self.handlers.len()));
        }
        self.regs.check()?;
        self.entry
            .check(Size::D)
            .map_err(|e| format!("entry: {e}"))?;
        if self.dispatch.size != Size::B {
            return Err("dispatch: the opcode chain works on bytes (`.b`)".into());
        }
        self.dispatch
            .check()
            .map_err(|e| format!("dispatch: {e}"))?;
        self.table
            .check(Size::D)
            .map_err(|e| format!("table: {e}"))?;
        for (b, h) in self.handlers.iter().enumerate() {
            h.check().map_err(|e| format!("opcode {b:#04x}: {e}"))?;
        }
        Ok(())
    }

    /// The opcodes whose handlers perform `kind`, in increasing order.
    pub fn opcodes_of(&self, kind: VKind) -> Vec<u8> {
        (0..=255u8)
            .filter(|&b| {
                self.handlers
                    .get(b as usize)
                    .is_some_and(|h| h.kind == kind)
            })
            .collect()
    }

    /// The opcode used for `kind` at virtual address `addr`: one of its aliases, chosen by
    /// a hash of the address, so that the same kind encrypts differently along the code
    /// while staying a function of what the image shows.
    pub fn opcode_at(&self, kind: VKind, addr: u64) -> Option<u8> {
        let ops = self.opcodes_of(kind);
        if ops.is_empty() {
            return None;
        }
        let h = (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        Some(ops[h % ops.len()])
    }
}

/// A whole build's profile: the VM instances and which function each protects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The VM instances.
    pub vms: Vec<VmProfile>,
    /// Protected functions: start address and the VM that runs it.
    pub functions: Vec<(u64, usize)>,
    /// Address of the first segment the protector adds.
    pub base: u64,
}
