//! The endpoint a webhook delivers to.

use std::net::IpAddr;

use url::{Host, Url};

use super::network::is_public;

/// The longest URL we accept, in characters.
pub const MAX_URL_LEN: usize = 2048;

/// An absolute `https://` URL with a host and no credentials, which (unless
/// private targets are allowed) names no loopback or private address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

/// Why a URL is not acceptable as a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_URL_LEN} characters")]
    TooLong,
    #[error("must be an absolute URL such as https://example.com/webhooks")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must name a host")]
    NoHost,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("must not point to localhost or a private, loopback, link-local or reserved address")]
    PrivateTarget,
}

impl WebhookUrl {
    /// Parses and checks a caller's URL. `allow_private` admits loopback and
    /// private targets, for development and tests only.
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, UrlError> {
        if raw.is_empty() {
            return Err(UrlError::Empty);
        }
        if raw.chars().count() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| UrlError::Malformed)?;
        if url.scheme() != "https" {
            return Err(UrlError::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let host = url.host().ok_or(UrlError::NoHost)?;
        if !allow_private && !is_public_host(&host) {
            return Err(UrlError::PrivateTarget);
        }
        // Normalisation may lengthen the text (percent-encoding).
        if url.as_str().len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        Ok(Self(url))
    }

    /// Wraps a URL read back from the store, where it was checked on the way in.
    pub fn from_stored(raw: &str) -> Result<Self, url::ParseError> {
        Url::parse(raw).map(Self)
    }

    /// The URL in its normalised text form.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

/// False for IP literals outside public unicast space and for `localhost`
/// names. Other names are checked when they are resolved, at delivery time.
fn is_public_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_public(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_public(IpAddr::V6(*ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_public_https_urls() {
        for raw in [
            "https://example.com/hooks",
            "https://example.com:8443/a/b?c=d",
            "https://8.8.8.8/hook",
            "https://[2606:4700:4700::1111]/hook",
            "https://hooks.example.com",
        ] {
            assert!(
                WebhookUrl::parse(raw, false).is_ok(),
                "{raw} should be accepted"
            );
        }
    }

    #[test]
    fn rejects_each_bad_class_with_its_reason() {
        let too_long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let cases: &[(&str, UrlError)] = &[
            ("", UrlError::Empty),
            (&too_long, UrlError::TooLong),
            ("example.com/hook", UrlError::Malformed),
            ("/relative/path", UrlError::Malformed),
            ("https://", UrlError::Malformed),
            ("http://example.com/hook", UrlError::NotHttps),
            ("ftp://example.com/hook", UrlError::NotHttps),
            ("https://user:pass@example.com/", UrlError::Credentials),
            ("https://user@example.com/", UrlError::Credentials),
            ("https://localhost/hook", UrlError::PrivateTarget),
            ("https://LOCALHOST./hook", UrlError::PrivateTarget),
            ("https://api.localhost/hook", UrlError::PrivateTarget),
            ("https://127.0.0.1/hook", UrlError::PrivateTarget),
            ("https://127.1/hook", UrlError::PrivateTarget),
            ("https://2130706433/hook", UrlError::PrivateTarget),
            ("https://0x7f000001/hook", UrlError::PrivateTarget),
            ("https://0177.0.0.1/hook", UrlError::PrivateTarget),
            ("https://10.0.0.1/hook", UrlError::PrivateTarget),
            ("https://172.16.5.4/hook", UrlError::PrivateTarget),
            ("https://192.168.0.10/hook", UrlError::PrivateTarget),
            (
                "https://169.254.169.254/latest/meta-data",
                UrlError::PrivateTarget,
            ),
            ("https://100.64.1.1/hook", UrlError::PrivateTarget),
            ("https://224.0.0.1/hook", UrlError::PrivateTarget),
            ("https://255.255.255.255/hook", UrlError::PrivateTarget),
            ("https://0.0.0.0/hook", UrlError::PrivateTarget),
            ("https://[::1]/hook", UrlError::PrivateTarget),
            ("https://[::]/hook", UrlError::PrivateTarget),
            ("https://[fe80::1]/hook", UrlError::PrivateTarget),
            ("https://[fd00::1]/hook", UrlError::PrivateTarget),
            ("https://[ff02::1]/hook", UrlError::PrivateTarget),
            ("https://[::ffff:127.0.0.1]/hook", UrlError::PrivateTarget),
            ("https://[::ffff:a9fe:a9fe]/hook", UrlError::PrivateTarget),
        ];
        for (raw, want) in cases {
            assert_eq!(WebhookUrl::parse(raw, false).as_ref(), Err(want), "{raw}");
        }
    }

    #[test]
    fn a_nul_byte_never_reaches_the_stored_url() {
        for raw in [
            "https://example.com/a\0b",
            "https://example.com/?q=\0",
            "https://exa\0mple.com/",
        ] {
            if let Ok(url) = WebhookUrl::parse(raw, false) {
                assert!(!url.as_str().contains('\0'), "{raw:?} kept NUL");
            }
        }
    }

    #[test]
    fn the_development_setting_admits_private_targets_only() {
        assert!(WebhookUrl::parse("https://127.0.0.1:8443/hook", true).is_ok());
        assert!(WebhookUrl::parse("https://localhost/hook", true).is_ok());
        assert_eq!(
            WebhookUrl::parse("http://127.0.0.1/hook", true),
            Err(UrlError::NotHttps)
        );
    }
}
