//! Compiled filters by source text, shared by the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::{Filter, FilterError};

/// Compiled filters by source text, shared by the process (cheap to clone):
/// publishing reads each subscriber's filter text from its row and asks
/// here, so a filter that changed, in this process or another one on the
/// same database, is simply another key.
///
/// Bounded to `capacity` entries, evicted by CLOCK (second chance): a hit
/// only sets the entry's bit under the read lock; a miss past capacity
/// sweeps the ring, clearing bits, to the first entry not used since the
/// hand last passed (amortised O(1), one lap at worst). The filters of
/// webhooks being published to keep their bit set and their place: what
/// goes is what nothing used for a lap (a filter's old text after an edit,
/// an idle organization). A scan over more filters than the capacity would
/// miss every time, as with LRU; one organization cannot cause it alone
/// while the capacity is above its webhook limit (1,000 by default).
///
/// Refusals are cached too: a stored filter compiled once, so a refusal
/// means the rules got stricter since, and recompiling it on every publish
/// would not change the answer.
#[derive(Clone)]
pub struct FilterCache {
    inner: Arc<RwLock<Clock>>,
    capacity: usize,
}

struct Clock {
    by_source: HashMap<Arc<str>, Slot>,
    /// The keys in insertion order, the hand going round them.
    ring: Vec<Arc<str>>,
    hand: usize,
}

struct Slot {
    compiled: Result<Filter, FilterError>,
    used: AtomicBool,
    /// Where the key is in `ring`.
    at: usize,
}

impl FilterCache {
    /// A cache of at most `capacity` filters (at least one).
    pub fn new(capacity: usize) -> Self {
        FilterCache {
            inner: Arc::new(RwLock::new(Clock {
                by_source: HashMap::new(),
                ring: Vec::new(),
                hand: 0,
            })),
            capacity: capacity.max(1),
        }
    }

    /// The compiled filter for `source`; compiles on a miss (10 to 30 µs,
    /// outside the lock).
    pub fn get(&self, source: &str) -> Result<Filter, FilterError> {
        if let Some(slot) = self.read().by_source.get(source) {
            slot.used.store(true, Ordering::Relaxed);
            return slot.compiled.clone();
        }
        let compiled = Filter::parse(source);
        let mut clock = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = clock.by_source.get(source) {
            // Compiled meanwhile by another caller.
            return slot.compiled.clone();
        }
        let key: Arc<str> = Arc::from(source);
        let at = if clock.ring.len() < self.capacity {
            clock.ring.push(Arc::clone(&key));
            clock.ring.len() - 1
        } else {
            let victim = clock.evict();
            clock.ring[victim] = Arc::clone(&key);
            victim
        };
        clock.by_source.insert(
            key,
            Slot {
                compiled: compiled.clone(),
                used: AtomicBool::new(false),
                at,
            },
        );
        compiled
    }

    /// How many filters are held.
    pub fn len(&self) -> usize {
        self.read().by_source.len()
    }

    /// Whether no filter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Clock> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock {
    /// Removes the first entry from the hand on whose bit is clear,
    /// clearing the bits it passes, and answers its place in the ring.
    fn evict(&mut self) -> usize {
        loop {
            let at = self.hand;
            self.hand = (self.hand + 1) % self.ring.len();
            let key = &self.ring[at];
            let slot = self
                .by_source
                .get(key)
                .expect("every key of the ring is in the map");
            debug_assert_eq!(slot.at, at);
            if !slot.used.swap(false, Ordering::Relaxed) {
                let key = Arc::clone(key);
                self.by_source.remove(&key);
                return at;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(n: usize) -> String {
        format!("labels.n == \"{n}\"")
    }

    #[test]
    fn a_filter_is_compiled_once_and_shared() {
        let cache = FilterCache::new(4);
        let a = cache.get(&filter(1)).unwrap();
        let b = cache.clone().get(&filter(1)).unwrap();
        assert!(a.same_compiled(&b));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn refusals_are_cached_and_answered_again() {
        let cache = FilterCache::new(4);
        let first = cache.get("nosuch == 1").unwrap_err();
        assert_eq!(cache.get("nosuch == 1").unwrap_err(), first);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity() {
        let cache = FilterCache::new(3);
        for n in 0..10 {
            cache.get(&filter(n)).unwrap();
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn filters_in_use_keep_their_place_and_unused_ones_go() {
        let cache = FilterCache::new(3);
        let hot = cache.get(&filter(0)).unwrap();
        cache.get(&filter(1)).unwrap();
        cache.get(&filter(2)).unwrap();
        // A publish to the hot webhook between each new filter: the hot one
        // stays, the others take turns.
        for n in 3..20 {
            assert!(
                cache.get(&filter(0)).unwrap().same_compiled(&hot),
                "evicted at {n}"
            );
            cache.get(&filter(n)).unwrap();
        }
        assert!(cache.get(&filter(0)).unwrap().same_compiled(&hot));
    }

    #[test]
    fn a_working_set_within_capacity_never_recompiles() {
        let cache = FilterCache::new(100);
        let first: Vec<Filter> = (0..100).map(|n| cache.get(&filter(n)).unwrap()).collect();
        for _ in 0..3 {
            for (n, f) in first.iter().enumerate() {
                assert!(cache.get(&filter(n)).unwrap().same_compiled(f));
            }
        }
    }
}
