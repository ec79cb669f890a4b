//! The most connections one listener holds at once. While every slot is
//! taken the listener accepts nothing, so new clients wait in the kernel's
//! listen queue (which costs the process no descriptor), and clients that
//! flood one listener leave the descriptors the others, the database and
//! deliveries need.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::WarningThrottle;

/// At most one warning per this long that a listener is full.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// A listener's connection slots.
#[derive(Debug)]
pub struct Slots {
    listener: &'static str,
    free: Arc<Semaphore>,
    max: usize,
    full: WarningThrottle,
}

impl Slots {
    /// `max` slots (at least one) for the listener called `listener` in the
    /// log.
    pub fn new(listener: &'static str, max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            listener,
            free: Arc::new(Semaphore::new(max)),
            max,
            full: WarningThrottle::new(FULL_WARNING_INTERVAL),
        }
    }

    /// A free slot, once there is one: held by a connection, it is free
    /// again when the connection drops it. Dropping the future takes none.
    pub async fn take(&mut self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.free.clone().try_acquire_owned() {
            return slot;
        }
        if let Some(times) = self.full.failed(Instant::now()) {
            tracing::warn!(
                listener = self.listener,
                max_connections = self.max,
                times,
                "listener full: new connections wait until one closes"
            );
        }
        self.free
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_is_free_again_once_dropped() {
        let mut slots = Slots::new("test", 1);
        let first = slots.take().await;
        let waiting = tokio::time::timeout(Duration::from_millis(20), slots.take()).await;
        assert!(waiting.is_err(), "no second slot while the first is held");
        drop(first);
        let again = tokio::time::timeout(Duration::from_secs(5), slots.take()).await;
        assert!(again.is_ok(), "the slot is taken again once freed");
    }
}
