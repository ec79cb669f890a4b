//! `webhooks.v1.WebhookService`: each handler converts the request, calls the
//! use case, and converts the answer back.

use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::proto::{self, webhook_service_server::WebhookService};
use super::signing::{public_key_to_wire, secret_to_wire};
use crate::auth::caller;
use crate::service::{Deliveries, EventTypes, ListDeliveries, PortalLinks, Webhooks};

/// Serves `WebhookService` over the webhook, delivery, catalogue and portal
/// link use cases.
pub struct WebhookApi {
    webhooks: Webhooks,
    deliveries: Deliveries,
    event_types: EventTypes,
    portal: PortalLinks,
}

impl WebhookApi {
    pub fn new(
        webhooks: Webhooks,
        deliveries: Deliveries,
        event_types: EventTypes,
        portal: PortalLinks,
    ) -> Self {
        Self {
            webhooks,
            deliveries,
            event_types,
            portal,
        }
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook(
        &self,
        request: Request<proto::CreateWebhookRequest>,
    ) -> Answer<proto::CreateWebhookResponse> {
        let caller = caller(&request)?;
        let (webhook, secret) = self
            .webhooks
            .create(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::CreateWebhookResponse {
            secret: secret_to_wire(&webhook, &secret),
            public_key: public_key_to_wire(webhook.public_key.as_ref()),
            webhook: Some(webhook.into()),
        }))
    }

    async fn list_webhooks(
        &self,
        request: Request<proto::ListWebhooksRequest>,
    ) -> Answer<proto::ListWebhooksResponse> {
        let caller = caller(&request)?;
        let (webhooks, next) = self
            .webhooks
            .list(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::ListWebhooksResponse {
            webhooks: webhooks.into_iter().map(Into::into).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_webhook(
        &self,
        request: Request<proto::GetWebhookRequest>,
    ) -> Answer<proto::Webhook> {
        let caller = caller(&request)?;
        let webhook = self
            .webhooks
            .get(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(webhook.into()))
    }

    async fn update_webhook(
        &self,
        request: Request<proto::UpdateWebhookRequest>,
    ) -> Answer<proto::Webhook> {
        let caller = caller(&request)?;
        let webhook = self
            .webhooks
            .update(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(webhook.into()))
    }

    async fn delete_webhook(
        &self,
        request: Request<proto::DeleteWebhookRequest>,
    ) -> Answer<pbjson_types::Empty> {
        let caller = caller(&request)?;
        self.webhooks
            .delete(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<proto::RotateWebhookSecretRequest>,
    ) -> Answer<proto::RotateWebhookSecretResponse> {
        let caller = caller(&request)?;
        let (webhook, secret, expires) = self
            .webhooks
            .rotate_secret(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::RotateWebhookSecretResponse {
            secret: secret_to_wire(&webhook, &secret),
            public_key: public_key_to_wire(webhook.public_key.as_ref()),
            webhook: Some(webhook.into()),
            previous_secret_expires_at: Some(timestamp(expires)),
        }))
    }

    async fn list_deliveries(
        &self,
        request: Request<proto::ListDeliveriesRequest>,
    ) -> Answer<proto::ListDeliveriesResponse> {
        let caller = caller(&request)?;
        let listing = ListDeliveries::from(request.into_inner());
        let (deliveries, next) = self.deliveries.list(&caller, listing).await?;
        Ok(Response::new(proto::ListDeliveriesResponse {
            deliveries: deliveries.into_iter().map(Into::into).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn test_webhook_filter(
        &self,
        request: Request<proto::TestWebhookFilterRequest>,
    ) -> Answer<proto::TestWebhookFilterResponse> {
        let caller = caller(&request)?;
        let verdict = self
            .webhooks
            .test_filter(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::TestWebhookFilterResponse {
            matched: verdict.matched,
            error: verdict.error.unwrap_or_default(),
        }))
    }

    async fn get_webhook_stats(
        &self,
        request: Request<proto::GetWebhookStatsRequest>,
    ) -> Answer<proto::WebhookStats> {
        let caller = caller(&request)?;
        let stats = self
            .deliveries
            .webhook_stats(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(stats.into()))
    }

    async fn get_delivery(
        &self,
        request: Request<proto::GetDeliveryRequest>,
    ) -> Answer<proto::Delivery> {
        let caller = caller(&request)?;
        let delivery = self
            .deliveries
            .get(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(delivery.into()))
    }

    async fn retry_delivery(
        &self,
        request: Request<proto::RetryDeliveryRequest>,
    ) -> Answer<proto::Delivery> {
        let caller = caller(&request)?;
        let delivery = self
            .deliveries
            .retry(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(delivery.into()))
    }

    async fn recover_webhook(
        &self,
        request: Request<proto::RecoverWebhookRequest>,
    ) -> Answer<proto::RecoverWebhookResponse> {
        let caller = caller(&request)?;
        let scheduled = self
            .webhooks
            .recover(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::RecoverWebhookResponse {
            deliveries_scheduled: scheduled.try_into().unwrap_or(u32::MAX),
        }))
    }

    async fn send_test_event(
        &self,
        request: Request<proto::SendTestEventRequest>,
    ) -> Answer<proto::SendTestEventResponse> {
        let caller = caller(&request)?;
        let (event, delivery) = self
            .webhooks
            .send_test_event(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::SendTestEventResponse {
            delivery_id: delivery.to_string(),
            event_id: event.to_string(),
        }))
    }

    async fn list_event_types(
        &self,
        request: Request<proto::ListEventTypesRequest>,
    ) -> Answer<proto::ListEventTypesResponse> {
        let caller = caller(&request)?;
        let (types, next) = self
            .event_types
            .list(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::ListEventTypesResponse {
            event_types: types.into_iter().map(Into::into).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_event_type(
        &self,
        request: Request<proto::GetEventTypeRequest>,
    ) -> Answer<proto::EventTypeInfo> {
        let caller = caller(&request)?;
        let found = self
            .event_types
            .get(&caller, &request.into_inner().name)
            .await?;
        Ok(Response::new(found.into()))
    }

    async fn create_event_type(
        &self,
        request: Request<proto::CreateEventTypeRequest>,
    ) -> Answer<proto::EventTypeInfo> {
        let caller = caller(&request)?;
        let created = self
            .event_types
            .create(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(created.into()))
    }

    async fn update_event_type(
        &self,
        request: Request<proto::UpdateEventTypeRequest>,
    ) -> Answer<proto::EventTypeInfo> {
        let caller = caller(&request)?;
        let updated = self
            .event_types
            .update(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(updated.into()))
    }

    async fn create_portal_link(
        &self,
        request: Request<proto::CreatePortalLinkRequest>,
    ) -> Answer<proto::CreatePortalLinkResponse> {
        let caller = caller(&request)?;
        let link = self.portal.create(&caller, request.into_inner().into())?;
        Ok(Response::new(proto::CreatePortalLinkResponse {
            url: link.url,
            expires_at: Some(timestamp(link.expires_at)),
        }))
    }
}
