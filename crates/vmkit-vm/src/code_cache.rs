//! A cache of decoded guest code with per-range invalidation, for either guest.
//!
//! [`CodeCache`] keeps blocks of some guest-specific type `B` by start address: a
//! direct-mapped table in front of a hash map answers lookups, and every block is
//! registered with each 4 KiB page its bytes touch. [`CodeCache::invalidate`] drops only
//! the blocks whose bytes overlap a written range, and reports the pages left without
//! blocks so the guest's memory can stop watching them. What a block holds (decoded
//! instructions, micro-ops, chain links) and how it is decoded is the guest's business.

use std::collections::HashMap;
use std::ops::Range;

/// Bytes per page of the code registry; the same as `vmkit_mem::PAGE_SIZE`.
pub const CODE_PAGE_SIZE: u64 = 4096;
/// Entries of the direct-mapped lookup table (a power of two).
const TABLE: usize = 1 << 12;

/// Index of a block in a [`CodeCache`]; stays valid until the block is dropped.
pub type BlockId = u32;

/// A block of decoded code: the guest bytes it was decoded from.
pub trait CodeSpan {
    /// The guest addresses `[start, end)` of the bytes this block was decoded from;
    /// `start` is where the block is entered (and the key it is found by), `end == start`
    /// for a block with no instruction.
    fn code_span(&self) -> Range<u64>;
}

/// Blocks of decoded code by start address, with per-page registration of their bytes.
pub struct CodeCache<B> {
    blocks: Vec<Option<B>>,
    free: Vec<BlockId>,
    by_start: HashMap<u64, BlockId>,
    /// `(start, id + 1)`; `id + 1 == 0` marks an empty slot.
    table: Box<[(u64, u32)]>,
    /// Blocks by the pages their bytes touch.
    pages: HashMap<u64, Vec<BlockId>>,
    stats: CodeCacheStats,
}

/// What a [`CodeCache`] has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeCacheStats {
    /// Blocks inserted.
    pub translations: u64,
    /// Blocks dropped because the guest wrote over their bytes.
    pub invalidations: u64,
    /// Whole-cache flushes.
    pub flushes: u64,
}

impl<B> Default for CodeCache<B> {
    fn default() -> Self {
        CodeCache {
            blocks: Vec::new(),
            free: Vec::new(),
            by_start: HashMap::new(),
            table: vec![(0, 0); TABLE].into_boxed_slice(),
            pages: HashMap::new(),
            stats: CodeCacheStats::default(),
        }
    }
}

#[inline(always)]
fn slot(start: u64) -> usize {
    (start ^ (start >> 12)) as usize & (TABLE - 1)
}

/// The pages `[start, end)` touches (none when it is empty).
fn pages_of(span: &Range<u64>) -> Range<u64> {
    if span.end <= span.start {
        return 0..0;
    }
    span.start / CODE_PAGE_SIZE..(span.end - 1) / CODE_PAGE_SIZE + 1
}

impl<B: CodeSpan> CodeCache<B> {
    /// The block starting at `start`, if one is cached.
    #[inline]
    pub fn find(&mut self, start: u64) -> Option<BlockId> {
        let (at, id1) = self.table[slot(start)];
        if at == start && id1 != 0 {
            return Some(id1 - 1);
        }
        self.find_slow(start)
    }

    #[cold]
    fn find_slow(&mut self, start: u64) -> Option<BlockId> {
        let id = *self.by_start.get(&start)?;
        self.table[slot(start)] = (start, id + 1);
        Some(id)
    }

