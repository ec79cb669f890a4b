//! A webhook's own headers as its row holds them: a JSON list of
//! `{name, plain, value, len}` in the order given, each value sealed with
//! [`SecretBox::seal_header`] (bound to the webhook and the name) unless
//! plain. NULL for none.

use anyhow::{Context, anyhow};
use http::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::secret_box::SecretBox;
use crate::domain::WebhookId;
use crate::domain::headers::{HeaderSet, NewValue, WebhookHeader};

/// One header in the column.
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    plain: bool,
    /// Clear when `plain`, sealed otherwise.
    value: String,
    /// The value's length in bytes (the set's size limit counts kept values).
    len: usize,
}

/// The column's text for `set`, written for `webhook` whose column held
/// `current` (a kept value is taken from there, sealed if it was plain).
pub(super) fn to_stored(
    secrets: &SecretBox,
    webhook: WebhookId,
    set: &HeaderSet,
    current: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if set.is_empty() {
        return Ok(None);
    }
    let current = parse(webhook, current)?;
    let stored = set
        .entries()
        .iter()
        .map(|header| {
            let (value, len) = match &header.value {
                NewValue::Set(value) => {
                    let value = value.expose_secret();
                    (seal(secrets, webhook, &header.name, header.plain, value), value.len())
                }
                NewValue::Keep => {
                    // The service checked the name against the webhook it
                    // read before this transaction; only an update that
                    // committed in between can have removed it.
                    let kept = current.iter().find(|s| s.name == header.name).ok_or_else(|| {
                        anyhow!(
                            "webhook {webhook}: header {} to keep was removed by a concurrent update",
                            header.name
                        )
                    })?;
                    let value = match (kept.plain, header.plain) {
                        (true, false) => seal(secrets, webhook, &header.name, false, &kept.value),
                        (false, true) => {
                            return Err(anyhow!(
                                "webhook {webhook}: header {} was made sensitive by a concurrent update",
                                header.name
                            ));
                        }
                        _ => kept.value.clone(),
                    };
                    (value, kept.len)
                }
            };
            Ok(Stored {
                name: header.name.clone(),
                plain: header.plain,
                value,
                len,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(serde_json::to_string(&stored)?))
}

/// The headers as a webhook shows them: the values of plain ones only.
pub(super) fn shown(webhook: uuid::Uuid, text: Option<&str>) -> anyhow::Result<Vec<WebhookHeader>> {
    let webhook = WebhookId::from_uuid(webhook);
    Ok(parse(webhook, text)?
        .into_iter()
        .map(|s| WebhookHeader {
            value: s.plain.then_some(s.value),
            name: s.name,
            plain: s.plain,
            len: s.len,
        })
        .collect())
}

/// The headers ready to send, their values opened. Every value is marked
/// sensitive, so that `Debug` (of a claim, of a request) never prints it.
pub(super) fn opened(
    secrets: &SecretBox,
    webhook: WebhookId,
    text: Option<&str>,
) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
    parse(webhook, text)?
        .into_iter()
        .map(|s| {
            let name = HeaderName::from_bytes(s.name.as_bytes())
                .with_context(|| format!("webhook {webhook}: stored header name {:?}", s.name))?;
            let value = if s.plain {
                HeaderValue::from_str(&s.value)
            } else {
                let opened = secrets
                    .open_header(webhook, &s.name, &s.value)
                    .with_context(|| format!("header {name} of webhook {webhook}"))?;
                HeaderValue::from_str(opened.expose_secret())
            };
            let mut value = value
                .with_context(|| format!("webhook {webhook}: stored value of header {name}"))?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}

fn seal(secrets: &SecretBox, webhook: WebhookId, name: &str, plain: bool, value: &str) -> String {
    if plain {
        value.to_owned()
    } else {
        secrets.seal_header(webhook, name, value)
    }
}

fn parse(webhook: WebhookId, text: Option<&str>) -> anyhow::Result<Vec<Stored>> {
    text.map_or(Ok(Vec::new()), |text| {
        serde_json::from_str(text)
            .with_context(|| format!("webhook {webhook}: stored headers are not the JSON expected"))
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::domain::Violations;
    use crate::domain::headers::HeaderInput;

    fn set(headers: &[(&str, &str, bool)], current: Option<&[WebhookHeader]>) -> HeaderSet {
        let input: Vec<_> = headers
            .iter()
            .map(|&(name, value, plain)| HeaderInput {
                name: name.into(),
                value: SecretString::from(value),
                plain,
            })
            .collect();
        HeaderSet::parse(&input, current, &mut Violations::default()).unwrap()
    }

    #[test]
    fn sensitive_values_are_sealed_shown_masked_and_opened_to_send() {
        let secrets = SecretBox::new(Some([3; 32]));
        let id = WebhookId::generate();
        let written = set(
            &[
                ("Authorization", "Bearer xyz", false),
                ("x-tenant", "a", true),
            ],
            None,
        );
        let text = to_stored(&secrets, id, &written, None).unwrap().unwrap();
        assert!(!text.contains("xyz"), "{text}");
        let shown = shown(id.as_uuid(), Some(&text)).unwrap();
        assert_eq!(shown[0].name, "authorization");
        assert_eq!(shown[0].value, None);
        assert_eq!(shown[0].len, 10);
        assert_eq!(shown[1].value.as_deref(), Some("a"));
        let sent = opened(&secrets, id, Some(&text)).unwrap();
        assert_eq!(sent[0].0, "authorization");
        assert_eq!(sent[0].1, "Bearer xyz");
        assert!(!format!("{sent:?}").contains("xyz"));
        assert!(opened(&SecretBox::new(Some([4; 32])), id, Some(&text)).is_err());
        assert!(opened(&secrets, WebhookId::generate(), Some(&text)).is_err());
    }

    #[test]
    fn a_kept_value_is_carried_over_and_sealed_when_it_stops_being_plain() {
        let secrets = SecretBox::new(Some([3; 32]));
        let id = WebhookId::generate();
        let first = set(
            &[
                ("authorization", "Bearer xyz", false),
                ("x-tenant", "a", true),
            ],
            None,
        );
        let text = to_stored(&secrets, id, &first, None).unwrap().unwrap();
        let current = shown(id.as_uuid(), Some(&text)).unwrap();
        let second = set(
            &[("x-tenant", "", false), ("authorization", "", false)],
            Some(&current),
        );
        let text = to_stored(&secrets, id, &second, Some(&text))
            .unwrap()
            .unwrap();
        let sent = opened(&secrets, id, Some(&text)).unwrap();
        assert_eq!(
            sent[0],
            ("x-tenant".parse().unwrap(), HeaderValue::from_static("a"))
        );
        assert_eq!(sent[1].1, "Bearer xyz");
        assert_eq!(shown(id.as_uuid(), Some(&text)).unwrap()[0].value, None);
        assert_eq!(
            to_stored(&secrets, id, &HeaderSet::default(), Some(&text)).unwrap(),
            None
        );
    }
}
