//! `webhooks.v1.WebhookService`.

use tonic::{Request, Response, Status};

use super::proto::{self, webhook_service_server::WebhookService};
use crate::auth::caller;
use crate::service::Webhooks;

/// Serves `WebhookService` over the webhook use cases.
pub struct WebhookApi {
    webhooks: Webhooks,
}

impl WebhookApi {
    pub fn new(webhooks: Webhooks) -> Self {
        Self { webhooks }
    }
}

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook(
        &self,
        request: Request<proto::CreateWebhookRequest>,
    ) -> Result<Response<proto::CreateWebhookResponse>, Status> {
        let caller = caller(&request)?;
        let (webhook, secret) = self
            .webhooks
            .create(&caller, request.into_inner().into())
            .await?;
        Ok(Response::new(proto::CreateWebhookResponse {
            webhook: Some(webhook.into()),
            secret: secret.expose().to_owned(),
        }))
    }
}
