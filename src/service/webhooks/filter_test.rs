//! TestWebhookFilter: a filter evaluated on a sample event, as publishing
//! would, with nothing stored or sent.

use super::*;
use crate::domain::event::check_data;
use crate::domain::filter::{EventView, Filter};
use crate::domain::labels::{self, Labels};

/// Asks to evaluate a webhook's filter, or one being written, on a sample
/// event; not yet validated.
#[derive(Debug, Clone)]
pub struct TestWebhookFilter {
    pub organization_id: String,
    /// Empty when `filter` is given.
    pub webhook_id: String,
    /// Empty when `webhook_id` is given.
    pub filter: String,
    pub event_type: String,
    pub labels: Labels,
    /// A JSON object.
    pub data: serde_json::Value,
}

/// What a filter made of a sample event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterVerdict {
    /// It evaluated to true: the event would be delivered.
    pub matched: bool,
    /// Why it failed on the event, which publishing counts as no match.
    pub error: Option<String>,
}

impl Webhooks {
    pub async fn test_filter(
        &self,
        caller: &Caller,
        request: TestWebhookFilter,
    ) -> Result<FilterVerdict, ServiceError> {
        let organization = authorized(caller, Action::TestWebhookFilter, &request.organization_id)?;
        let mut violations = Violations::default();
        let given = match (request.webhook_id.is_empty(), request.filter.is_empty()) {
            (true, true) => {
                violations.add("filter", "give a filter, or the webhook_id of a webhook");
                None
            }
            (false, false) => {
                violations.add("filter", "give a filter or a webhook_id, not both");
                None
            }
            (true, false) => violations
                .check("filter", Filter::parse(&request.filter))
                .map(Given::Filter),
            (false, true) => violations
                .check("webhook_id", WebhookId::parse(&request.webhook_id))
                .map(Given::Webhook),
        };
        let event_type = violations.check("type", EventType::parse(&request.event_type));
        labels::check(&request.labels, &mut violations);
        violations.check("data", check_data(&request.data));
        let (given, event_type) = match (given, event_type) {
            (Some(given), Some(event_type)) if violations.is_empty() => (given, event_type),
            _ => return Err(violations.into()),
        };
        let filter = match given {
            Given::Filter(filter) => filter,
            Given::Webhook(id) => {
                let webhook = self
                    .publisher
                    .store()
                    .get_webhook(organization, id)
                    .await?
                    .ok_or(ServiceError::NotFound(NOT_FOUND))?;
                let Some(source) = webhook.filter else {
                    return Ok(FilterVerdict {
                        matched: true,
                        error: None,
                    });
                };
                // Compiled when written; stricter rules since fail as
                // publishing fails: no match, with the reason.
                match Filter::parse(&source) {
                    Ok(filter) => filter,
                    Err(err) => {
                        return Ok(FilterVerdict {
                            matched: false,
                            error: Some(err.to_string()),
                        });
                    }
                }
            }
        };
        let organization = organization.to_string();
        let view = EventView::new(
            &organization,
            event_type.as_str(),
            &request.labels,
            &request.data,
        );
        Ok(match filter.matches(&view) {
            Ok(matched) => FilterVerdict {
                matched,
                error: None,
            },
            Err(err) => FilterVerdict {
                matched: false,
                error: Some(err.to_string()),
            },
        })
    }
}

/// What the filter to evaluate was named by.
enum Given {
    Filter(Filter),
    Webhook(WebhookId),
}
