//! `webhooks.v1.EventService`.

use tonic::{Request, Response, Status};

use super::proto::{self, event_service_server::EventService};
use crate::auth::caller;
use crate::service::Events;

/// Serves `EventService` over the publishing use case.
pub struct EventApi {
    events: Events,
}

impl EventApi {
    pub fn new(events: Events) -> Self {
        Self { events }
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    async fn publish_event(
        &self,
        request: Request<proto::PublishEventRequest>,
    ) -> Result<Response<proto::PublishEventResponse>, Status> {
        let caller = caller(&request)?;
        let published = self
            .events
            .publish(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::PublishEventResponse {
            event_id: published.event_id.to_string(),
            deliveries_scheduled: published.deliveries.try_into().unwrap_or(u32::MAX),
            duplicate: published.duplicate,
        }))
    }
}
