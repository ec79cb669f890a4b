//! The HTTP clients of webhooks with a client certificate: one per
//! identity (chain and key), built on first use and kept in a bounded cache,
//! least recently used out first. Webhooks sharing an identity share its
//! client and connections; different identities never share a connection.

use std::collections::HashMap;
use std::sync::Mutex;

/// The most clients kept; past it, the least recently used is dropped
/// (its idle connections close with it).
pub const CAPACITY: usize = 256;

/// A bounded least-recently-used map from an identity's digest to its client.
pub(super) struct Lru<V> {
    capacity: usize,
    inner: Mutex<Entries<V>>,
}

struct Entries<V> {
    map: HashMap<[u8; 32], (V, u64)>,
    tick: u64,
}

impl<V: Clone> Lru<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                tick: 0,
            }),
        }
    }

    /// The value for `key`, built by `build` on a miss (outside the lock:
    /// building parses PEM and keys). Also says whether an entry was
    /// evicted to make room.
    pub fn get_or_build<E>(
        &self,
        key: [u8; 32],
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<(V, bool), E> {
        if let Some(found) = self.lock().touch(&key) {
            return Ok((found, false));
        }
        let built = build()?;
        let mut entries = self.lock();
        // Another attempt may have built it meanwhile: keep the first.
        if let Some(found) = entries.touch(&key) {
            return Ok((found, false));
        }
        let evicted = entries.map.len() >= self.capacity;
        if evicted {
            // A scan, on a miss only, of at most `capacity` entries.
            let oldest = entries.map.iter().min_by_key(|(_, (_, used))| *used);
            if let Some((&oldest, _)) = oldest {
                entries.map.remove(&oldest);
            }
        }
        entries.tick += 1;
        let tick = entries.tick;
        entries.map.insert(key, (built.clone(), tick));
        Ok((built, evicted))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        // A panic while holding it leaves a consistent map: go on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

impl<V: Clone> Entries<V> {
    fn touch(&mut self, key: &[u8; 32]) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let (value, used) = self.map.get_mut(key)?;
        *used = tick;
        Some(value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn get(lru: &Lru<u8>, n: u8) -> (u8, bool, bool) {
        let mut built = false;
        let (value, evicted) = lru
            .get_or_build(key(n), || {
                built = true;
                Ok::<_, Infallible>(n)
            })
            .unwrap();
        (value, built, evicted)
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_drops_the_least_recently_used() {
        let lru = Lru::new(2);
        assert_eq!(get(&lru, 1), (1, true, false));
        assert_eq!(get(&lru, 2), (2, true, false));
        // 1 used again: 2 is now the least recently used.
        assert_eq!(get(&lru, 1), (1, false, false));
        assert_eq!(get(&lru, 3), (3, true, true));
        assert_eq!(lru.len(), 2);
        assert_eq!(get(&lru, 1), (1, false, false));
        // 2 was evicted: built again, evicting 3.
        assert_eq!(get(&lru, 2), (2, true, true));
        assert_eq!(get(&lru, 1), (1, false, false));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn a_failed_build_is_not_kept() {
        let lru: Lru<u8> = Lru::new(2);
        assert!(lru.get_or_build(key(1), || Err("no")).is_err());
        assert_eq!(lru.len(), 0);
        assert_eq!(get(&lru, 1), (1, true, false));
    }
}
