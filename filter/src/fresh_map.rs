//! A bounded map of entries that are reusable until a given time: the
//! storage of the token cache and of the request cache.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// At most `capacity` entries, each with the time (Unix seconds) until
/// which it may be reused. When full, stale entries are purged (at most once
/// per second in which one has gone stale, so a full map costs no scan per
/// insert); if none is stale the new entry is simply not kept. Keeping what
/// is stored, rather than evicting, means more keys than entries still get
/// `capacity` hits, where clearing or LRU would miss on every request of a
/// cyclic workload.
#[derive(Debug)]
pub struct FreshMap<K, V> {
    entries: HashMap<K, Fresh<V>>,
    capacity: usize,
    /// The earliest `reuse_until` among the entries: nothing is stale before.
    earliest_reuse_until: u64,
}

#[derive(Debug)]
struct Fresh<V> {
    value: V,
    reuse_until: u64,
}

impl<K: Hash + Eq, V> FreshMap<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            earliest_reuse_until: u64::MAX,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `key`, if it may still be reused at `now`, and until when.
    pub fn get<Q>(&self, key: &Q, now: u64) -> Option<(&V, u64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|fresh| now <= fresh.reuse_until)
            .map(|fresh| (&fresh.value, fresh.reuse_until))
    }

    /// Empties the map, yielding the entries still reusable at `now`.
    pub fn drain_fresh(&mut self, now: u64) -> impl Iterator<Item = (K, V, u64)> + '_ {
        self.earliest_reuse_until = u64::MAX;
        self.entries
            .drain()
            .filter(move |(_, fresh)| now <= fresh.reuse_until)
            .map(|(key, fresh)| (key, fresh.value, fresh.reuse_until))
    }

    /// Keeps `value` until `reuse_until`, if there is room (a stale entry
    /// for the same key is replaced in place, full or not).
    pub fn insert(&mut self, key: K, value: V, reuse_until: u64, now: u64) {
        if self.entries.len() >= self.capacity && now > self.earliest_reuse_until {
            self.entries.retain(|_, fresh| now <= fresh.reuse_until);
            self.earliest_reuse_until = self
                .entries
                .values()
                .map(|fresh| fresh.reuse_until)
                .min()
                .unwrap_or(u64::MAX);
        }
        if self.entries.len() < self.capacity || self.entries.contains_key(&key) {
            self.earliest_reuse_until = self.earliest_reuse_until.min(reuse_until);
            self.entries.insert(key, Fresh { value, reuse_until });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_serve_until_their_time_and_a_full_map_purges_only_stale_ones() {
        let mut map = FreshMap::new(2);
        map.insert("a", 1, 100, 0);
        map.insert("b", 2, 200, 0);
        map.insert("c", 3, 300, 50);
        assert_eq!(map.len(), 2, "full: c is not kept, nothing was stale");
        assert_eq!(map.get("a", 100), Some((&1, 100)));
        assert_eq!(map.get("a", 101), None);
        map.insert("c", 3, 400, 101);
        assert_eq!(
            (map.get("c", 101), map.get("b", 101)),
            (Some((&3, 400)), Some((&2, 200)))
        );
        assert_eq!(map.get("a", 50), None, "purged");
    }

    #[test]
    fn a_zero_capacity_map_keeps_nothing() {
        let mut map = FreshMap::new(0);
        map.insert(1, 1, 100, 0);
        assert_eq!(map.get(&1, 0), None);
    }
}
