//! A webhook's OAuth2 client credentials as stored: the settings as JSON in
//! `webhooks.oauth2`, the client secret sealed in `webhooks.oauth2_secret`,
//! bound to the webhook (and to this column: a sealed signing secret of the
//! same webhook does not open here).

use anyhow::{Context, anyhow};
use sea_orm::ActiveValue::Set;
use serde::{Deserialize, Serialize};

use super::entities::webhook;
use super::secret_box::SecretBox;
use crate::domain::oauth2::ClientSecret;
use crate::domain::{OAuth2Credentials, OAuth2Settings, OAuth2Write, WebhookId, WebhookUrl};

/// What the secret is sealed for, beside the webhook's id.
const PURPOSE: &str = "webhooks.oauth2_secret";

/// The JSON of `webhooks.oauth2`.
#[derive(Serialize, Deserialize)]
struct Stored {
    token_url: String,
    client_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
}

/// The text of `webhooks.oauth2` for `settings`.
pub(super) fn to_stored(settings: &OAuth2Settings) -> String {
    let stored = Stored {
        token_url: settings.token_url.as_str().to_owned(),
        client_id: settings.client_id.clone(),
        scopes: settings.scopes.clone(),
        audience: settings.audience.clone(),
    };
    serde_json::to_string(&stored).expect("strings serialize")
}

/// The settings `webhooks.oauth2` holds; `None` for a webhook without.
pub(super) fn stored_settings(row: &webhook::Model) -> anyhow::Result<Option<OAuth2Settings>> {
    let Some(text) = row.oauth2.as_deref() else {
        return Ok(None);
    };
    let parsed = || -> anyhow::Result<OAuth2Settings> {
        let stored: Stored = serde_json::from_str(text)?;
        Ok(OAuth2Settings {
            token_url: WebhookUrl::from_stored(&stored.token_url)?,
            client_id: stored.client_id,
            scopes: stored.scopes,
            audience: stored.audience,
        })
    };
    parsed()
        .map(Some)
        .with_context(|| format!("webhook {}: stored OAuth2 settings", row.id))
}

/// The sealed text of `secret` for `webhook`.
pub(super) fn seal(secrets: &SecretBox, webhook: WebhookId, secret: &ClientSecret) -> String {
    secrets.seal_text(PURPOSE, webhook, secret.expose())
}

/// The credentials a worker asks tokens with; `None` for a webhook
/// without. Fails when the secret cannot be opened (a key that is gone).
pub(super) fn credentials(
    secrets: &SecretBox,
    row: &webhook::Model,
) -> anyhow::Result<Option<OAuth2Credentials>> {
    let Some(settings) = stored_settings(row)? else {
        return Ok(None);
    };
    let sealed = row
        .oauth2_secret
        .as_deref()
        .ok_or_else(|| anyhow!("webhook {}: OAuth2 settings without a secret", row.id))?;
    let webhook = WebhookId::from_uuid(row.id);
    let secret = secrets.open_text(PURPOSE, webhook, sealed)?;
    Ok(Some(OAuth2Credentials {
        settings,
        client_secret: ClientSecret::new(secret),
    }))
}

/// Sets (or, with `None`, removes) a webhook's credentials in `row`; a
/// write without a secret keeps the stored one, which must be there.
pub(super) fn set(
    secrets: &SecretBox,
    webhook: WebhookId,
    row: &mut webhook::ActiveModel,
    change: Option<&OAuth2Write>,
) -> anyhow::Result<()> {
    let Some(write) = change else {
        row.oauth2 = Set(None);
        row.oauth2_secret = Set(None);
        return Ok(());
    };
    match &write.client_secret {
        Some(secret) => row.oauth2_secret = Set(Some(seal(secrets, webhook, secret))),
        None => {
            // The service checked there was one; removed since, by an
            // update that committed in between.
            let kept = row.oauth2_secret.try_as_ref().and_then(Option::as_ref);
            if kept.is_none() {
                return Err(anyhow!(
                    "webhook {webhook}: an OAuth2 update keeps a client secret it no longer has"
                ));
            }
        }
    }
    row.oauth2 = Set(Some(to_stored(&write.settings)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OAuth2Settings {
        OAuth2Settings {
            token_url: WebhookUrl::parse("https://auth.example.com/token", false).unwrap(),
            client_id: "id".into(),
            scopes: vec!["a".into(), "b:c".into()],
            audience: Some("api".into()),
        }
    }

    #[test]
    fn settings_read_back_as_written() {
        let text = to_stored(&settings());
        let stored: Stored = serde_json::from_str(&text).unwrap();
        assert_eq!(stored.client_id, "id");
        let row_settings = OAuth2Settings {
            scopes: Vec::new(),
            audience: None,
            ..settings()
        };
        let bare = to_stored(&row_settings);
        assert!(
            !bare.contains("scopes") && !bare.contains("audience"),
            "{bare}"
        );
    }

    #[test]
    fn the_secret_opens_for_its_webhook_and_column_only() {
        let secrets = SecretBox::new(Some([3; 32]));
        let id = WebhookId::generate();
        let sealed = seal(&secrets, id, &ClientSecret::new("cs".into()));
        assert!(!sealed.contains("cs"));
        assert_eq!(secrets.open_text(PURPOSE, id, &sealed).unwrap(), "cs");
        assert!(
            secrets
                .open_text(PURPOSE, WebhookId::generate(), &sealed)
                .is_err()
        );
        assert!(secrets.open(id, &sealed).is_err(), "not a signing secret");
    }
}
