//! An identity provider's published keys (`JWT_JWKS_URL`), cached.
//!
//! The set is fetched at start-up (the service does not start without it),
//! then again every `JWT_JWKS_REFRESH` in the background, and on demand
//! when a token names a `kid` the cache lacks, at most once per
//! [`MIN_REFETCH_INTERVAL`], so a key rotation at the provider needs no
//! restart and a flood of made-up `kid`s cannot turn into a flood of
//! fetches. One fetch runs at a time; verifications that need it wait for
//! it, all others go on with the cached set, which they read without
//! holding a lock across an await. A failed fetch keeps the last good set,
//! is logged and counted in [`JwksStats`].

mod fetch;
mod key_set;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::Algorithm;
use tokio::time::Instant;

pub use fetch::JwksUrl;
pub use key_set::KeySetError;
pub(crate) use key_set::VerificationKey;

use self::fetch::Fetcher;
use self::key_set::{KeySet, Selection};
use super::AuthError;
use super::verifier::TokenRules;

/// The least time between two fetches caused by unknown `kid`s.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Counters of the key set's fetches, for metrics.
#[derive(Debug, Default)]
pub struct JwksStats {
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
}

impl JwksStats {
    /// Fetches that installed a set, the one at start-up included.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Fetches that failed (the last good set stayed in use).
    pub fn refresh_failures(&self) -> u64 {
        self.refresh_failures.load(Ordering::Relaxed)
    }
}

/// The cached key set and what keeps it fresh.
pub struct Jwks {
    fetcher: Fetcher,
    rules: TokenRules,
    refresh: Duration,
    current: RwLock<Arc<KeySet>>,
    /// Held for the length of a fetch: one at a time. Inside, when the last
    /// fetch for an unknown `kid` began.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    stats: Arc<JwksStats>,
}

impl Jwks {
    /// Fetches the set at `url` once; fails when it cannot be fetched or
    /// holds no usable key. `refresh`: how often it is fetched again.
    pub async fn start(
        url: JwksUrl,
        ca_file: Option<&Path>,
        refresh: Duration,
        rules: TokenRules,
    ) -> anyhow::Result<Self> {
        let fetcher = Fetcher::new(url, ca_file)?;
        let document = fetcher.fetch().await?;
        let set = KeySet::parse(&document, &rules, 1)
            .with_context(|| format!("{} is not a usable key set", fetcher.url()))?;
        tracing::info!(url = %fetcher.url(), kids = ?set.kids(), "JWKS loaded");
        let stats = Arc::new(JwksStats::default());
        stats.refreshes.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            fetcher,
            rules,
            refresh,
            current: RwLock::new(Arc::new(set)),
            fetching: tokio::sync::Mutex::new(None),
            stats,
        })
    }

    /// The fetch counters.
    pub fn stats(&self) -> Arc<JwksStats> {
        self.stats.clone()
    }

    /// Which key set is in use: it changes with every set fetched.
    pub(crate) fn generation(&self) -> u64 {
        self.stats.refreshes()
    }

    /// Fetches the set every refresh interval until `stop` completes.
    pub async fn keep_fresh(&self, stop: impl Future<Output = ()>) {
        let refresh = async {
            loop {
                tokio::time::sleep(self.refresh).await;
                let _one_at_a_time = self.fetching.lock().await;
                self.fetch_and_install().await;
            }
        };
        tokio::select! {
            () = stop => {}
            () = refresh => {}
        }
    }

    /// The key that checks a token with this `kid` and `alg`.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerificationKey>, AuthError> {
        let set = self.current();
        match set.select(kid, alg) {
            Selection::Found(key) => return Ok(key.clone()),
            Selection::Refused(why) => return Err(AuthError::Invalid(why.into())),
            Selection::UnknownKid => {}
        }
        let set = self.refetch_for_unknown_kid(set.generation).await;
        match set.select(kid, alg) {
            Selection::Found(key) => Ok(key.clone()),
            Selection::Refused(why) => Err(AuthError::Invalid(why.into())),
            Selection::UnknownKid => Err(AuthError::Invalid("no key has the token's kid".into())),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A set at least as new as generation `seen`: a newer one fetched while
    /// waiting for the fetch in progress, or one fetched now, unless the
    /// last fetch for an unknown `kid` is too recent.
    async fn refetch_for_unknown_kid(&self, seen: u64) -> Arc<KeySet> {
        let mut last = self.fetching.lock().await;
        let current = self.current();
        if current.generation != seen {
            return current;
        }
        if last.is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL) {
            return current;
        }
        *last = Some(Instant::now());
        self.fetch_and_install().await;
        self.current()
    }

    /// Fetches and installs the set; on failure keeps the current one, logs
    /// why and counts it. The caller holds `fetching`.
    async fn fetch_and_install(&self) {
        let fetched = async {
            let document = self.fetcher.fetch().await?;
            KeySet::parse(&document, &self.rules, 0)
                .with_context(|| format!("{} is not a usable key set", self.fetcher.url()))
        };
        match fetched.await {
            Ok(set) => {
                self.install(set);
                self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.stats.refresh_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error = format!("{err:#}"),
                    "cannot refresh the JWKS; the last good key set stays in use"
                );
            }
        }
    }

    fn install(&self, mut set: KeySet) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        set.generation = current.generation + 1;
        if set.kids() != current.kids() {
            tracing::info!(url = %self.fetcher.url(), kids = ?set.kids(), "JWKS keys changed");
        }
        *current = Arc::new(set);
    }
}
