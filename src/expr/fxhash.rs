//! A fast, deterministic hasher for the maps keyed by expression ids and nodes.
//!
//! The std hasher (SipHash) resists collision attacks, which nothing here needs: keys are
//! ids and nodes the engine made itself. This is the multiply-rotate hash of Firefox and
//! rustc ("FxHash"). Maps using it are probed, never iterated for output, like every map
//! in the engine, so output stays independent of hash order.

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` with [`FxHasher`]; create with `HashMap::default()`.
pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// `HashSet` with [`FxHasher`]; create with `HashSet::default()`.
pub type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The FxHash state: one word, mixed by rotate, xor and multiply.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_hashes_spread() {
        let mut m: HashMap<u32, u32> = HashMap::default();
        for i in 0..10_000 {
            m.insert(i, i * 2);
        }
        assert!((0..10_000).all(|i| m[&i] == i * 2));
        // Consecutive ids differ in their hashes' high bits, which hashbrown uses.
        let h = |i: u32| {
            let mut s = FxHasher::default();
            s.write_u32(i);
            s.finish() >> 57
        };
        let tags: HashSet<u64> = (0..1000).map(h).collect();
        assert!(tags.len() > 64, "{} distinct 7-bit tags", tags.len());
    }
}
