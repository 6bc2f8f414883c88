//! Decoded-code cache: guest code decoded once with iced-x86 into blocks that end at the
//! next control transfer, each instruction also translated into a [`Uop`].
//!
//! Blocks are found by start address through a direct-mapped table in front of a hash
//! map, and are registered with every 4 KiB page their bytes touch. A store into a page
//! holding decoded code (the page's `CODE` mark in [`Memory`]) makes the run loop call
//! [`BlockCache::invalidate`] with the written range: the blocks whose bytes overlap it are
//! dropped, the others on the page survive, and a page left without blocks loses its mark.
//! So self-modifying code sees its new bytes at the next instruction, and data stored next
//! to code costs nothing after the first time.

use crate::uop::{fuse, translate, Uop};
use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction};
use std::cell::Cell;
use std::collections::HashMap;
use vmkit_mem::{MemError, Memory, PAGE_SIZE};

/// Longest block, in instructions.
const MAX_BLOCK: usize = 64;
/// Longest x86 instruction.
const MAX_INSN: usize = 15;
/// Entries of the direct-mapped lookup table (a power of two).
const TABLE: usize = 1 << 12;

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
    /// Address of the first instruction.
    pub start: u32,
    /// Address just past the last instruction.
    pub end: u32,
    /// The instructions, in order.
    pub insns: Vec<Instruction>,
    /// Their translations, one per instruction.
    pub(crate) uops: Vec<Uop>,
    /// Why decoding stopped.
    pub tail: BlockEnd,
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
pub(crate) type BlockId = u32;

/// Blocks by start address.
pub struct BlockCache {
    blocks: Vec<Option<Block>>,
    free: Vec<BlockId>,
    map: HashMap<u32, BlockId>,
    /// `(start, id + 1)`; 0 marks an empty slot.
    table: Box<[(u32, u32)]>,
    pages: HashMap<u32, Vec<BlockId>>,
    /// Blocks decoded so far.
    pub translations: u64,
    /// Blocks dropped because the guest wrote over their bytes.
    pub invalidations: u64,
    /// Whole-cache flushes (protection changes).
    pub flushes: u64,
}

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            blocks: Vec::new(),
            free: Vec::new(),
            map: HashMap::new(),
            table: vec![(0, 0); TABLE].into_boxed_slice(),
            pages: HashMap::new(),
            translations: 0,
            invalidations: 0,
            flushes: 0,
        }
    }
}

#[inline(always)]
fn slot(eip: u32) -> usize {
    (eip ^ (eip >> 12)) as usize & (TABLE - 1)
}

impl BlockCache {
    /// The id of the block starting at `eip`, decoding it on first use.
    #[inline]
    pub(crate) fn lookup(&mut self, mem: &mut Memory, eip: u32) -> BlockId {
        let (start, id1) = self.table[slot(eip)];
        if start == eip && id1 != 0 {
            return id1 - 1;
        }
        self.lookup_slow(mem, eip)
    }

    #[cold]
    fn lookup_slow(&mut self, mem: &mut Memory, eip: u32) -> BlockId {
        let id = match self.map.get(&eip) {
            Some(&id) => id,
            None => self.insert(mem, eip),
        };
        self.table[slot(eip)] = (eip, id + 1);
        id
    }

