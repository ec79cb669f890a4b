//! The test app's RPCs as one-line calls, as its organization's OWNER.

use super::*;

impl TestApp {
    /// A valid token for this app's organization.
    pub fn token(&self, role: &str) -> String {
        self.token_for(self.organization, role)
    }

    /// A valid token for `organization`.
    pub fn token_for(&self, organization: Uuid, role: &str) -> String {
        hs256(&claims(organization, role))
    }

    /// A request to create a webhook in this app's organization.
    pub fn create_request(&self, url: &str, events: &[&str]) -> CreateWebhookRequest {
        CreateWebhookRequest {
            organization_id: self.organization.to_string(),
            url: url.to_owned(),
            events: events.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        }
    }

    /// ListWebhooks of this app's organization with `token`: passes with a
    /// valid token of an owner or admin of it.
    pub async fn list_webhooks_as(&self, token: &str) -> Result<(), Status> {
        let request = webhook_service::grpc::proto::ListWebhooksRequest {
            organization_id: self.organization.to_string(),
            ..Default::default()
        };
        self.webhooks()
            .await
            .list_webhooks(authorized(request, token))
            .await
            .map(|_| ())
    }

    /// The first page of ListWebhooks as an OWNER of this app's organization.
    pub async fn list_webhooks(&self) -> Vec<Webhook> {
        let request = webhook_service::grpc::proto::ListWebhooksRequest {
            organization_id: self.organization.to_string(),
            ..Default::default()
        };
        self.webhooks()
            .await
            .list_webhooks(authorized(request, &self.token("OWNER")))
            .await
            .expect("list webhooks")
            .into_inner()
            .webhooks
    }

    /// GetWebhook as an OWNER of this app's organization.
    pub async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook, Status> {
        let request = GetWebhookRequest {
            organization_id: self.organization.to_string(),
            webhook_id: webhook_id.to_owned(),
        };
        self.webhooks()
            .await
            .get_webhook(authorized(request, &self.token("OWNER")))
            .await
            .map(|r| r.into_inner())
    }

    /// UpdateWebhook as an OWNER of this app's organization: `organization_id`
    /// is filled in, the rest is `request`'s.
    pub async fn update_webhook(&self, request: UpdateWebhookRequest) -> Result<Webhook, Status> {
        let request = UpdateWebhookRequest {
            organization_id: self.organization.to_string(),
            ..request
        };
        self.webhooks()
            .await
            .update_webhook(authorized(request, &self.token("OWNER")))
            .await
            .map(|r| r.into_inner())
    }

    /// Pauses (`false`) or resumes (`true`) a webhook as an OWNER.
    pub async fn set_enabled(&self, webhook_id: &str, enabled: bool) -> Webhook {
        let webhook = self
            .update_webhook(UpdateWebhookRequest {
                webhook_id: webhook_id.to_owned(),
                enabled,
                update_mask: field_mask(&["enabled"]),
                ..Default::default()
            })
            .await
            .expect("update enabled");
        assert_eq!(webhook.enabled, enabled);
        webhook
    }

    /// GetDelivery as an OWNER of this app's organization.
    pub async fn get_delivery(&self, delivery_id: &str) -> Result<Delivery, Status> {
        let request = GetDeliveryRequest {
            organization_id: self.organization.to_string(),
            delivery_id: delivery_id.to_owned(),
        };
        self.webhooks()
            .await
            .get_delivery(authorized(request, &self.token("OWNER")))
            .await
            .map(|r| r.into_inner())
    }

    /// ListDeliveries as an OWNER of this app's organization (the first page,
    /// `organization_id` filled in).
    pub async fn list_deliveries(
        &self,
        request: ListDeliveriesRequest,
    ) -> Result<Vec<Delivery>, Status> {
        let request = ListDeliveriesRequest {
            organization_id: self.organization.to_string(),
            ..request
        };
        self.webhooks()
            .await
            .list_deliveries(authorized(request, &self.token("OWNER")))
            .await
            .map(|r| r.into_inner().deliveries)
    }

    /// The deliveries of one webhook, newest first.
    pub async fn deliveries_of(&self, webhook_id: &str) -> Vec<Delivery> {
        self.list_deliveries(ListDeliveriesRequest {
            webhook_id: webhook_id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("list deliveries")
    }

    /// Polls GetDelivery until `done` holds; panics after `limit` with the
    /// last state seen.
    pub async fn wait_for_delivery(
        &self,
        delivery_id: &str,
        limit: std::time::Duration,
        done: impl Fn(&Delivery) -> bool,
    ) -> Delivery {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let delivery = self.get_delivery(delivery_id).await.expect("get delivery");
            if done(&delivery) {
                return delivery;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "delivery never got there: {delivery:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Creates a webhook as an OWNER, or returns the status it failed with.
    pub async fn create_webhook(
        &self,
        request: CreateWebhookRequest,
    ) -> Result<CreateWebhookResponse, Status> {
        self.webhooks()
            .await
            .create_webhook(authorized(request, &self.token("OWNER")))
            .await
            .map(|r| r.into_inner())
    }
}
