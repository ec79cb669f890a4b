//! How every delivery client is built, the shared one and those with a
//! client certificate alike: the same roots, SSRF guard, timeouts, no
//! redirects, and no proxy but the egress relay; only the TLS client
//! authentication differs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::domain::ClientIdentity;
use crate::domain::client_certificate::{parse_chain, parse_key};
use crate::domain::network::is_public;

/// What every delivery client shares.
pub(super) struct Settings {
    pub timeout: Duration,
    /// The web's roots and the operator's CA file, read once.
    pub roots: Arc<rustls::RootCertStore>,
    pub allow_private_targets: bool,
    pub idle_per_host: usize,
    /// The egress relay, when there is an egress proxy.
    pub proxy: Option<reqwest::Proxy>,
}

/// The resolver refused every address of a host.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or reserved addresses")]
pub(super) struct Blocked(String);

/// Resolves with the system resolver and drops every address that is not public.
struct GuardedResolver {
    allow_private_targets: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_targets;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let vetted: Vec<SocketAddr> = found.filter(|a| allow || is_public(a.ip())).collect();
            if vetted.is_empty() {
                return Err(Box::new(Blocked(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

/// The client without a client certificate, which webhooks without one share.
pub(super) fn shared(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    let tls = crate::tls::client_builder(settings.roots.clone())?.with_no_client_auth();
    http(settings, tls)
}

/// A client presenting `identity` in its TLS handshakes. Its connections
/// are its own: reqwest pools per client.
pub(super) fn with_identity(
    settings: &Settings,
    identity: &ClientIdentity,
) -> anyhow::Result<reqwest::Client> {
    // Checked when the webhook was written; a failure here means the row
    // changed under us, and the reason must not quote the key.
    let chain: Vec<CertificateDer<'static>> =
        parse_chain(identity.chain_pem()).map_err(|why| anyhow::anyhow!("the chain {why}"))?;
    let key: PrivateKeyDer<'static> =
        parse_key(identity.key_pem()).map_err(|why| anyhow::anyhow!("the key {why}"))?;
    let tls = crate::tls::client_builder(settings.roots.clone())?
        .with_client_auth_cert(chain, key)
        .context("the client certificate and key do not go together")?;
    http(settings, tls)
}

fn http(settings: &Settings, tls: rustls::ClientConfig) -> anyhow::Result<reqwest::Client> {
    let builder = match &settings.proxy {
        Some(proxy) => reqwest::Client::builder().proxy(proxy.clone()),
        None => reqwest::Client::builder().no_proxy(),
    };
    builder
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .pool_max_idle_per_host(settings.idle_per_host)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("webhook-service/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private_targets: settings.allow_private_targets,
        }))
        .build()
        .context("cannot build the HTTP client")
}
