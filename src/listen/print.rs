//! How `listen` shows each request: a few lines of text for a person, or
//! one JSON object per line for a script (`--json`), written whole and
//! flushed at once so that a reader of a pipe sees each as it comes.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

use super::verify::Failure;

/// A request as it arrived, and what it was answered.
pub struct Delivery<'a> {
    pub time: DateTime<Utc>,
    pub method: &'a str,
    /// The path and query.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The status answered.
    pub status: u16,
    /// The signature check; `None` without `--secret`.
    pub verified: Option<Result<(), Failure>>,
}

impl Delivery<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, when it is.
    fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(self.body).ok()
    }

    /// `x-webhook-event`, else the body's `type`.
    fn event_type(&self, body: Option<&Value>) -> Option<String> {
        self.header("x-webhook-event")
            .map(str::to_owned)
            .or_else(|| body?.get("type")?.as_str().map(str::to_owned))
    }

    fn attempt(&self) -> Option<u64> {
        self.header("x-webhook-attempt")?.parse().ok()
    }

    /// One JSON object: what scripts read with `--json`.
    pub fn to_json(&self) -> Value {
        let body = self.json_body();
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), Value::String(value))
            })
            .collect();
        let (verified, reason) = match &self.verified {
            None => (Value::Null, Value::Null),
            Some(Ok(())) => (json!(true), Value::Null),
            Some(Err(failure)) => (json!(false), json!(failure.code())),
        };
        let mut object = json!({
            "time": self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "method": self.method,
            "path": self.path,
            "event_type": self.event_type(body.as_ref()),
            "webhook_id": self.header("webhook-id"),
            "attempt": self.attempt(),
            "status": self.status,
            "verified": verified,
            "reason": reason,
            "headers": headers,
        });
        if let Some(Err(failure)) = &self.verified {
            object["reason_text"] = json!(failure.to_string());
        }
        match body {
            Some(body) => object["body"] = body,
            None => object["body_text"] = json!(String::from_utf8_lossy(self.body)),
        }
        object
    }

    /// A heading line, the signature's verdict, and the body (indented
    /// JSON when it is JSON).
    pub fn to_text(&self) -> String {
        let body = self.json_body();
        let mut text = format!(
            "{}  {} {}  {}  webhook-id {}  attempt {}  -> {}\n",
            self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            self.method,
            self.path,
            self.event_type(body.as_ref()).as_deref().unwrap_or("-"),
            self.header("webhook-id").unwrap_or("-"),
            self.attempt().map_or("-".to_owned(), |n| n.to_string()),
            self.status,
        );
        match &self.verified {
            None => {}
            Some(Ok(())) => text.push_str("  signature: verified\n"),
            Some(Err(failure)) => text.push_str(&format!("  signature: NOT verified: {failure}\n")),
        }
        let shown = match &body {
            Some(body) => serde_json::to_string_pretty(body).unwrap_or_default(),
            None => String::from_utf8_lossy(self.body).into_owned(),
        };
        for line in shown.lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// Writes deliveries to stdout, as text or JSON lines.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
}

impl Printer {
    pub fn print(&self, delivery: &Delivery<'_>) {
        let text = if self.json {
            let mut line = delivery.to_json().to_string();
            line.push('\n');
            line
        } else {
            delivery.to_text()
        };
        // One write under the lock: requests answered at once never mix
        // their lines. A closed stdout is no reason to stop receiving.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (http::HeaderName::from_static(name), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn a_delivery_shows_its_event_id_attempt_verdict_and_body() {
        let headers = headers(&[
            ("webhook-id", "evt_1"),
            ("x-webhook-attempt", "2"),
            ("x-webhook-event", "member.added"),
        ]);
        let delivery = Delivery {
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            method: "POST",
            path: "/hooks",
            headers: &headers,
            body: br#"{"type":"member.added","data":{"user_id":"u_42"}}"#,
            status: 204,
            verified: Some(Err(Failure::Mismatch)),
        };
        let object = delivery.to_json();
        assert_eq!(object["event_type"], "member.added");
        assert_eq!(object["webhook_id"], "evt_1");
        assert_eq!(object["attempt"], 2);
        assert_eq!(object["verified"], false);
        assert_eq!(object["reason"], "mismatch");
        assert_eq!(object["body"]["data"]["user_id"], "u_42");
        assert_eq!(object["time"], "2023-11-14T22:13:20.000Z");

        let text = delivery.to_text();
        assert!(
            text.contains("POST /hooks  member.added  webhook-id evt_1  attempt 2  -> 204"),
            "{text}"
        );
        assert!(
            text.contains("NOT verified: no v1 or v1a signature matches"),
            "{text}"
        );
        assert!(text.contains("\"user_id\": \"u_42\""), "{text}");
    }

    #[test]
    fn a_body_that_is_not_json_is_shown_as_text() {
        let headers = HeaderMap::new();
        let delivery = Delivery {
            time: Utc::now(),
            method: "PUT",
            path: "/x?y=1",
            headers: &headers,
            body: b"hello",
            status: 200,
            verified: None,
        };
        let object = delivery.to_json();
        assert_eq!(object["body_text"], "hello");
        assert!(object["verified"].is_null() && object["attempt"].is_null());
        assert!(delivery.to_text().contains("  hello\n"));
    }
}
