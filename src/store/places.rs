//! A publishing transaction's places in ordered sequences: which of its
//! deliveries join one (an ordered webhook's, never a test event's), their
//! numbers, taken together in one upsert per batch, and which of them is a
//! head. The statements are in `sequences`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::StoreError;
use super::entities::webhook;
use super::events::Scheduling;
use super::sequences::{self, Numbered, Sequence};

/// Numbers the deliveries of `events` that join a sequence (those to
/// ordered webhooks of events that may be ordered), in event order.
pub(super) async fn places(
    txn: &impl ConnectionTrait,
    events: &[Scheduling<'_>],
    now: DateTime<Utc>,
) -> Result<Places, StoreError> {
    let mut counts: BTreeMap<Sequence, i64> = BTreeMap::new();
    for e in events {
        for w in &e.webhooks {
            if let Some(sequence) = sequence_of(e, w) {
                *counts.entry(sequence).or_default() += 1;
            }
        }
    }
    if counts.is_empty() {
        return Ok(Places::default());
    }
    let numbered = sequences::number(txn, &counts, now).await?;
    Ok(Places { numbered })
}

/// The sequence a delivery of `e` to `webhook` joins, if any: only an
/// ordered webhook's, and never a test event's.
fn sequence_of(e: &Scheduling<'_>, webhook: &webhook::Model) -> Option<Sequence> {
    (e.ordered && webhook.ordered).then(|| (webhook.id, e.new.ordering_key.as_str().to_owned()))
}

/// The numbers a publishing transaction took, handed out in event order.
#[derive(Default)]
pub(super) struct Places {
    numbered: HashMap<Sequence, Numbered>,
}

impl Places {
    /// The place of the next delivery of `e` to `webhook`, if it joins a
    /// sequence: the first of a sequence without pending deliveries is its
    /// head, every other one waits behind.
    pub(super) fn next_of(
        &mut self,
        e: &Scheduling<'_>,
        webhook: &webhook::Model,
    ) -> Option<Place> {
        let (webhook, key) = sequence_of(e, webhook)?;
        let numbered = self
            .numbered
            .get_mut(&(webhook, key.clone()))
            .expect("every sequence of the batch is numbered");
        let place = Place {
            key,
            sequence: numbered.first,
            behind: numbered.busy,
        };
        numbered.first += 1;
        numbered.busy = true;
        Some(place)
    }
}

/// A delivery's place in its sequence.
pub(super) struct Place {
    pub key: String,
    pub sequence: i64,
    pub behind: bool,
}
