//! Fetching an identity provider's JWK set: HTTPS (plain HTTP to a loopback
//! address only), a 5 s timeout, at most 1 MiB, no redirects.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{ACCEPT, CONTENT_LENGTH};
use url::{Host, Url};

/// The longest a fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest key set read; providers' are a few KiB.
const MAX_BYTES: usize = 1024 * 1024;

/// Where an identity provider publishes its keys: an `https://` URL, or
/// `http://` to a loopback address (a sidecar, tests). No user name or
/// password, since the URL is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrl(Url);

impl JwksUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not hold a user name or password".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(
                    "must be https; plain http is allowed only to a loopback address \
                     (127.0.0.1, [::1], localhost)"
                        .into(),
                );
            }
            other => return Err(format!("must be https, not {other}")),
        }
        Ok(Self(url))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Gets the set's document.
pub(super) struct Fetcher {
    url: JwksUrl,
    http: reqwest::Client,
}

impl Fetcher {
    /// `ca_file`: extra PEM roots trusted beside the web's (`JWT_JWKS_CA_FILE`).
    pub(super) fn new(url: JwksUrl, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let tls = crate::tls::client_config(ca_file, "JWT_JWKS_CA_FILE")?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // A redirect could lead to plain http; providers serve the set directly.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("webhook-service/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the JWKS HTTP client")?;
        Ok(Self { url, http })
    }

    pub(super) fn url(&self) -> &JwksUrl {
        &self.url
    }

    /// The document's bytes; a status other than 2xx, a body over 1 MiB or
    /// one not read within the timeout is an error.
    pub(super) async fn fetch(&self) -> anyhow::Result<Vec<u8>> {
        let url = &self.url;
        let mut response = self
            .http
            .get(url.0.clone())
            .header(ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await
            .with_context(|| format!("cannot fetch {url}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BYTES as u64) {
            bail!("{url} answered more than {MAX_BYTES} bytes");
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("cannot read the answer of {url}"))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                bail!("{url} answered more than {MAX_BYTES} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_are_accepted() {
        assert!(JwksUrl::parse("https://id.example.com/.well-known/jwks.json").is_ok());
    }

    #[test]
    fn plain_http_is_accepted_to_loopback_addresses_only() {
        for url in [
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost/jwks",
        ] {
            assert!(JwksUrl::parse(url).is_ok(), "{url}");
        }
        for url in [
            "http://id.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.com/jwks",
            "http://[::ffff:8.8.8.8]/jwks",
        ] {
            let err = JwksUrl::parse(url).unwrap_err();
            assert!(err.contains("loopback"), "{url}: {err}");
        }
    }

    #[test]
    fn other_schemes_credentials_and_non_urls_are_refused() {
        assert!(JwksUrl::parse("ftp://id.example.com/jwks").is_err());
        assert!(JwksUrl::parse("file:///etc/jwks.json").is_err());
        assert!(JwksUrl::parse("https://user:pw@id.example.com/jwks").is_err());
        assert!(JwksUrl::parse("id.example.com/jwks").is_err());
    }
}
