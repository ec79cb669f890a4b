//! The console's Content-Security-Policy, and the one part of it that is
//! configured: who may frame the console (`frame-ancestors`), from
//! WEBHOOK_PORTAL_FRAME_ANCESTORS.

use std::fmt;

/// The setting that `FrameAncestors` comes from, named in its errors.
const SETTING: &str = "WEBHOOK_PORTAL_FRAME_ANCESTORS";

/// The sources allowed to frame the console: `'none'`, or a space-separated
/// list of `'self'`, scheme sources (`https:`) and host sources
/// (`https://app.example.com`, `*.example.com:8443`), without paths.
///
/// Checked strictly because it is written into a header: a `;` or `,` would
/// start another directive or policy, and a quoted keyword other than
/// `'self'` would loosen the policy in ways nobody meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAncestors(String);

impl Default for FrameAncestors {
    fn default() -> Self {
        Self("'none'".to_owned())
    }
}

impl FrameAncestors {
    /// The sources of `text`, normalised to single spaces; an error names
    /// the setting and the source at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let sources: Vec<&str> = text.split_ascii_whitespace().collect();
        if sources.is_empty() {
            return Err(format!(
                "{SETTING} is empty: give 'none' or a space-separated list of sources"
            ));
        }
        for source in &sources {
            check_source(source).map_err(|why| format!("{SETTING}: `{source}` {why}"))?;
        }
        if sources.len() > 1 && sources.contains(&"'none'") {
            return Err(format!(
                "{SETTING}: 'none' cannot be listed with other sources"
            ));
        }
        Ok(Self(sources.join(" ")))
    }

    /// True when no page may frame the console.
    pub fn is_none(&self) -> bool {
        self.0 == "'none'"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FrameAncestors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why `source` is not a CSP source expression the setting accepts.
fn check_source(source: &str) -> Result<(), &'static str> {
    if source.contains([';', ',']) {
        return Err("holds `;` or `,`, which would end the directive");
    }
    if source.contains(['\'', '"']) {
        return match source {
            "'self'" | "'none'" => Ok(()),
            _ => Err("is quoted, but only 'self' and 'none' are allowed"),
        };
    }
    if !source.is_ascii() || source.chars().any(|c| c.is_ascii_control()) {
        return Err("holds characters a source cannot have");
    }
    let (scheme, rest) = match source.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => match source.strip_suffix(':') {
            // A scheme source: `https:`.
            Some(scheme) if is_scheme(scheme) => return Ok(()),
            _ => (None, source),
        },
    };
    if scheme.is_some_and(|s| !is_scheme(s)) {
        return Err("has a scheme that is not one");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if port.is_some_and(|p| p != "*" && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))) {
        return Err("has a port that is not a number or `*`");
    }
    if host.contains('/') {
        return Err("has a path; give a scheme or host source without one");
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if host == "*" {
        return Ok(());
    }
    let labels_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !labels_ok {
        return Err(
            "is not a scheme source (`https:`) or a host source (`https://app.example.com`)",
        );
    }
    Ok(())
}

/// `https`, `chrome-extension`: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The policy of every console response: its own origin only, nothing
/// inline, framed only by `frame_ancestors`.
pub fn content_security_policy(frame_ancestors: &FrameAncestors) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_schemes_and_hosts_are_accepted_and_normalised() {
        for (given, kept) in [
            ("'none'", "'none'"),
            ("'self'", "'self'"),
            (
                "  https://app.example.com   'self' ",
                "https://app.example.com 'self'",
            ),
            ("https:", "https:"),
            (
                "*.example.com:8443 http://localhost:3000",
                "*.example.com:8443 http://localhost:3000",
            ),
            ("https://*.example.com:*", "https://*.example.com:*"),
            ("app.example.com 10.0.0.1", "app.example.com 10.0.0.1"),
        ] {
            let parsed = FrameAncestors::parse(given).unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(parsed.as_str(), kept);
        }
        assert!(FrameAncestors::default().is_none());
        assert!(!FrameAncestors::parse("'self'").unwrap().is_none());
    }

    #[test]
    fn anything_that_could_bend_the_header_is_refused_naming_the_setting() {
        for wrong in [
            "",
            "   ",
            "'self'; script-src *",
            "https://a.example.com,https://b.example.com",
            "'unsafe-inline'",
            "'strict-dynamic'",
            "'nonce-abc'",
            "\"self\"",
            "'none' https://app.example.com",
            "https://app.example.com/path",
            "https://app.example.com:80x",
            "https://app.example.com:",
            "1https://app.example.com",
            "https://",
            "https://-bad-.example.com",
            "https://exa_mple.com",
            "https://é.example.com",
            "data:text/html",
            "https://user@example.com",
        ] {
            let error = FrameAncestors::parse(wrong).expect_err(wrong);
            assert!(error.contains(SETTING), "{wrong}: {error}");
        }
    }

    #[test]
    fn the_policy_carries_the_frame_ancestors_and_nothing_inline() {
        let ancestors = FrameAncestors::parse("https://app.example.com 'self'").unwrap();
        assert_eq!(
            content_security_policy(&ancestors),
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; \
             frame-ancestors https://app.example.com 'self'"
        );
    }
}
