//! The trailer: the last bytes of a protected image's read-only segment, recording what the
//! protector changed in the image's header (today its memory size), so that the
//! devirtualizer can restore the header from the image alone.

/// The magic that starts the trailer at the end of the read-only segment.
pub const MAGIC: [u8; 8] = *b"vmkitPRO";
/// Bytes of the trailer: the magic, then the image's original memory size (u64 LE).
pub const BYTES: u64 = 16;

/// The trailer recording `memory_size`, the image's memory size before protection.
pub(crate) fn encode(memory_size: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&MAGIC);
    t[8..].copy_from_slice(&memory_size.to_le_bytes());
    t
}

/// The original memory size recorded in a trailer, if `bytes` ends with one.
pub fn decode(bytes: &[u8]) -> Option<u64> {
    let t = bytes.get(bytes.len().checked_sub(BYTES as usize)?..)?;
    (t[..8] == MAGIC).then(|| u64::from_le_bytes(t[8..].try_into().unwrap_or([0; 8])))
}
