//! Secrets that keep signing after a rotation. Each rotation's previous
//! secret signs for the whole grace period, however many rotations follow,
//! so a receiver that has not deployed the newest secret yet still verifies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entities::webhook;

/// At most this many old secrets sign beside the current one; beyond it the
/// oldest stops, so that a burst of rotations cannot grow every request.
pub(super) const MAX_PREVIOUS: usize = 10;

/// One old secret, sealed as stored, and when it stops signing.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Previous {
    secret: String,
    until: DateTime<Utc>,
}

/// The sealed old secrets of `webhook` still in their grace period at `now`,
/// newest first.
pub(super) fn live_previous(
    webhook: &webhook::Model,
    now: DateTime<Utc>,
) -> Result<Vec<String>, anyhow::Error> {
    Ok(parse(webhook)?
        .into_iter()
        .filter(|p| p.until > now)
        .map(|p| p.secret)
        .collect())
}

/// The `previous_secrets` column after rotating away from `current` (sealed)
/// at `now`, keeping it until `until`: the live old secrets, newest first.
pub(super) fn rotated(
    webhook: &webhook::Model,
    current: String,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<String, anyhow::Error> {
    let mut list = vec![Previous {
        secret: current,
        until,
    }];
    list.extend(parse(webhook)?.into_iter().filter(|p| p.until > now));
    list.truncate(MAX_PREVIOUS);
    Ok(serde_json::to_string(&list)?)
}

fn parse(webhook: &webhook::Model) -> Result<Vec<Previous>, anyhow::Error> {
    match webhook.previous_secrets.as_deref() {
        None | Some("") => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "previous secrets of webhook {} are unreadable: {e}",
                webhook.id
            )
        }),
    }
}

/// The column for one old secret, for the migration from a single one.
pub(super) fn single(secret: String, until: DateTime<Utc>) -> String {
    serde_json::to_string(&[Previous { secret, until }]).expect("serializable")
}
