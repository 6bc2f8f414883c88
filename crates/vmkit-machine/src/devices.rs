//! Memory-mapped devices, as in seed 003 (QBX): an 80x25 text screen and a keyboard.
//!
//! Both are plain guest memory at fixed addresses, so they cost the interpreter nothing; the
//! host reads the screen and fills the keyboard mailbox between slices of execution.
//!
//! | address | size | device |
//! |---|---|---|
//! | `0xB8000` | 4000 | screen: 80x25 cells of (character, attribute) bytes, row-major |
//! | `0xB8FA0` | 1 | keyboard status: 0 empty, 1 a key waits (the guest writes 0 to take it), 2 end of input |
//! | `0xB8FA1` | 1 | keyboard data: the waiting key's byte |
//!
//! End of input (status 2) tells a program that polls the keyboard that no key will ever
//! come (stdin is closed or was empty), so it can finish instead of polling forever. The
//! host keeps reporting it once the last key is taken.

use vmkit_mem::Memory;

/// Screen base address (the classic VGA text buffer).
pub const SCREEN_BASE: u64 = 0xB8000;
/// Screen columns.
pub const SCREEN_COLS: usize = 80;
/// Screen rows.
pub const SCREEN_ROWS: usize = 25;
/// Screen size in bytes.
pub const SCREEN_BYTES: u64 = (SCREEN_COLS * SCREEN_ROWS * 2) as u64;
/// Keyboard status byte.
pub const KBD_STATUS: u64 = SCREEN_BASE + SCREEN_BYTES;
/// Keyboard data byte.
pub const KBD_DATA: u64 = KBD_STATUS + 1;
/// Keyboard status: no key waits.
pub const KBD_EMPTY: u8 = 0;
/// Keyboard status: a key waits in [`KBD_DATA`]; the guest writes [`KBD_EMPTY`] to take it.
pub const KBD_READY: u8 = 1;
/// Keyboard status: the input has ended, no key will come.
pub const KBD_END: u8 = 2;
/// Smallest memory that holds the devices.
pub const DEVICES_END: u64 = KBD_DATA + 1;

/// Whether a machine with `memory_size` bytes has the devices.
pub fn has_devices(memory_size: u64) -> bool {
    memory_size >= DEVICES_END
}

/// The screen's characters as 25 lines of text (unprintable bytes shown as spaces, trailing
/// spaces trimmed). `None` if memory is too small to hold the screen.
pub(crate) fn screen_text(mem: &Memory) -> Option<Vec<String>> {
    let bytes = mem.peek(SCREEN_BASE, SCREEN_BYTES).ok()?;
    Some(
        bytes
            .chunks(SCREEN_COLS * 2)
            .map(|row| {
                let line: String = row
                    .chunks(2)
                    .map(|cell| match cell[0] {
                        0x20..=0x7E => cell[0] as char,
                        _ => ' ',
                    })
                    .collect();
                line.trim_end().to_string()
            })
            .collect(),
    )
}

/// The screen as ANSI-coloured text: the attribute byte's low nibble is the foreground and
/// bits 4-6 the background, in VGA's colour order.
pub(crate) fn screen_ansi(mem: &Memory) -> Option<String> {
    const VGA_TO_ANSI: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
    let bytes = mem.peek(SCREEN_BASE, SCREEN_BYTES).ok()?;
    let mut out = String::new();
    for row in bytes.chunks(SCREEN_COLS * 2) {
        let mut last_attr = None;
        for cell in row.chunks(2) {
            let attr = cell[1];
            if Some(attr) != last_attr {
                let fg = VGA_TO_ANSI[(attr & 7) as usize] + if attr & 8 != 0 { 90 } else { 30 };
                let bg = VGA_TO_ANSI[((attr >> 4) & 7) as usize] + 40;
                if attr == 0 {
                    out.push_str("\x1b[0m");
                } else {
                    out.push_str(&format!("\x1b[{fg};{bg}m"));
                }
                last_attr = Some(attr);
            }
            out.push(match cell[0] {
                0x20..=0x7E => cell[0] as char,
                _ => ' ',
            });
        }
        out.push_str("\x1b[0m\n");
    }
    Some(out)
}

/// Offers a key to the guest: succeeds if the mailbox was empty.
pub(crate) fn offer_key(mem: &mut Memory, key: u8) -> bool {
    match mem.peek(KBD_STATUS, 1) {
        Ok([KBD_EMPTY]) => {
            mem.poke(KBD_DATA, &[key]).is_ok() && mem.poke(KBD_STATUS, &[KBD_READY]).is_ok()
        }
        _ => false,
    }
}

/// Tells the guest that the input has ended: sets the status to [`KBD_END`] once the mailbox
/// is empty (a waiting key is taken first). Succeeds if the status now says so.
pub(crate) fn end_of_input(mem: &mut Memory) -> bool {
    match mem.peek(KBD_STATUS, 1) {
        Ok([KBD_END]) => true,
        Ok([KBD_EMPTY]) => mem.poke(KBD_STATUS, &[KBD_END]).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(mem: &Memory) -> u8 {
        mem.peek(KBD_STATUS, 1).unwrap()[0]
    }

    #[test]
    fn end_of_input_waits_for_the_last_key_to_be_taken() {
        let mut mem = Memory::new(DEVICES_END);
        assert!(offer_key(&mut mem, b'x'));
        // The waiting key is not lost to the end of input.
        assert!(!end_of_input(&mut mem));
        assert_eq!(status(&mem), KBD_READY);
        mem.poke(KBD_STATUS, &[KBD_EMPTY]).unwrap(); // the guest takes it
        assert!(end_of_input(&mut mem));
        assert_eq!(status(&mem), KBD_END);
        // It stays: no key can be offered after the end, and saying it again is harmless.
        assert!(!offer_key(&mut mem, b'y'));
        assert!(end_of_input(&mut mem));
        assert_eq!(status(&mem), KBD_END);
    }

    #[test]
    fn end_of_input_needs_the_devices() {
        let mut mem = Memory::new(KBD_STATUS);
        assert!(!end_of_input(&mut mem));
    }
}
