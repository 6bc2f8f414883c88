//! Decoded-code cache: guest code decoded once with iced-x86 into blocks that end at the
//! next control transfer, looked up by start address, dropped when the guest writes over
//! decoded bytes.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction};
use std::collections::HashMap;
use std::rc::Rc;
use vmkit_mem::{MemError, Memory};

/// Longest block, in instructions.
const MAX_BLOCK: usize = 64;
/// Longest x86 instruction.
const MAX_INSN: usize = 15;

/// What ends a block early.
#[derive(Clone, Debug)]
pub enum BlockEnd {
    /// The last instruction transfers control (or the block reached its size limit).
    Normal,
    /// Fetching the next instruction faults.
    FetchFault(MemError),
    /// The bytes at `addr` are not a valid instruction.
    Invalid {
        /// Where.
        addr: u32,
        /// The bytes that failed to decode.
        bytes: Vec<u8>,
    },
}

/// A run of decoded instructions.
#[derive(Debug)]
pub struct Block {
    /// The instructions, in order.
    pub insns: Vec<Instruction>,
    /// Why decoding stopped.
    pub end: BlockEnd,
}

/// Blocks by start address.
#[derive(Default)]
pub struct BlockCache {
    blocks: HashMap<u32, Rc<Block>>,
    /// Blocks decoded so far.
    pub translations: u64,
    /// Flushes caused by writes to decoded code.
    pub flushes: u64,
}

impl BlockCache {
    /// The block starting at `eip`, decoding it on first use.
    pub fn get(&mut self, mem: &mut Memory, eip: u32) -> Rc<Block> {
        if let Some(b) = self.blocks.get(&eip) {
            return b.clone();
        }
        let block = Rc::new(decode_block(mem, eip));
        self.translations += 1;
        self.blocks.insert(eip, block.clone());
        block
    }

    /// Drops every block (after a write to decoded code, or a protection change).
    pub fn flush(&mut self, mem: &mut Memory) {
        self.blocks.clear();
        mem.clear_code_marks();
        self.flushes += 1;
    }
}

fn decode_block(mem: &mut Memory, start: u32) -> Block {
    let mut insns = Vec::new();
    let mut ip = start;
    loop {
        if insns.len() == MAX_BLOCK {
            return Block {
                insns,
                end: BlockEnd::Normal,
            };
        }
        let window = match mem.fetch_window(ip as u64, MAX_INSN) {
            Ok(w) => w.to_vec(),
            Err(e) => {
                return Block {
                    insns,
                    end: BlockEnd::FetchFault(e),
                }
            }
        };
        let mut decoder = Decoder::with_ip(32, &window, ip as u64, DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() {
            let end = if decoder.last_error() == iced_x86::DecoderError::NoMoreBytes
                && window.len() < MAX_INSN
            {
                BlockEnd::FetchFault(mem.fetch_fault(ip as u64 + window.len() as u64, 1))
            } else {
                BlockEnd::Invalid {
                    addr: ip,
                    bytes: window[..window.len().min(8)].to_vec(),
                }
            };
            return Block { insns, end };
        }
        mem.mark_code(ip as u64, insn.len() as u64);
        ip = ip.wrapping_add(insn.len() as u32);
        let flow = insn.flow_control();
        insns.push(insn);
        if flow != FlowControl::Next {
            return Block {
                insns,
                end: BlockEnd::Normal,
            };
        }
    }
}
