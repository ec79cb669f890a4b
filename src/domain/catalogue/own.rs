//! The schemas and examples of the built-in types this service publishes
//! itself (`webhook.created`, `webhook.disabled`): it knows their `data`,
//! so subscribers can read what to expect. The other built-in types are
//! published by the platform's services, whose `data` we do not know.

use serde_json::{Value, json};

/// The schema and example of a built-in type whose `data` this service
/// writes, if `name` is one.
pub fn documents(name: &str) -> Option<(Value, Value)> {
    let webhook = |extra: Value| {
        let mut properties = json!({
            "id": {"type": "string", "format": "uuid", "description": "The webhook's id."},
            "url": {"type": "string", "format": "uri", "description": "Where it delivers."}
        });
        let mut required = vec!["id", "url"];
        for (key, schema) in extra.as_object().into_iter().flatten() {
            properties[key] = schema.clone();
            required.push(key);
        }
        json!({
            "$schema": super::super::schema::DRAFT_2020_12,
            "type": "object",
            "required": required,
            "properties": properties
        })
    };
    match name {
        "webhook.created" => Some((
            webhook(json!({
                "events": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The event types it subscribes to."
                },
                "created_at": {"type": "string", "format": "date-time"}
            })),
            json!({
                "id": "01a21d27-1d45-7192-aa4d-b25e56ac779a",
                "url": "https://example.com/webhooks",
                "events": ["member.added", "invite.created"],
                "created_at": "2026-11-27T13:17:12.389Z"
            }),
        )),
        "webhook.disabled" => Some((
            webhook(json!({
                "reason": {
                    "type": "string",
                    "description": "Why it was disabled, with the last error."
                },
                "disabled_at": {"type": "string", "format": "date-time"}
            })),
            json!({
                "id": "01a21d27-1d45-7192-aa4d-b25e56ac779a",
                "url": "https://example.com/webhooks",
                "reason": "every delivery failed since 2026-11-27T13:17:12.389Z (longer than 5days); last error: http_status: 503",
                "disabled_at": "2026-12-02T13:20:00.000Z"
            }),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::check_published;
    use crate::domain::schema::Schema;
    use crate::domain::webhook::{Disabled, Webhook, created_event, disabled_event};
    use crate::domain::{EventType, OrganizationId, WebhookId, WebhookUrl};
    use chrono::Utc;

    #[test]
    fn what_the_service_publishes_meets_the_schemas_it_shows() {
        let webhook = Webhook {
            id: WebhookId::generate(),
            organization_id: OrganizationId::from_uuid(uuid::Uuid::new_v4()),
            url: WebhookUrl::parse("https://example.com/hook", false).unwrap(),
            events: vec![EventType::MEMBER_ADDED],
            description: String::new(),
            enabled: true,
            created_by: "alice".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            failing_since: None,
            disabled: None,
            rate_limit_per_second: 0,
            filter: None,
            ordering: crate::domain::Ordering::Unordered,
            retry_schedule: None,
            headers: Vec::new(),
            client_certificate: None,
            signature_scheme: crate::domain::SignatureScheme::HmacSha256,
            public_key: None,
            oauth2: None,
        };
        let disabled = Disabled {
            reason: "every delivery failed".into(),
            at: Utc::now(),
        };
        for event in [created_event(&webhook), disabled_event(&webhook, &disabled)] {
            let name = event.event.event_type.as_str();
            let (schema, example) = documents(name).unwrap();
            let schema = Schema::compile(&schema).unwrap();
            assert!(
                check_published(&schema, &event.event.data).is_ok(),
                "{name}"
            );
            assert!(check_published(&schema, &example).is_ok(), "{name}");
        }
        assert!(documents("member.added").is_none());
    }
}