    /// Caches `block` under the start of its [`CodeSpan::code_span`] and returns its id.
    pub fn insert(&mut self, block: B) -> BlockId {
        let start = block.code_span().start;
        self.stats.translations += 1;
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.blocks.push(None);
                (self.blocks.len() - 1) as BlockId
            }
        };
        for p in pages_of(&block.code_span()) {
            self.pages.entry(p).or_default().push(id);
        }
        self.blocks[id as usize] = Some(block);
        self.by_start.insert(start, id);
        self.table[slot(start)] = (start, id + 1);
        id
    }

    /// The block with this id. Panics if it was dropped.
    #[inline(always)]
    pub fn get(&self, id: BlockId) -> &B {
        self.blocks[id as usize]
            .as_ref()
            .expect("block ids handed out are live until dropped")
    }

    /// What the cache has done so far.
    pub fn stats(&self) -> CodeCacheStats {
        self.stats
    }

    /// Every cached block.
    pub fn blocks(&self) -> impl Iterator<Item = &B> {
        self.blocks.iter().flatten()
    }

    /// Drops the blocks whose bytes overlap `range`. Returns how many were dropped, and
    /// calls `page_freed` with the start address of each page in `range` that no block
    /// touches any more.
    pub fn invalidate(&mut self, range: Range<u64>, mut page_freed: impl FnMut(u64)) -> usize {
        let mut dropped = 0;
        let pages = pages_of(&range);
        for p in pages.clone() {
            let Some(ids) = self.pages.get(&p) else {
                continue;
            };
            let dead: Vec<BlockId> = ids
                .iter()
                .copied()
                .filter(|&id| {
                    let span = self.get(id).code_span();
                    span.start < range.end && range.start < span.end
                })
                .collect();
            for id in dead {
                self.remove(id);
                dropped += 1;
            }
        }
        for p in pages {
            if !self.pages.contains_key(&p) {
                page_freed(p * CODE_PAGE_SIZE);
            }
        }
        dropped
    }

    fn remove(&mut self, id: BlockId) {
        let Some(block) = self.blocks[id as usize].take() else {
            return;
        };
        self.stats.invalidations += 1;
        let span = block.code_span();
        self.by_start.remove(&span.start);
        let s = slot(span.start);
        if self.table[s] == (span.start, id + 1) {
            self.table[s] = (0, 0);
        }
        for p in pages_of(&span) {
            if let Some(ids) = self.pages.get_mut(&p) {
                ids.retain(|&i| i != id);
                if ids.is_empty() {
                    self.pages.remove(&p);
                }
            }
        }
        self.free.push(id);
    }

    /// Drops every block.
    pub fn flush(&mut self) {
        self.blocks.clear();
        self.free.clear();
        self.by_start.clear();
        self.pages.clear();
        self.table.fill((0, 0));
        self.stats.flushes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Span(Range<u64>);

    impl CodeSpan for Span {
        fn code_span(&self) -> Range<u64> {
            self.0.clone()
        }
    }

    #[test]
    fn invalidation_drops_only_overlapping_blocks() {
        let mut cache = CodeCache::default();
        let a = cache.insert(Span(0x1000..0x1010));
        let b = cache.insert(Span(0x1020..0x1030));
        let c = cache.insert(Span(0x2ff0..0x3008));
        assert_eq!(cache.find(0x1000), Some(a));
        assert_eq!(cache.find(0x1020), Some(b));
        let mut freed = Vec::new();
        assert_eq!(cache.invalidate(0x1008..0x1009, |p| freed.push(p)), 1);
        assert_eq!(cache.find(0x1000), None);
        assert_eq!(cache.find(0x1020), Some(b));
        assert!(freed.is_empty(), "page 1 still holds block b");
        assert_eq!(cache.invalidate(0x3000..0x3001, |p| freed.push(p)), 1);
        assert_eq!(freed, [0x3000]);
        assert_eq!(cache.find(0x2ff0), None);
        let d = cache.insert(Span(0x5000..0x5001));
        assert!(d == a || d == c, "ids are reused");
        cache.flush();
        let stats = cache.stats();
        assert_eq!(
            (stats.translations, stats.invalidations, stats.flushes),
            (4, 2, 1)
        );
        assert_eq!(cache.find(0x1020), None);
        assert_eq!(cache.blocks().count(), 0);
    }
}
