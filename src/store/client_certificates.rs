//! Webhooks' client certificates in their rows: the chain in clear, the key
//! sealed, what reads show derived from the chain, and the identity a claim
//! carries to the sender.

use anyhow::{Context, anyhow};
use sea_orm::ActiveValue::Set;

use super::entities::webhook;
use super::secret_box::{OpenError, SecretBox};
use crate::domain::{ClientCertificate, ClientCertificateInfo, ClientIdentity, WebhookId};

/// The two columns for `certificate` (both NULL for none).
pub(super) fn columns(
    secrets: &SecretBox,
    id: WebhookId,
    certificate: Option<&ClientCertificate>,
) -> (Option<String>, Option<String>) {
    match certificate {
        Some(c) => (
            Some(c.chain_pem().to_owned()),
            Some(secrets.seal_client_key(id, c.key_pem())),
        ),
        None => (None, None),
    }
}

/// Sets the row's columns to `certificate` (or clears them).
pub(super) fn set(
    row: &mut webhook::ActiveModel,
    secrets: &SecretBox,
    id: WebhookId,
    certificate: Option<&ClientCertificate>,
) {
    let (chain, key) = columns(secrets, id, certificate);
    row.client_certificate_chain = Set(chain);
    row.client_certificate_key = Set(key);
}

/// What reads show of a row's certificate. The chain was checked on write,
/// so a chain that no longer parses is a corrupt row.
pub(super) fn stored_info(
    id: uuid::Uuid,
    chain: Option<&str>,
) -> anyhow::Result<Option<ClientCertificateInfo>> {
    chain
        .map(ClientCertificateInfo::of_chain)
        .transpose()
        .map_err(|e| anyhow!("webhook {id}: stored client certificate: {e}"))
}

/// The identity a claim of `row` presents; `Err(OpenError)` when its key
/// cannot be opened (the claim then waits, as for a secret).
pub(super) fn identity(
    secrets: &SecretBox,
    row: &webhook::Model,
) -> anyhow::Result<Option<ClientIdentity>> {
    let (Some(chain), Some(sealed)) = (&row.client_certificate_chain, &row.client_certificate_key)
    else {
        return Ok(None);
    };
    let key: Result<_, OpenError> = secrets.open_client_key(WebhookId::from_uuid(row.id), sealed);
    let key = key.context("cannot open the client certificate's key")?;
    Ok(Some(ClientIdentity::new(chain.clone(), key)))
}
