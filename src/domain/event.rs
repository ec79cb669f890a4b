//! Something that happened in an organization, and the bytes sent for it.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;

use super::labels::{self, Labels};
use super::validation::no_nul;
use super::{EventId, EventType, OrderingKey, OrganizationId, TraceContext, Violations};

/// The largest `data` accepted, serialized.
pub const MAX_DATA_BYTES: usize = 256 * 1024;
/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
/// The deepest `data` accepted, in levels of objects and lists, `data`
/// itself the first: deep enough for any real event, shallow enough that
/// every layer that walks it (protobuf, JSON, the database) can.
pub const MAX_DATA_DEPTH: usize = 32;

/// An event, as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub organization_id: OrganizationId,
    pub event_type: EventType,
    pub timestamp: DateTime<Utc>,
    /// The publisher's labels (see [`labels::check`]), sorted by key; none
    /// for the events the service publishes itself.
    pub labels: Labels,
    /// A JSON object describing what happened.
    pub data: serde_json::Value,
}

/// A request to publish an event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: Event,
    /// Publishing twice with one key in one organization stores one event.
    pub idempotency_key: Option<String>,
    /// The sequence its deliveries to ordered webhooks join (empty: each
    /// such webhook's default one); unordered webhooks ignore it.
    pub ordering_key: OrderingKey,
    /// The trace it was published in, when traces are on: its deliveries
    /// continue it.
    pub trace: Option<TraceContext>,
}

impl NewEvent {
    /// Checks a publisher's request, reporting every field that is wrong.
    /// An empty `idempotency_key` means none.
    pub fn parse(
        organization_id: &str,
        event_type: &str,
        data: serde_json::Value,
        idempotency_key: String,
        labels: Labels,
        ordering_key: String,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let organization_id =
            violations.check("organization_id", OrganizationId::parse(organization_id));
        let event_type = violations.check("type", EventType::parse(event_type));
        violations.check("data", check_data(&data));
        if idempotency_key.chars().count() > MAX_IDEMPOTENCY_KEY {
            violations.add(
                "idempotency_key",
                format!("must be at most {MAX_IDEMPOTENCY_KEY} characters"),
            );
        }
        violations.check("idempotency_key", no_nul(&idempotency_key));
        labels::check(&labels, &mut violations);
        let ordering_key = violations.check("ordering_key", OrderingKey::parse(ordering_key));
        match (organization_id, event_type, ordering_key) {
            (Some(organization_id), Some(event_type), Some(ordering_key))
                if violations.is_empty() =>
            {
                Ok(Self {
                    event: Event {
                        labels,
                        ..Event::new(organization_id, event_type, data)
                    },
                    idempotency_key: (!idempotency_key.is_empty()).then_some(idempotency_key),
                    ordering_key,
                    trace: None,
                })
            }
            _ => Err(violations),
        }
    }
}

/// Checks the bounds every `data` keeps, whatever its type's schema says.
pub fn check_data(data: &serde_json::Value) -> Result<(), String> {
    let depth = depth(data);
    if depth > MAX_DATA_DEPTH {
        return Err(format!(
            "nests objects and lists {depth} levels deep; at most {MAX_DATA_DEPTH} are accepted"
        ));
    }
    let size = serde_json::to_vec(data).map_or(usize::MAX, |b| b.len());
    if size > MAX_DATA_BYTES {
        return Err(format!(
            "is {size} bytes serialized; at most {MAX_DATA_BYTES} are accepted"
        ));
    }
    Ok(())
}

