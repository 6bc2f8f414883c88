//! The emitter: host x86-64 code for one translation, built in a buffer that will live at
//! a known host address (so relative jumps and `rip`-relative operands are final).
//! Instructions are encoded with iced-x86's encoder; the few jump forms translated code
//! patches or measures (`jmp rel32`, `jcc rel32`, `jrcxz`, `jmp [rip + slot]`) are
//! written directly.

use iced_x86::{Encoder, IcedError, Instruction};

/// Why an instruction was not translated: it is not on the translator's list, or it does
/// not fit the host encoding (e.g. `ah` next to a register that needs a REX prefix). The
/// instruction then runs in the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reject;

impl From<IcedError> for Reject {
    fn from(_: IcedError) -> Reject {
        Reject
    }
}

/// Something [`Asm::i`] can encode: an instruction, or the result of building one.
pub(super) trait IntoInsn {
    fn into_insn(self) -> Result<Instruction, Reject>;
}

impl IntoInsn for Instruction {
    fn into_insn(self) -> Result<Instruction, Reject> {
        Ok(self)
    }
}

impl IntoInsn for Result<Instruction, IcedError> {
    fn into_insn(self) -> Result<Instruction, Reject> {
        Ok(self?)
    }
}

/// A buffer of host code whose first byte will be at host address `origin`.
pub(super) struct Asm {
    pub buf: Vec<u8>,
    origin: usize,
    enc: Encoder,
}

impl Asm {
    /// An empty buffer for code that will start at `origin`.
    pub(super) fn new(origin: usize) -> Asm {
        Asm {
            buf: Vec::with_capacity(1024),
            origin,
            enc: Encoder::new(64),
        }
    }

    /// Starts again, for code at `origin`.
    pub(super) fn reset(&mut self, origin: usize) {
        self.buf.clear();
        self.origin = origin;
    }

    /// Host address of the first byte.
    pub(super) fn origin(&self) -> usize {
        self.origin
    }

    /// Host address of the next byte.
    pub(super) fn here(&self) -> usize {
        self.origin + self.buf.len()
    }

    /// Encodes one instruction.
    pub(super) fn i(&mut self, insn: impl IntoInsn) -> Result<(), Reject> {
        let insn = insn.into_insn()?;
        let done = self.enc.encode(&insn, self.here() as u64);
        // A failed encoding may leave part of the instruction in the encoder's buffer.
        let bytes = self.enc.take_buffer();
        if let Err(e) = &done {
            if std::env::var_os("VMKIT_JIT_DEBUG").is_some() {
                eprintln!("encode {:?}: {e}", insn.code());
            }
        }
        done?;
        self.buf.extend_from_slice(&bytes);
        Ok(())
    }

    /// Raw bytes.
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn rel32(&self, at: usize, target: usize) -> [u8; 4] {
        // `at` is the host address just past the rel32 field. Code and its targets share
        // one area far smaller than 2 GiB.
        (target.wrapping_sub(at) as i64 as i32).to_le_bytes()
    }

    /// `jmp rel32` to `target`.
    pub(super) fn jmp(&mut self, target: usize) {
        self.buf.push(0xe9);
        let r = self.rel32(self.here() + 4, target);
        self.buf.extend_from_slice(&r);
    }

    /// `jmp rel32` whose target is patched later with [`Asm::patch`]; returns the position
    /// of the rel32 field.
    pub(super) fn jmp_later(&mut self) -> usize {
        self.buf.push(0xe9);
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.len() - 4
    }

    /// `jcc rel32` (condition `cc`, 0..16 in the CPU's encoding order) whose target is
    /// patched later; returns the position of the rel32 field.
    pub(super) fn jcc_later(&mut self, cc: u8) -> usize {
        self.buf
            .extend_from_slice(&[0x0f, 0x80 | (cc & 15), 0, 0, 0, 0]);
        self.buf.len() - 4
    }

    /// Points the rel32 field at `pos` to `target`.
    pub(super) fn patch(&mut self, pos: usize, target: usize) {
        let r = self.rel32(self.origin + pos + 4, target);
        self.buf[pos..pos + 4].copy_from_slice(&r);
    }

    /// `jrcxz` over the next 5 bytes (a `jmp rel32`): "if rcx is zero, skip the jump".
    pub(super) fn jrcxz_skip5(&mut self) {
        self.buf.extend_from_slice(&[0xe3, 0x05]);
    }

    /// `jrcxz` to `target`, which must be within a signed byte of the next instruction.
    pub(super) fn jrcxz_to(&mut self, target: usize) -> Result<(), Reject> {
        let disp = target as i64 - (self.here() + 2) as i64;
        let d = i8::try_from(disp).map_err(|_| Reject)?;
        self.buf.extend_from_slice(&[0xe3, d as u8]);
        Ok(())
    }

    /// `jmp [rip + disp32]` through the 8-byte slot at host address `slot`.
    pub(super) fn jmp_slot(&mut self, slot: usize) {
        self.buf.extend_from_slice(&[0xff, 0x25]);
        let r = self.rel32(self.here() + 4, slot);
        self.buf.extend_from_slice(&r);
    }
}
