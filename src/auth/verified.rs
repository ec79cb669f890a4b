//! Tokens already verified, by their text: a service that sends the same
//! token with every call pays for its signature and claims once a minute,
//! not on each call (an RS256 signature costs tens of microseconds).
//!
//! Only tokens that passed every check are kept, each until the earliest
//! of its `exp` (with the verifier's leeway) and a minute after it was
//! checked, and only while the keys it was checked with are the ones in
//! use: a published key set fetched again (a rotation, a key withdrawn)
//! forgets them all. A failed token is checked in full every time.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::Caller;

/// At most this many tokens are kept; a full cache drops its expired
/// entries, then all of them.
const CAPACITY: usize = 4096;
/// A token longer than this is checked on every call: the cache's memory
/// stays under `CAPACITY` times this.
const LONGEST: usize = 2048;
/// How long a token is trusted after its check, at most (seconds).
const TRUSTED_FOR: u64 = 60;

/// What a verified token said, and until when that holds.
struct Entry {
    caller: Caller,
    /// Unix seconds: no longer used from this second on.
    until: u64,
    /// The keys it was checked with (see [`Verified::get`]).
    keys: u64,
}

#[derive(Default)]
pub(super) struct Verified {
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

impl Verified {
    /// The caller of `token` when it was verified with the keys numbered
    /// `keys` and still holds at `now` (Unix seconds).
    pub fn get(&self, token: &str, keys: u64, now: u64) -> Option<Caller> {
        let entries = self.entries.lock().expect("verified tokens");
        let entry = entries.get(token)?;
        (entry.keys == keys && now < entry.until).then(|| entry.caller.clone())
    }

    /// Keeps `caller` for `token`, just verified at `now` with the keys
    /// numbered `keys`, its `exp` checked with `leeway` seconds.
    pub fn put(&self, token: &str, caller: &Caller, leeway: u64, keys: u64, now: u64) {
        let Ok(exp) = u64::try_from(caller.expires_at.timestamp()) else {
            return;
        };
        if token.len() > LONGEST {
            return;
        }
        // Valid while now <= exp + leeway, so up to the next second.
        let until = (exp + leeway + 1).min(now + TRUSTED_FOR);
        let mut entries = self.entries.lock().expect("verified tokens");
        if entries.len() >= CAPACITY && !entries.contains_key(token) {
            entries.retain(|_, entry| entry.keys == keys && now < entry.until);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Entry {
                caller: caller.clone(),
                until,
                keys,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::Credential;

    fn caller_until(exp: i64) -> Caller {
        Caller {
            subject: "svc".into(),
            membership: None,
            scopes: vec!["webhooks:admin".into()],
            credential: Credential::IdentityToken,
            expires_at: DateTime::<Utc>::from_timestamp(exp, 0).unwrap(),
        }
    }

    #[test]
    fn a_kept_token_holds_until_its_exp_with_the_leeway() {
        let verified = Verified::default();
        let caller = caller_until(1_000);
        verified.put("t", &caller, 30, 1, 990);
        assert_eq!(verified.get("t", 1, 990), Some(caller.clone()));
        assert_eq!(verified.get("t", 1, 1_030), Some(caller), "leeway");
        assert_eq!(verified.get("t", 1, 1_031), None, "past exp + leeway");
        assert_eq!(verified.get("other", 1, 990), None);
    }

    #[test]
    fn a_kept_token_is_checked_again_after_a_minute() {
        let verified = Verified::default();
        verified.put("t", &caller_until(100_000), 30, 1, 1_000);
        assert!(verified.get("t", 1, 1_059).is_some());
        assert!(verified.get("t", 1, 1_060).is_none());
    }

    #[test]
    fn other_keys_forget_the_tokens_checked_with_the_old_ones() {
        let verified = Verified::default();
        verified.put("t", &caller_until(100_000), 30, 1, 1_000);
        assert!(verified.get("t", 2, 1_000).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_and_long_tokens_are_not_kept() {
        let verified = Verified::default();
        for i in 0..CAPACITY + 10 {
            verified.put(&format!("t{i}"), &caller_until(100_000), 30, 1, 1_000);
        }
        assert!(verified.len() <= CAPACITY);
        let long = "x".repeat(LONGEST + 1);
        verified.put(&long, &caller_until(100_000), 30, 1, 1_000);
        assert!(verified.get(&long, 1, 1_000).is_none());
    }

    #[test]
    fn a_token_that_expired_before_1970_is_not_kept() {
        let verified = Verified::default();
        verified.put("t", &caller_until(-5), 30, 1, 1_000);
        assert!(verified.get("t", 1, 1_000).is_none());
    }
}
