//! Whether this process should be sent calls: only while its database
//! answers and it is not draining. A monitor pings the database every
//! [`PING_INTERVAL`] over a connection of its own (a [`Probe`], outside the
//! pool, so that it never waits behind the calls' work); a stop signal turns
//! it off at once and for good. The gRPC health service reports it (see
//! `src/grpc/health/`), and the metric `webhook_database_up` each ping's
//! verdict.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::store::Probe;

/// How often the monitor pings the database.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long a ping (connecting included, when the probe has no connection)
/// may take before the database counts as unreachable. The probe waits
/// behind no one, so this only has to cover a slow network or a database
/// under heavy load; an interval and a timeout notice an outage within 3 s.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// This process's health, shared by the monitor, the shutdown path and the
/// health service.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// True while serving; what the health service reads and watches.
    serving: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    database_up: bool,
    draining: bool,
}

impl State {
    fn serving(self) -> bool {
        self.database_up && !self.draining
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Serving: the application is only built once its database answered.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    database_up: true,
                    draining: false,
                }),
                serving: watch::Sender::new(true),
            }),
        }
    }

    /// True while this process should be sent calls.
    pub fn is_serving(&self) -> bool {
        *self.inner.serving.borrow()
    }

    /// Sees every change of [`Health::is_serving`].
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.serving.subscribe()
    }

    /// Not serving from now on, whatever the database does: the process is
    /// stopping.
    pub fn drain(&self) {
        if self.update(|state| state.draining = true) {
            tracing::info!("draining: health NOT_SERVING");
        }
    }

    /// Records the outcome of a ping; logs only when it changes.
    fn database(&self, ping: Result<(), String>) {
        let up = ping.is_ok();
        let mut changed = false;
        let draining = {
            let mut state = self.lock();
            if state.database_up != up {
                state.database_up = up;
                changed = true;
            }
            state.draining
        };
        if !changed {
            return;
        }
        self.publish();
        match ping {
            Err(error) => tracing::warn!(%error, "database unreachable: health NOT_SERVING"),
            Ok(()) if draining => tracing::info!("database reachable again"),
            Ok(()) => tracing::info!("database reachable again: health SERVING"),
        }
    }

    /// Applies `change`; true when it turned serving off or on.
    fn update(&self, change: impl FnOnce(&mut State)) -> bool {
        change(&mut self.lock());
        self.publish()
    }

    /// Sends the state's verdict to the watchers; true when it changed.
    fn publish(&self) -> bool {
        // Under the lock, so two updates cannot publish in the wrong order.
        let state = self.lock();
        let serving = state.serving();
        self.inner
            .serving
            .send_if_modified(|published| std::mem::replace(published, serving) != serving)
    }

    // Each critical section is a field assignment or a read: the state is
    // consistent whatever panicked while holding the lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Pings the database through `probe` every [`PING_INTERVAL`] and tells
/// `health` and `metrics` whether it answered within [`PING_TIMEOUT`],
/// until `until_stopped` completes.
pub async fn monitor(
    health: Health,
    metrics: Metrics,
    mut probe: Probe,
    until_stopped: impl Future<Output = ()>,
) {
    let mut interval = tokio::time::interval(PING_INTERVAL);
    // A slow ping delays the next one rather than bunching them up.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(until_stopped);
    loop {
        let next = async {
            interval.tick().await;
            ping(&mut probe).await
        };
        tokio::select! {
            () = &mut until_stopped => return,
            outcome = next => {
                metrics.set_database_up(outcome.is_ok());
                health.database(outcome);
            }
        }
    }
}

/// Why a ping failed, when it did.
async fn ping(probe: &mut Probe) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, probe.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("{err:#}")),
        Err(_) => Err(format!("no answer within {PING_TIMEOUT:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_follows_the_database_until_draining_turns_it_off_for_good() {
        let health = Health::new();
        let mut watcher = health.subscribe();
        assert!(health.is_serving());

        health.database(Err("refused".into()));
        assert!(!health.is_serving());
        assert!(watcher.has_changed().unwrap());
        watcher.mark_unchanged();
        health.database(Err("refused again".into()));
        assert!(!watcher.has_changed().unwrap(), "no news, no message");

        health.database(Ok(()));
        assert!(health.is_serving());

        health.drain();
        assert!(!health.is_serving());
        health.database(Err("refused".into()));
        health.database(Ok(()));
        assert!(
            !health.is_serving(),
            "the database coming back does not undo draining"
        );
    }
}
