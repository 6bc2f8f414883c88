//! Decoded-code cache: guest code decoded once with iced-x86 into blocks that end at the
//! next control transfer, each instruction also translated into a [`Uop`].
//!
//! Blocks are kept in vmkit-vm's [`CodeCache`]: found by start address, registered with
//! every 4 KiB page their bytes touch. A store into a page holding decoded code (the
//! page's `CODE` mark in [`Memory`]) makes the run loop call [`BlockCache::invalidate`]
//! with the written range: the blocks whose bytes overlap it are
//! dropped, the others on the page survive, and a page left without blocks loses its mark.
//! So self-modifying code sees its new bytes at the next instruction, and data stored next
//! to code costs nothing after the first time.

use super::uop::{fuse, translate, Uop};
use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction};
use std::cell::Cell;
use std::ops::Range;
use vmkit_mem::{MemError, Memory, PAGE_SIZE};
use vmkit_vm::code_cache::{CodeCache, CodeSpan, CODE_PAGE_SIZE};

const _: () = assert!(CODE_PAGE_SIZE == PAGE_SIZE, "code pages are memory pages");

/// Longest block, in instructions.
const MAX_BLOCK: usize = 64;
/// Longest x86 instruction.
const MAX_INSN: usize = 15;

/// Why decoding a block stopped before a control transfer or the size limit: the run
/// faults when it reaches that point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DecodeFailure {
    /// Fetching the next instruction faults.
    Fetch(MemError),
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
pub(crate) struct Block {
    /// Address of the first instruction.
    pub start: u32,
    /// Address just past the last instruction.
    pub end: u32,
    /// The instructions, in order.
    pub insns: Vec<Instruction>,
    /// Their translations, one per instruction.
    pub(crate) uops: Vec<Uop>,
    /// Why decoding stopped early, if it did.
    pub decode_failure: Option<DecodeFailure>,
    /// Chain links to the blocks that followed this one: `(eip << 32) | (id + 1)` for a
    /// jump elsewhere (slot 0) and for falling through to `end` (slot 1); 0 when unset.
    /// Cleared for every block whenever any block is dropped, so a link never names a
    /// dead or reused id.
    links: [Cell<u64>; 2],
}

impl Block {
    /// The block that followed this one the last time control went to `eip`.
    #[inline(always)]
    pub(crate) fn linked(&self, eip: u32) -> Option<BlockId> {
        let link = self.links[(eip == self.end) as usize].get();
        (link >> 32 == eip as u64 && link as u32 != 0).then(|| link as u32 - 1)
    }

    /// Remembers that block `id` starts at `eip`, where control went after this one.
    #[inline]
    pub(crate) fn link(&self, eip: u32, id: BlockId) {
        self.links[(eip == self.end) as usize].set(((eip as u64) << 32) | (id as u64 + 1));
    }
}

/// Index of a block in the cache.
pub(crate) type BlockId = vmkit_vm::code_cache::BlockId;

impl CodeSpan for Block {
    fn code_span(&self) -> Range<u64> {
        self.start as u64..self.end as u64
    }
}

/// Decoded blocks by start address: the x86 layer over the shared
/// [`CodeCache`], which decodes on a miss, keeps guest memory's code marks in step, and
/// clears chain links when blocks die.
#[derive(Default)]
pub(crate) struct BlockCache {
    blocks: CodeCache<Block>,
}

impl BlockCache {
    /// The id of the block starting at `eip`, decoding it on first use.
    #[inline]
    pub(crate) fn lookup(&mut self, mem: &mut Memory, eip: u32) -> BlockId {
        match self.blocks.find(eip as u64) {
            Some(id) => id,
            None => self.decode(mem, eip),
        }
    }

    #[cold]
    fn decode(&mut self, mem: &mut Memory, eip: u32) -> BlockId {
        let block = decode_block(mem, eip);
        self.blocks.insert(block)
    }

    /// The block with this id.
    #[inline(always)]
    pub(crate) fn get(&self, id: BlockId) -> &Block {
        self.blocks.get(id)
    }

    /// Drops the blocks whose bytes overlap `range` and clears the code mark of pages
    /// left without blocks.
    pub(crate) fn invalidate(&mut self, mem: &mut Memory, range: Range<u64>) {
        let dropped = self.blocks.invalidate(range, |page| {
            mem.unmark_code(page, PAGE_SIZE);
        });
        if dropped > 0 {
            // A link never names a dead or reused id.
            for b in self.blocks.blocks() {
                b.links[0].set(0);
                b.links[1].set(0);
            }
        }
    }

    /// Drops every block (after a protection change or unmapping).
    pub(crate) fn flush(&mut self, mem: &mut Memory) {
        self.blocks.flush();
        mem.clear_code_marks();
    }
}

fn decode_block(mem: &mut Memory, start: u32) -> Block {
    let mut insns = Vec::new();
    let mut ip = start;
    let decode_failure = loop {
        if insns.len() == MAX_BLOCK {
            break None;
        }
        let window = match mem.fetch_window(ip as u64, MAX_INSN) {
            Ok(w) => w.to_vec(),
            Err(e) => break Some(DecodeFailure::Fetch(e)),
        };
        let mut decoder = Decoder::with_ip(32, &window, ip as u64, DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() {
            break if decoder.last_error() == iced_x86::DecoderError::NoMoreBytes
                && window.len() < MAX_INSN
            {
                Some(DecodeFailure::Fetch(
                    mem.fetch_fault(ip as u64 + window.len() as u64, 1),
                ))
            } else {
                Some(DecodeFailure::Invalid {
                    addr: ip,
                    bytes: window[..window.len().min(8)].to_vec(),
                })
            };
        }
        mem.mark_code(ip as u64, insn.len() as u64);
        ip = ip.wrapping_add(insn.len() as u32);
        let flow = insn.flow_control();
        insns.push(insn);
        if flow != FlowControl::Next {
            break None;
        }
    };
    let mut uops: Vec<Uop> = insns.iter().map(translate).collect();
    fuse(&mut uops);
    Block {
        start,
        end: ip.max(start),
        insns,
        uops,
        decode_failure,
        links: [Cell::new(0), Cell::new(0)],
    }
}
