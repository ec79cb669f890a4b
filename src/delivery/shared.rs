//! The scheduler behind its one lock, watched: whoever changes it publishes
//! the workers' [`Activity`] as the lock is let go, so that a watcher (the
//! tests) waits for a state of the workers rather than sleeping.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::scheduler::{Activity, Scheduler};
use crate::store::Claimed;

/// The scheduler the workers and publishing share.
pub(super) struct Shared {
    scheduler: Mutex<Scheduler<Claimed>>,
    /// Places kept for hand-offs in transit (see `Wakeup::hand_off`):
    /// the counter the workers read, read here too.
    kept: Arc<AtomicUsize>,
    activity: watch::Sender<Activity>,
}

impl Shared {
    pub(super) fn new(scheduler: Scheduler<Claimed>, kept: Arc<AtomicUsize>) -> Arc<Self> {
        let (activity, _) = watch::channel(scheduler.activity(kept.load(Ordering::Relaxed)));
        Arc::new(Self {
            scheduler: Mutex::new(scheduler),
            kept,
            activity,
        })
    }

    pub(super) fn lock(&self) -> Guard<'_> {
        Guard {
            scheduler: self.scheduler.lock().expect("lock"),
            shared: self,
        }
    }

    /// Follows the activity from now on.
    pub(super) fn watch(&self) -> watch::Receiver<Activity> {
        self.activity.subscribe()
    }
}

/// The scheduler, locked; dropping it publishes what changed. `kept` moves
/// outside the lock too (a publish transaction that fails drops its place):
/// that shows at the next change, at the latest the next poll's round.
pub(super) struct Guard<'a> {
    scheduler: MutexGuard<'a, Scheduler<Claimed>>,
    shared: &'a Shared,
}

impl Deref for Guard<'_> {
    type Target = Scheduler<Claimed>;

    fn deref(&self) -> &Self::Target {
        &self.scheduler
    }
}

impl DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.scheduler
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // Under the lock still: published in the order the changes were made.
        let now = self
            .scheduler
            .activity(self.shared.kept.load(Ordering::Relaxed));
        self.shared.activity.send_if_modified(|current| {
            let changed = *current != now;
            *current = now;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::delivery::scheduler::{Limits, Shares};

    fn shared(kept: &Arc<AtomicUsize>) -> Arc<Shared> {
        let limits = Limits {
            max_in_flight: 4,
            reserve: 1,
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            turns_in_database: false,
        };
        Shared::new(Scheduler::new(limits, Shares::alone(2)), kept.clone())
    }

    #[test]
    fn letting_the_lock_go_publishes_what_changed_and_only_that() {
        let kept = Arc::new(AtomicUsize::new(0));
        let shared = shared(&kept);
        let mut watch = shared.watch();
        assert!(watch.borrow_and_update().idle);

        drop(shared.lock());
        assert!(!watch.has_changed().unwrap(), "nothing changed");

        kept.fetch_add(1, Ordering::Relaxed);
        drop(shared.lock());
        assert!(watch.has_changed().unwrap());
        let now = *watch.borrow_and_update();
        assert_eq!((now.kept, now.idle), (1, false));

        kept.fetch_sub(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut scheduler = shared.lock();
        assert!(scheduler.start_round(started).is_some());
        drop(scheduler);
        let now = *watch.borrow_and_update();
        assert_eq!(now.kept, 0);
        assert_eq!(now.last_round_started, Some(started));
        assert!(!now.idle, "a round is running");

        shared.lock().round_failed();
        let now = *watch.borrow_and_update();
        assert_eq!(now.rounds_finished, 1);
        assert!(now.idle);
    }
}
