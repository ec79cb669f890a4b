//! A delivery's last error in a few words, for tables: `HTTP 503`,
//! `connection refused`, `timed out`. The stored text is the error kind
//! and the whole cause chain of the HTTP client's error (`connect: error
//! sending request for url (…): client error (Connect): tcp connect
//! error: Connection refused (os error 111)`), which says everything but
//! reads badly in a table cell; the summary is derived from it on the way
//! out, so deliveries recorded before it existed have one too. It only
//! shortens the stored text, which the API already returns.

use super::webhook::DISABLED_PREFIX;

/// The longest summary, in characters; longer texts are cut with `…`.
const MAX_CHARS: usize = 80;

/// What a network failure's cause chain says, most telling first: the
/// phrase to look for (lowercase) and the words to show.
const CAUSES: &[(&str, &str)] = &[
    ("connection refused", "connection refused"),
    ("connection reset", "connection reset"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("dns error", "host name not found"),
    ("failed to lookup address", "host name not found"),
    ("certificate", "TLS certificate not accepted"),
    ("handshake", "TLS handshake failed"),
    ("tls", "TLS failed"),
    (
        "connection closed before message completed",
        "connection closed early",
    ),
    ("incomplete message", "connection closed early"),
    ("timed out", "timed out"),
];

/// A one-line summary of a delivery's `last_error`; `None` for an empty one.
pub fn summarize(last_error: &str) -> Option<String> {
    let text = last_error.trim();
    if text.is_empty() {
        return None;
    }
    if text.starts_with(DISABLED_PREFIX) {
        return Some("cancelled: the service disabled the webhook".into());
    }
    let (kind, detail) = text.split_once(": ").unwrap_or((text, ""));
    let summary = match kind {
        "http_status" => format!("HTTP {}", detail.trim()),
        "timeout" => "timed out".into(),
        "blocked" => "blocked: not a public address".into(),
        "connect" => cause(detail).unwrap_or("could not connect").into(),
        "request" => cause(detail).unwrap_or("request failed").into(),
        _ => first_line(text),
    };
    Some(shorten(&summary))
}

/// The words for the first known cause found in `chain`.
fn cause(chain: &str) -> Option<&'static str> {
    let lower = chain.to_lowercase();
    CAUSES
        .iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .map(|(_, words)| *words)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> String {
        summarize(text).unwrap()
    }

    #[test]
    fn a_failing_status_is_its_number() {
        assert_eq!(summary("http_status: 503"), "HTTP 503");
        assert_eq!(summary("http_status: 404"), "HTTP 404");
    }

    #[test]
    fn a_connection_error_chain_is_its_root_cause() {
        let refused = "connect: error sending request for url (https://127.0.0.1:1/a): \
                       client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert_eq!(summary(refused), "connection refused");
        let dns = "connect: error sending request for url (https://nope.invalid/): client error \
                   (Connect): dns error: failed to lookup address information: Name or service not known";
        assert_eq!(summary(dns), "host name not found");
        let tls = "connect: error sending request for url (https://a.example/): client error \
                   (Connect): invalid peer certificate: UnknownIssuer";
        assert_eq!(summary(tls), "TLS certificate not accepted");
        assert_eq!(summary("connect: something new"), "could not connect");
    }

    #[test]
    fn timeouts_blocks_and_requests_have_their_words() {
        assert_eq!(
            summary(
                "timeout: error sending request for url (https://a.example/): operation timed out"
            ),
            "timed out"
        );
        assert_eq!(
            summary("blocked: a.example resolves only to private or reserved addresses"),
            "blocked: not a public address"
        );
        assert_eq!(
            summary("request: error sending request: connection closed before message completed"),
            "connection closed early"
        );
        assert_eq!(summary("request: odd"), "request failed");
    }

    #[test]
    fn a_delivery_cancelled_by_disabling_says_so() {
        let text =
            format!("{DISABLED_PREFIX}every delivery failed since …; last error: http_status: 503");
        assert_eq!(
            summary(&text),
            "cancelled: the service disabled the webhook"
        );
    }

    #[test]
    fn unknown_texts_are_cut_to_one_short_line() {
        assert_eq!(summary("something\nelse"), "something");
        let long = "x".repeat(200);
        let cut = summary(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(summarize("  "), None);
    }
}