    fn insert(&mut self, mem: &mut Memory, eip: u32) -> BlockId {
        let block = decode_block(mem, eip);
        self.translations += 1;
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.blocks.push(None);
                (self.blocks.len() - 1) as BlockId
            }
        };
        if block.end > block.start {
            let first = block.start / PAGE_SIZE as u32;
            let last = (block.end - 1) / PAGE_SIZE as u32;
            for p in first..=last {
                self.pages.entry(p).or_default().push(id);
            }
        }
        self.blocks[id as usize] = Some(block);
        self.map.insert(eip, id);
        id
    }

    /// The block with this id.
    #[inline(always)]
    pub(crate) fn get(&self, id: BlockId) -> &Block {
        self.blocks[id as usize]
            .as_ref()
            .expect("block ids in the lookup table are live")
    }

    /// Drops the blocks whose bytes overlap `[lo, hi)` and clears the code mark of pages
    /// left without blocks.
    pub fn invalidate(&mut self, mem: &mut Memory, lo: u64, hi: u64) {
        if hi <= lo {
            return;
        }
        let first = (lo / PAGE_SIZE) as u32;
        let last = ((hi - 1) / PAGE_SIZE) as u32;
        for p in first..=last {
            let Some(ids) = self.pages.get(&p) else {
                continue;
            };
            let dead: Vec<BlockId> = ids
                .iter()
                .copied()
                .filter(|&id| {
                    let b = self.get(id);
                    (b.start as u64) < hi && lo < b.end as u64
                })
                .collect();
            if !dead.is_empty() {
                self.unlink_all();
            }
            for id in dead {
                self.remove(id);
            }
        }
        for p in first..=last {
            if !self.pages.contains_key(&p) {
                mem.unmark_code(p as u64 * PAGE_SIZE, PAGE_SIZE);
            }
        }
        mem.clear_code_written();
    }

    fn unlink_all(&mut self) {
        for b in self.blocks.iter().flatten() {
            b.links[0].set(0);
            b.links[1].set(0);
        }
    }

    fn remove(&mut self, id: BlockId) {
        let Some(block) = self.blocks[id as usize].take() else {
            return;
        };
        self.invalidations += 1;
        self.map.remove(&block.start);
        let s = slot(block.start);
        if self.table[s] == (block.start, id + 1) {
            self.table[s] = (0, 0);
        }
        if block.end > block.start {
            for p in block.start / PAGE_SIZE as u32..=(block.end - 1) / PAGE_SIZE as u32 {
                if let Some(ids) = self.pages.get_mut(&p) {
                    ids.retain(|&i| i != id);
                    if ids.is_empty() {
                        self.pages.remove(&p);
                    }
                }
            }
        }
        self.free.push(id);
    }

    /// Drops every block (after a protection change or unmapping).
    pub fn flush(&mut self, mem: &mut Memory) {
        self.blocks.clear();
        self.free.clear();
        self.map.clear();
        self.pages.clear();
        self.table.fill((0, 0));
        mem.clear_code_marks();
        self.flushes += 1;
    }
}

fn decode_block(mem: &mut Memory, start: u32) -> Block {
    let mut insns = Vec::new();
    let mut ip = start;
    let tail = loop {
        if insns.len() == MAX_BLOCK {
            break BlockEnd::Normal;
        }
        let window = match mem.fetch_window(ip as u64, MAX_INSN) {
            Ok(w) => w.to_vec(),
            Err(e) => break BlockEnd::FetchFault(e),
        };
        let mut decoder = Decoder::with_ip(32, &window, ip as u64, DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() {
            break if decoder.last_error() == iced_x86::DecoderError::NoMoreBytes
                && window.len() < MAX_INSN
            {
                BlockEnd::FetchFault(mem.fetch_fault(ip as u64 + window.len() as u64, 1))
            } else {
                BlockEnd::Invalid {
                    addr: ip,
                    bytes: window[..window.len().min(8)].to_vec(),
                }
            };
        }
        mem.mark_code(ip as u64, insn.len() as u64);
        ip = ip.wrapping_add(insn.len() as u32);
        let flow = insn.flow_control();
        insns.push(insn);
        if flow != FlowControl::Next {
            break BlockEnd::Normal;
        }
    };
    let mut uops: Vec<Uop> = insns.iter().map(translate).collect();
    fuse(&mut uops);
    Block {
        start,
        end: ip.max(start),
        insns,
        uops,
        tail,
        links: [Cell::new(0), Cell::new(0)],
    }
}
