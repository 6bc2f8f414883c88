//! Virtual code in memory: the encryption of virtual instructions into bytes and the
//! decryption back, as calc_jmp and the handlers perform it.
//!
//! A block is entered with VIP at its address and the rolling key equal to that address.
//! Forward VMs read upwards from the address; backward VMs read downwards, so a backward
//! block's bytes lie below its address. Each opcode byte is decrypted with the dispatch
//! chain, each immediate with the chain of the handler its opcode selects; both update
//! the key.

use crate::profile::VmProfile;
use crate::vop::{VKind, VOp};

/// Bytes a block of these kinds occupies.
pub fn block_len<'a>(kinds: impl IntoIterator<Item = &'a VKind>) -> u64 {
    kinds.into_iter().map(|k| 1 + k.imm_bytes() as u64).sum()
}

/// Encrypts a block entered at `addr`: returns the lowest address it occupies and its
/// bytes. `None` if the profile has no handler for a kind.
pub fn encode_block(p: &VmProfile, addr: u64, ops: &[VOp]) -> Option<(u64, Vec<u8>)> {
    let len = block_len(ops.iter().map(|o| &o.kind));
    let lo = if p.forward { addr } else { addr - len };
    let mut bytes = vec![0u8; len as usize];
    let mut put = |at: u64, v: &[u8]| {
        let off = (at - lo) as usize;
        bytes[off..off + v.len()].copy_from_slice(v);
    };
    let mut vip = addr;
    let mut key = addr;
    for op in ops {
        let at = if p.forward { vip } else { vip - 1 };
        let opcode = p.opcode_at(op.kind, at)?;
        let (e, k) = p.dispatch.encrypt(opcode as u64, key);
        key = k;
        put(at, &[e as u8]);
        vip = if p.forward { vip + 1 } else { vip - 1 };
        if let Some(chain) = p.handlers[opcode as usize].imm {
            let w = chain.size.bytes() as u64;
            let (e, k) = chain.encrypt(op.imm, key);
            key = k;
            let at = if p.forward { vip } else { vip - w };
            put(at, &e.to_le_bytes()[..w as usize]);
            vip = if p.forward { vip + w } else { vip - w };
        }
    }
    Some((lo, bytes))
}

/// One decrypted virtual instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Address of its opcode byte.
    pub at: u64,
    /// The decrypted opcode.
    pub opcode: u8,
    /// What it does and its decrypted immediate.
    pub op: VOp,
}

/// Why virtual code does not decrypt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes run outside readable memory.
    OutOfBounds(u64),
    /// The block does not end with `jmp` or `exit` within the limit.
    TooLong(u64),
}

/// Decrypts the block entered at `addr`, reading bytes through `read`, up to its `jmp`
/// or `exit`. Any address is accepted (the devirtualizer follows what damaged code says):
/// VIP wraps, and bytes outside memory are an error.
pub fn decode_block(
    p: &VmProfile,
    addr: u64,
    read: impl Fn(u64, usize) -> Option<Vec<u8>>,
) -> Result<Vec<Decoded>, DecodeError> {
    let mut out = Vec::new();
    let mut vip = addr;
    let mut key = addr;
    for _ in 0..1_000_000 {
        let at = if p.forward { vip } else { vip.wrapping_sub(1) };
        let e = read(at, 1).ok_or(DecodeError::OutOfBounds(at))?[0];
        let (opcode, k) = p.dispatch.decrypt(e as u64, key);
        key = k;
        vip = if p.forward {
            vip.wrapping_add(1)
        } else {
            vip.wrapping_sub(1)
        };
        let h = p.handlers[opcode as usize];
        let mut imm = 0;
        if let Some(chain) = h.imm {
            let w = chain.size.bytes() as u64;
            let iat = if p.forward { vip } else { vip.wrapping_sub(w) };
            let b = read(iat, w as usize).ok_or(DecodeError::OutOfBounds(iat))?;
            let mut le = [0u8; 8];
            le[..w as usize].copy_from_slice(&b);
            let (x, k) = chain.decrypt(u64::from_le_bytes(le), key);
            key = k;
            imm = x;
            vip = if p.forward {
                vip.wrapping_add(w)
            } else {
                vip.wrapping_sub(w)
            };
        }
        out.push(Decoded {
            at,
            opcode: opcode as u8,
            op: VOp { kind: h.kind, imm },
        });
        if h.kind.ends_block() {
            return Ok(out);
        }
    }
    Err(DecodeError::TooLong(addr))
}
