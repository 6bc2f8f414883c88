//! Input mutation, libFuzzer-style: bit flips, interesting integers at any offset, inserted,
//! deleted, duplicated and spliced ranges, dictionary words, and (for source text) whole
//! lines moved between inputs. Deterministic for a given seed.

/// A small, fast, deterministic random number generator (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that nearby seeds diverge at once and 0 is not stuck.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Integers that find boundary bugs: zero, one, all ones, sign boundaries, page sizes.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0xFFF,
    0x1000,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
    0xC000_0000,
    0x0804_8000,
    0xB8000,
];

/// What the mutator may use besides random bytes.
#[derive(Clone, Debug, Default)]
pub struct Mutator {
    /// Words to insert (mnemonics, directives, magic numbers).
    pub dictionary: Vec<Vec<u8>>,
    /// The input is text made of lines: also mutate whole lines.
    pub text: bool,
    /// Inputs never grow beyond this many bytes.
    pub max_len: usize,
}

impl Mutator {
    /// A mutated copy of `input`: one to four stacked mutations; `other` is another corpus
    /// entry to splice from.
    pub fn mutate(&self, rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut data = input.to_vec();
        for _ in 0..1 + rng.below(4) {
            self.mutate_once(rng, &mut data, other);
        }
        data.truncate(self.max_len);
        data
    }

    fn mutate_once(&self, rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
        match rng.below(12) {
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] = rng.next_u64() as u8;
            }
            2 if !data.is_empty() => {
                // An interesting integer, 1, 2, 4 or 8 bytes, little-endian, anywhere.
                let width = 1 << rng.below(4);
                let at = rng.below(data.len());
                let mut value = INTERESTING[rng.below(INTERESTING.len())];
                if rng.one_in(4) {
                    value = value.wrapping_add(rng.below(9) as u64).wrapping_sub(4);
                }
                let bytes = value.to_le_bytes();
                let end = (at + width).min(data.len());
                data[at..end].copy_from_slice(&bytes[..end - at]);
            }
            3 if !data.is_empty() => {
                // Add or subtract a little from a 32-bit field (lengths, counts, offsets).
                let at = rng.below(data.len()) & !3;
                if at + 4 <= data.len() {
                    let v = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                    let delta = rng.below(33) as u32;
                    let v = if rng.one_in(2) {
                        v.wrapping_add(delta)
                    } else {
                        v.wrapping_sub(delta)
                    };
                    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            4 => {
                let at = rng.below(data.len() + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            5 if !data.is_empty() => {
                let at = rng.below(data.len());
                let n = 1 + rng.below((data.len() - at).min(64));
                data.drain(at..at + n);
            }
            6 if !data.is_empty() => {
                // Duplicate a range somewhere (repetition finds quadratic behaviour).
                let from = rng.below(data.len());
                let n = 1 + rng.below((data.len() - from).min(256));
                let chunk = data[from..from + n].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, chunk);
            }
            7 if !other.is_empty() => {
                // Splice: a range of another input over or into this one.
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(512));
                let at = rng.below(data.len() + 1);
                let end = if rng.one_in(2) {
                    (at + n).min(data.len())
                } else {
                    at
                };
                data.splice(at..end, other[from..from + n].iter().copied());
            }
            8 | 9 if !self.dictionary.is_empty() => {
                let word = &self.dictionary[rng.below(self.dictionary.len())];
                let at = rng.below(data.len() + 1);
                if rng.one_in(3) && at + word.len() <= data.len() {
                    data[at..at + word.len()].copy_from_slice(word);
                } else {
                    data.splice(at..at, word.iter().copied());
                }
            }
            10 if self.text => self.mutate_lines(rng, data, other),
            11 => {
                // Truncate: every format has "the file ended here" paths.
                let keep = rng.below(data.len() + 1);
                data.truncate(keep);
            }
            _ => {
                let at = rng.below(data.len() + 1);
                data.insert(at, rng.next_u64() as u8);
            }
        }
    }

    /// Deletes, duplicates, swaps a line, or takes one from `other`.
    fn mutate_lines(&self, rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
        let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let n = lines.len();
        match rng.below(4) {
            0 if n > 1 => {
                lines.remove(rng.below(n));
            }
            1 => {
                let line = lines[rng.below(n)].clone();
                lines.insert(rng.below(n + 1), line);
            }
            2 if n > 1 => {
                let (a, b) = (rng.below(n), rng.below(n));
                lines.swap(a, b);
            }
            _ => {
                let theirs: Vec<&[u8]> = other.split(|&b| b == b'\n').collect();
                let line = theirs[rng.below(theirs.len())].to_vec();
                lines.insert(rng.below(n + 1), line);
            }
        }
        *data = lines.join(&b'\n');
    }
}
