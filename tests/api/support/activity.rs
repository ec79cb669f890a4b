//! Waiting on the delivery workers' activity (see
//! `webhook_service::delivery::Activity`) instead of sleeping: until they
//! hold what a test needs, or until they looked and found nothing to send.

use std::time::{Duration, Instant};

use webhook_service::delivery::Activity;

use super::TestApp;

impl TestApp {
    /// Waits until the workers' activity satisfies `what`, and returns it;
    /// panics after `limit`.
    pub async fn until(&self, what: impl FnMut(&Activity) -> bool, limit: Duration) -> Activity {
        let mut activity = self.activity.clone();
        match tokio::time::timeout(limit, activity.wait_for(what)).await {
            Ok(Ok(now)) => *now,
            Ok(Err(_)) => panic!("the delivery workers stopped"),
            Err(_) => panic!(
                "the workers never got there in {limit:?}: {:?}",
                *self.activity.borrow()
            ),
        }
    }

    /// Waits until a claim round that started after `instant` has finished
    /// and the workers are idle (nothing in flight, held or kept, no round
    /// running, no backlog): they looked, after `instant`, and found
    /// nothing to send. A round runs at the next wake-up or poll at the
    /// latest. Workers that may take nothing (another process holds the
    /// whole per-endpoint cap) run no round: idle is enough for them.
    /// Panics after `limit`.
    pub async fn quiet_after(&self, instant: Instant, limit: Duration) -> Activity {
        self.until(
            |a| {
                a.idle
                    && (!a.taking
                        || a.last_round_started
                            .is_some_and(|started| started > instant))
            },
            limit,
        )
        .await
    }
}
