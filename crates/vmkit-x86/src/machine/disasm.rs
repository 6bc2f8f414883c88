//! Disassembly for people: the instruction at an address in Intel syntax (fault reports,
//! traces).

use super::X86Machine;
use iced_x86::{Formatter, IntelFormatter};

impl X86Machine {
    /// The instruction at `addr` in Intel syntax, if it decodes.
    ///
    /// ```
    /// let mut vm = vmkit_x86::X86Machine::new();
    /// vm.load_raw(0x1000, &[0x01, 0xC8]).unwrap();
    /// assert_eq!(vm.instr_text_at(0x1000).as_deref(), Some("add eax,ecx"));
    /// ```
    pub fn instr_text_at(&self, addr: u32) -> Option<String> {
        let bytes = self.mem.peek(addr as u64, 15).ok()?;
        let mut decoder =
            iced_x86::Decoder::with_ip(32, bytes, addr as u64, iced_x86::DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() {
            return None;
        }
        let mut text = String::new();
        let mut formatter = IntelFormatter::new();
        formatter.options_mut().set_hex_prefix("0x");
        formatter.options_mut().set_hex_suffix("");
        formatter.format(&insn, &mut text);
        Some(text)
    }
}
