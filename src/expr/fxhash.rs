//! The hash maps of the symbolic core: keyed by expression ids and nodes, hashed with
//! FxHash (`rustc-hash`).
//!
//! The std hasher (SipHash) resists collision attacks, which nothing here needs: keys are
//! ids and nodes the engine made itself. Maps using it are probed, never iterated for
//! output, like every map in the engine, so output stays independent of hash order.

/// `HashMap` with FxHash; create with `HashMap::default()`.
pub type HashMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// `HashSet` with FxHash; create with `HashSet::default()`.
pub type HashSet<K> = rustc_hash::FxHashSet<K>;
