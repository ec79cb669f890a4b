//! A webhook's OAuth2 client credentials in its create and update: checked
//! in the domain; an update that keeps the stored secret must have one.

use super::*;
use crate::domain::{OAuth2Credentials, OAuth2Write};

/// The credentials a create asks for: `None` when it carries none.
pub(super) fn oauth2_of_create(
    request: &CreateWebhook,
    allow_private_targets: bool,
) -> Result<Option<OAuth2Credentials>, Violations> {
    let Some(fields) = &request.oauth2 else {
        return Ok(None);
    };
    // A create has no secret to keep: an empty one is refused.
    let write = OAuth2Write::parse(fields, allow_private_targets, false)?;
    Ok(write.into_credentials())
}

impl Webhooks {
    /// Refuses an update that keeps the stored client secret (it left it
    /// empty) of a webhook that has none to keep.
    pub(super) async fn check_kept_secret(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        changes: &WebhookChanges,
    ) -> Result<(), ServiceError> {
        let Some(Some(write)) = &changes.oauth2 else {
            return Ok(());
        };
        if write.client_secret.is_some() {
            return Ok(());
        }
        let current = self
            .publisher
            .store()
            .get_webhook(organization, id)
            .await?
            .ok_or(ServiceError::NotFound(NOT_FOUND))?;
        if current.oauth2.is_some() {
            return Ok(());
        }
        let mut violations = Violations::default();
        violations.add(
            "oauth2.client_secret",
            "must not be empty: the webhook has no OAuth2 client secret to keep",
        );
        Err(violations.into())
    }
}
