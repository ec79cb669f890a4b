//! A webhook's own headers on the wire: values are written in, and only
//! the plain ones read back.

use std::fmt;

use secrecy::SecretString;

use super::proto;
use crate::domain::headers::{HeaderInput, WebhookHeader};

/// The headers a request carried, their values wrapped as secrets at once.
pub(super) fn headers_from_wire(headers: Vec<proto::WebhookHeader>) -> Vec<HeaderInput> {
    headers
        .into_iter()
        .map(|h| HeaderInput {
            name: h.name,
            value: SecretString::from(h.value),
            plain: h.plain,
        })
        .collect()
}

/// The headers as a webhook shows them: a credential's value empty.
pub(super) fn headers_to_wire(headers: Vec<WebhookHeader>) -> Vec<proto::WebhookHeader> {
    headers
        .into_iter()
        .map(|h| proto::WebhookHeader {
            name: h.name,
            value: h.value.unwrap_or_default(),
            plain: h.plain,
        })
        .collect()
}

/// Written by hand (build.rs skips prost's): a value that is not plain
/// may be a credential, so only plain values are printed.
impl fmt::Debug for proto::WebhookHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Debug = if self.plain {
            &self.value
        } else {
            &"[REDACTED]"
        };
        f.debug_struct("WebhookHeader")
            .field("name", &self.name)
            .field("value", value)
            .field("plain", &self.plain)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_a_credential_s_name_but_never_its_value() {
        let header = |plain| proto::WebhookHeader {
            name: "authorization".into(),
            value: "Bearer xyz".into(),
            plain,
        };
        let hidden = format!("{:?}", header(false));
        assert!(
            hidden.contains("authorization") && !hidden.contains("xyz"),
            "{hidden}"
        );
        assert!(format!("{:?}", header(true)).contains("Bearer xyz"));
    }
}
