//! SendTestEvent's storing: a ping and its one delivery, to one webhook,
//! whatever it subscribed to and whatever its filter says.

use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};

use super::entities::webhook;
use super::events::{Published, Scheduling, bodies, insert_events};
use super::handoff::HandOff;
use super::routing::Filtered;
use super::scoped::Scoped;
use super::{Store, StoreError};
use crate::domain::{DeliveryId, NewEvent, Stopped, WebhookId};

impl Store {
    /// Stores `ping` and one delivery of it to `webhook` only, whatever the
    /// webhook subscribed to.
    pub async fn send_test_event(
        &self,
        webhook: WebhookId,
        ping: &NewEvent,
    ) -> Result<TestDelivery, StoreError> {
        let organization = ping.event.organization_id;
        let txn = self.write_transaction().await?;
        // Locked, as in publishing, so a concurrent delete cannot orphan it.
        let found = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(webhook.as_uuid()))
            .lock_shared()
            .one(&txn)
            .await?;
        match found {
            None => Ok(TestDelivery::NoSuchWebhook),
            Some(w) if !w.enabled => Ok(TestDelivery::Stopped(Stopped::of(w.disabled_reason))),
            Some(w) => {
                // Whatever its filter says, too.
                let scheduling = Scheduling {
                    new: ping,
                    body: bodies(&[ping]).remove(0),
                    webhooks: vec![&w],
                    // A ping tests the endpoint now, never in line.
                    ordered: false,
                };
                insert_events(&txn, std::slice::from_ref(&scheduling)).await?;
                // No quota: the ping waits in the store, and the wake that
                // follows its commit has it claimed at once.
                let (ids, handed_off) = self
                    .schedule(&txn, &[scheduling], &mut HandOff::none())
                    .await?
                    .remove(0);
                txn.commit().await?;
                Ok(TestDelivery::Scheduled {
                    published: Published {
                        event_id: ping.event.id,
                        event_type: ping.event.event_type.clone(),
                        deliveries: 1,
                        duplicate: false,
                        filtered: Filtered::default(),
                        handed_off,
                    },
                    delivery: ids[0],
                })
            }
        }
    }
}

/// What SendTestEvent did.
pub enum TestDelivery {
    NoSuchWebhook,
    /// The webhook is paused or disabled.
    Stopped(Stopped),
    /// The ping is stored with its one delivery.
    Scheduled {
        published: Published,
        delivery: DeliveryId,
    },
}
