//! A fast non-cryptographic hash for the maps dkwrap builds over one file's section names,
//! symbol meanings and indices (tens of thousands of entries in a big module). SipHash, std's
//! default, showed up as a quarter of the native strip's time on a 68,000-section module.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Maps keyed by section names and indices of files we read; see [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A fast non-cryptographic hasher (the multiply-rotate of rustc's FxHasher) for symbol
/// meanings: the proof compares sorted hash lists first and falls back to full meanings to
/// name differences, so speed matters more than DoS resistance here.
#[derive(Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        // murmur3's fmix64: the multiply-rotate alone leaves the low bits (the ones hashbrown
        // indexes buckets with) blind to the high bytes of a word — section names like
        // `.text.huge_f12345` then collide in long chains.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash<T: Hash>(v: T) -> u64 {
        let mut h = FastHasher::default();
        v.hash(&mut h);
        h.finish()
    }

    /// Regression: names that differ only in the high bytes of a word must still spread
    /// over the low bits hashbrown uses for buckets.
    #[test]
    fn similar_section_names_spread_over_low_bits() {
        let mut buckets = std::collections::HashSet::new();
        for i in 0..4096 {
            buckets.insert(hash(format!(".text.huge_f{i}").as_bytes()) & 0xfff);
        }
        assert!(
            buckets.len() > 2000,
            "only {} of 4096 low-bit buckets used",
            buckets.len()
        );
    }
}
