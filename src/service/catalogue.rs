//! The event catalogue as publishing reads it: each type read from the
//! store once, its schema compiled once, and kept until the type changes.
//!
//! Coherence across processes: every change commits with a NOTIFY naming
//! the type (PostgreSQL); each process listens and forgets that type, so
//! its next publish reads and compiles it again. While a process is not
//! listening (starting, or its listening connection lost) nothing is
//! served from its cache: each publish reads the store, and when the
//! listener is back everything cached before is forgotten. A read that
//! raced with a change is not kept (a generation count tells). On SQLite
//! the one process forgets a type itself when it changes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;

use super::ServiceError;
use crate::domain::schema::Schema;
use crate::domain::{EventType, EventTypeDef};
use crate::store::{Store, TypeChange};

/// A type of the catalogue with its schema compiled.
#[derive(Debug)]
pub struct Entry {
    pub def: EventTypeDef,
    pub schema: Option<Schema>,
}

/// The catalogue's types, cached; clones share the cache.
#[derive(Clone)]
pub struct Catalogue {
    store: Store,
    cache: Arc<Mutex<Cache>>,
}

struct Cache {
    entries: HashMap<EventType, Arc<Entry>>,
    /// Counts every forgetting: a read that began before one is not kept.
    generation: u64,
    /// Whether changes of other processes reach this one now.
    hearing: bool,
}

impl Catalogue {
    pub fn new(store: Store) -> Self {
        // SQLite has no other process to hear from.
        let hearing = store.is_sqlite();
        Self {
            store,
            cache: Arc::new(Mutex::new(Cache {
                entries: HashMap::new(),
                generation: 0,
                hearing,
            })),
        }
    }

    /// The type called `name`, archived or not; `None` when the catalogue
    /// has no such type.
    pub async fn entry(&self, name: &EventType) -> Result<Option<Arc<Entry>>, ServiceError> {
        let generation = {
            let cache = self.lock();
            if cache.hearing
                && let Some(entry) = cache.entries.get(name)
            {
                return Ok(Some(entry.clone()));
            }
            cache.generation
        };
        let Some(def) = self.store.get_event_type(name.as_str()).await? else {
            return Ok(None);
        };
        let schema = def
            .schema
            .as_ref()
            .map(Schema::compile)
            .transpose()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("the stored schema of {name} no longer compiles"))
            .map_err(ServiceError::Internal)?;
        let entry = Arc::new(Entry { def, schema });
        let mut cache = self.lock();
        if cache.hearing && cache.generation == generation {
            cache.entries.insert(name.clone(), entry.clone());
        }
        Ok(Some(entry))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This process changed (or created) the type: read it again next time.
    pub fn forget(&self, name: &EventType) {
        let mut cache = self.lock();
        cache.generation += 1;
        cache.entries.remove(name);
    }

    fn forget_all(&self, hearing: bool) {
        let mut cache = self.lock();
        cache.generation += 1;
        cache.entries.clear();
        cache.hearing = hearing;
    }

    /// Until `shutdown`, forgets the types other processes change. Returns
    /// at once where there are no other processes (SQLite).
    pub async fn watch(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let mut listener = match self.store.listen_for_type_changes().await {
                Ok(None) => return,
                Ok(Some(listener)) => listener,
                Err(err) => {
                    tracing::warn!(error = ?err, "cannot listen for event type changes; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = &mut shutdown => return,
                    }
                }
            };
            // Whatever changed while nobody listened.
            self.forget_all(true);
            loop {
                tokio::select! {
                    heard = listener.next() => match heard {
                        Ok(TypeChange::Named(name)) => match EventType::parse(&name) {
                            Ok(name) => self.forget(&name),
                            Err(_) => self.forget_all(true),
                        },
                        Ok(TypeChange::Unknown) | Err(_) => {
                            tracing::warn!("lost the event type change listener; reconnecting");
                            self.forget_all(false);
                            break;
                        }
                    },
                    _ = &mut shutdown => return,
                }
            }
        }
    }

    // Each critical section is a few map operations: the cache stays
    // consistent whatever panicked while holding the lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
