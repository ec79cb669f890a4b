//! Hearing of webhook edits other processes commit (PostgreSQL NOTIFY), so
//! that deliveries held in memory and read before are not sent as they are
//! (the scheduler's `edits` keeps when each webhook was edited).

use std::time::Duration;

use super::Wakeup;
use crate::store::{Change, Store};

/// Until `shutdown`, passes the changes other processes announce to the
/// workers. Returns at once where there are no other processes (SQLite).
pub(super) async fn watch(
    store: Store,
    wakeup: Wakeup,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut listener = None;
    loop {
        if listener.is_none() {
            match store.listen_for_changes().await {
                Ok(None) => return,
                Ok(Some(connected)) => {
                    // Whatever changed while nobody listened.
                    wakeup.changed(Change::Unknown);
                    listener = Some(connected);
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "cannot listen for webhook changes; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = &mut shutdown => return,
                    }
                }
            }
        }
        let Some(connected) = listener.as_mut() else {
            continue;
        };
        tokio::select! {
            heard = connected.next() => match heard {
                Ok(change) => wakeup.changed(change),
                Err(err) => {
                    tracing::warn!(error = ?err, "lost the webhook change listener; reconnecting");
                    listener = None;
                }
            },
            _ = &mut shutdown => return,
        }
    }
}