/// How many objects and lists deep `value` nests, itself included: 0 for a
/// scalar, 1 for `{}`. Walked without recursion.
pub(super) fn depth(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    let mut deepest = 0;
    let mut stack = vec![(value, 1)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(fields) => Box::new(fields.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(level);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

#[derive(Serialize)]
struct Body<'a> {
    // UUIDs serialize as their hyphenated text, written without a String.
    id: uuid::Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    organization_id: uuid::Uuid,
    timestamp: String,
    // Only when there are some: the body of an event without labels stays
    // the bytes it was before labels existed, for receivers and benches.
    #[serde(skip_serializing_if = "Labels::is_empty")]
    labels: &'a Labels,
    data: &'a serde_json::Value,
}

impl Event {
    /// A new event that happens now.
    pub fn new(
        organization_id: OrganizationId,
        event_type: EventType,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: EventId::generate(),
            organization_id,
            event_type,
            timestamp: Utc::now().trunc_subsecs(6),
            labels: Labels::new(),
            data,
        }
    }

    /// The request body every delivery of this event sends, as compact JSON:
    /// `{"id", "type", "organization_id", "timestamp", "labels", "data"}`,
    /// `labels` only when the event has some.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&Body {
            id: self.id.as_uuid(),
            event_type: self.event_type.as_str(),
            organization_id: self.organization_id.as_uuid(),
            timestamp: self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            labels: &self.labels,
            data: &self.data,
        })
        .expect("JSON values always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "0b7e2d5c-8a4f-4c2e-9f61-3d2a1b0c9e8d";

    fn parse(data: serde_json::Value) -> Result<NewEvent, Violations> {
        NewEvent::parse(
            ORG,
            "member.added",
            data,
            String::new(),
            Labels::new(),
            String::new(),
        )
    }

    #[test]
    fn parse_checks_every_field() {
        let ok = parse(serde_json::json!({})).unwrap();
        assert_eq!(ok.idempotency_key, None);
        assert!(ok.event.labels.is_empty());
        let big = serde_json::json!({"blob": "x".repeat(MAX_DATA_BYTES)});
        let nul = NewEvent::parse(
            ORG,
            "member.added",
            serde_json::json!({}),
            "a\0b".into(),
            Labels::new(),
            String::new(),
        );
        assert_eq!(nul.unwrap_err().reported()[0].field, "idempotency_key");
        let bad_label = Labels::from([("Region".to_owned(), "eu".to_owned())]);
        let err = NewEvent::parse(
            "acme",
            "Member.Exploded",
            big,
            "k".repeat(256),
            bad_label,
            "o".repeat(129),
        )
        .unwrap_err();
        let fields: Vec<_> = err.reported().iter().map(|v| v.field.as_ref()).collect();
        assert_eq!(
            fields,
            [
                "organization_id",
                "type",
                "data",
                "idempotency_key",
                "labels",
                "ordering_key"
            ]
        );
    }

    #[test]
    fn parse_keeps_the_labels_and_checks_them_alone_too() {
        let labels = Labels::from([
            ("team".to_owned(), "core".to_owned()),
            ("region".to_owned(), "eu".to_owned()),
        ]);
        let ok = NewEvent::parse(
            ORG,
            "member.added",
            serde_json::json!({}),
            String::new(),
            labels.clone(),
            String::new(),
        )
        .unwrap();
        assert_eq!(ok.event.labels, labels);
        let long = Labels::from([("region".to_owned(), "x".repeat(257))]);
        let err = NewEvent::parse(
            ORG,
            "member.added",
            serde_json::json!({}),
            String::new(),
            long,
            String::new(),
        )
        .unwrap_err();
        assert_eq!(err.reported()[0].field, "labels/region");
    }

    #[test]
    fn data_nests_at_most_32_levels() {
        let nested = |levels: usize| {
            (1..levels).fold(
                serde_json::json!({"x": 1}),
                |inner, _| serde_json::json!({ "a": [0, inner] }),
            )
        };
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({})), 1);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
        // Each fold adds a list and an object: 2n - 1 levels.
        assert_eq!(depth(&nested(16)), 31);
        let ok = serde_json::json!({ "b": nested(16) });
        assert!(parse(ok).is_ok());
        let deep = serde_json::json!({ "b": [nested(16)] });
        let err = parse(deep).unwrap_err();
        assert_eq!(err.reported()[0].field, "data");
        assert_eq!(
            err.reported()[0].description,
            "nests objects and lists 33 levels deep; at most 32 are accepted"
        );
    }

    #[test]
    fn the_body_is_compact_json_with_the_documented_fields() {
        let org = OrganizationId::parse("0b7e2d5c-8a4f-4c2e-9f61-3d2a1b0c9e8d").unwrap();
        let event = Event::new(
            org,
            EventType::MEMBER_ADDED,
            serde_json::json!({"user": "u1"}),
        );
        let body = String::from_utf8(event.body()).unwrap();
        assert!(!body.contains(' '), "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["id"], event.id.to_string());
        assert_eq!(json["type"], "member.added");
        assert_eq!(json["organization_id"], org.to_string());
        assert_eq!(json["data"]["user"], "u1");
        let ts = json["timestamp"].as_str().unwrap();
        assert!(
            ts.ends_with('Z') && DateTime::parse_from_rfc3339(ts).is_ok(),
            "{ts}"
        );
        // Without labels, no `labels`: the body is what it was before them.
        let mut fields: Vec<&String> = json.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(
            fields,
            ["data", "id", "organization_id", "timestamp", "type"]
        );
    }

    #[test]
    fn labels_go_in_the_body_sorted_before_data_and_come_back_out() {
        let org = OrganizationId::parse(ORG).unwrap();
        let event = Event {
            labels: Labels::from([
                ("team".to_owned(), "core".to_owned()),
                ("region".to_owned(), "eu".to_owned()),
            ]),
            ..Event::new(org, EventType::MEMBER_ADDED, serde_json::json!({"n": 1}))
        };
        let body = String::from_utf8(event.body()).unwrap();
        assert!(
            body.contains(r#","labels":{"region":"eu","team":"core"},"data":{"n":1}}"#),
            "{body}"
        );
        assert_eq!(labels::in_body(&body), Some(event.labels));
    }
}
