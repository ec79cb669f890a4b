//! What the settings make: the token verifier, the secrets' encryption key,
//! the delivery engine's and the listener's configuration, the TLS server
//! configuration. Each fails with a message naming the setting at fault.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::Parser;
use secrecy::{ExposeSecret, SecretString};

use super::{Cli, Command, ListenAddr, Settings};
use crate::auth::{ClaimNames, Jwks, JwtVerifier, PortalKey, TokenRules};
use crate::delivery::{DeliveryConfig, RetryPolicy};
use crate::grpc::MessageLimits;
use crate::grpc::listener::tls;
use crate::http::HttpLimits;
use crate::net::{ConnectionTimeouts, open_file_limit};
use crate::service::WebhookRules;

impl Settings {
    /// The token verifier the JWT settings describe. With JWT_JWKS_URL, the
    /// key set is fetched here: the service does not start without it.
    pub async fn jwt_verifier(&self) -> anyhow::Result<JwtVerifier> {
        let rules = TokenRules {
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        };
        let claims = ClaimNames {
            organization: self.jwt_org_claim.clone(),
            role: self.jwt_role_claim.clone(),
            scope: self.jwt_scope_claim.clone(),
        };
        match (
            &self.jwt_secret,
            &self.jwt_public_key_file,
            &self.jwt_jwks_url,
        ) {
            (Some(secret), None, None) => {
                let secret = secret.expose_secret();
                if secret.is_empty() {
                    bail!("JWT_SECRET is empty");
                }
                Ok(JwtVerifier::hs256(secret.as_bytes(), &rules, claims))
            }
            (None, Some(path), None) => {
                let pem = std::fs::read(path).with_context(|| {
                    format!("cannot read JWT_PUBLIC_KEY_FILE {}", path.display())
                })?;
                JwtVerifier::from_public_key_pem(&pem, &rules, claims)
                    .with_context(|| format!("JWT_PUBLIC_KEY_FILE {}", path.display()))
            }
            (None, None, Some(url)) => {
                if self.jwt_jwks_refresh.is_zero() {
                    bail!("JWT_JWKS_REFRESH must be longer than 0");
                }
                let ca_file = self.jwt_jwks_ca_file.as_deref();
                let jwks = Jwks::start(url.clone(), ca_file, self.jwt_jwks_refresh, rules)
                    .await
                    .context("JWT_JWKS_URL: cannot load the identity provider's keys")?;
                Ok(JwtVerifier::from_jwks(Arc::new(jwks), claims))
            }
            (None, None, None) => bail!(
                "no token verification key: set one of JWT_SECRET (HS256 shared secret), \
                 JWT_PUBLIC_KEY_FILE (PEM public key for RS256 or ES256) or \
                 JWT_JWKS_URL (an identity provider's JWK set)"
            ),
            _ => bail!("set only one of JWT_SECRET, JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL"),
        }
    }

    /// The 32-byte key from WEBHOOK_ENCRYPTION_KEY, if set.
    pub fn encryption_key(&self) -> anyhow::Result<Option<[u8; 32]>> {
        let Some(text) = &self.encryption_key else {
            return Ok(None);
        };
        let bytes = STANDARD
            .decode(text.expose_secret().trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .context("WEBHOOK_ENCRYPTION_KEY must be the standard base64 of 32 bytes")?;
        Ok(Some(bytes))
    }

    /// The portal key from WEBHOOK_PORTAL_KEY, if set: at least 32 bytes,
    /// and not JWT_SECRET (a portal token must never pass for a token of
    /// the identity provider, nor the other way round).
    pub fn portal_key(&self) -> anyhow::Result<Option<PortalKey>> {
        let Some(key) = &self.portal_key else {
            return Ok(None);
        };
        let key = key.expose_secret();
        if let Some(jwt_secret) = &self.jwt_secret
            && jwt_secret.expose_secret() == key
        {
            bail!("WEBHOOK_PORTAL_KEY must differ from JWT_SECRET");
        }
        let key = PortalKey::new(key.as_bytes().to_vec()).context("WEBHOOK_PORTAL_KEY")?;
        Ok(Some(key))
    }

    /// The longest a portal link may work: a second at least, since links
    /// last whole seconds.
    pub fn portal_max_ttl(&self) -> anyhow::Result<Duration> {
        if self.portal_max_ttl < Duration::from_secs(1) {
            bail!("WEBHOOK_PORTAL_MAX_TTL must be at least 1s");
        }
        Ok(self.portal_max_ttl)
    }

    /// How often the backlog gauges are read: 10ms at least, so that a
    /// slip of the unit cannot turn the refresh into a busy loop on the
    /// database.
    pub fn metrics_backlog_refresh(&self) -> anyhow::Result<Duration> {
        if self.metrics_backlog_refresh < Duration::from_millis(10) {
            bail!("WEBHOOK_METRICS_BACKLOG_REFRESH must be at least 10ms");
        }
        Ok(self.metrics_backlog_refresh)
    }

    /// The delivery engine's settings.
    pub fn delivery(&self) -> anyhow::Result<DeliveryConfig> {
        let schedule = RetryPolicy::parse_schedule(&self.retry_schedule)
            .map_err(|e| anyhow::anyhow!("WEBHOOK_RETRY_SCHEDULE: {e}"))?;
        let lease = self.lease.unwrap_or(self.timeout + Duration::from_secs(30));
        if lease <= self.timeout {
            bail!("WEBHOOK_LEASE must be longer than WEBHOOK_TIMEOUT");
        }
        if self.heartbeat_interval < Duration::from_millis(10) {
            bail!("WEBHOOK_HEARTBEAT_INTERVAL must be at least 10ms");
        }
        Ok(DeliveryConfig {
            timeout: self.timeout,
            ca_file: self.ca_file.clone(),
            egress_proxy: self.egress_proxy.clone(),
            propagate_trace: self.propagate_trace,
            allow_private_targets: self.allow_private_targets,
            retry: RetryPolicy::new(schedule, self.max_retry_after),
            max_in_flight: self.max_in_flight as usize,
            max_per_endpoint: self.max_per_endpoint as usize,
            poll_interval: self.poll_interval,
            lease,
            heartbeat_interval: self.heartbeat_interval,
            shutdown_grace: self.shutdown_grace,
            disable_after: self.disable_after,
        })
    }

    /// How webhooks may be registered.
    pub fn webhook_rules(&self) -> WebhookRules {
        WebhookRules {
            allow_private_targets: self.allow_private_targets,
            secret_grace: self.secret_grace,
            max_per_organization: self.max_webhooks_per_organization.into(),
        }
    }

    /// The largest request message of each RPC.
    pub fn message_limits(&self) -> MessageLimits {
        MessageLimits {
            publish_event: self.max_event_message_bytes as usize,
            other: self.max_message_bytes as usize,
        }
    }

    /// When a server closes a connection on its own.
    pub fn connection_timeouts(&self) -> anyhow::Result<ConnectionTimeouts> {
        // Zero would close every connection before its first byte.
        if self.handshake_timeout.is_zero() {
            bail!("WEBHOOK_HANDSHAKE_TIMEOUT must be longer than 0");
        }
        if self.idle_timeout.is_zero() {
            bail!("WEBHOOK_IDLE_TIMEOUT must be longer than 0");
        }
        Ok(ConnectionTimeouts {
            handshake: self.handshake_timeout,
            idle: self.idle_timeout,
        })
    }

    /// How the plain-HTTP listeners (REST, metrics) treat connections: the
    /// same timeouts as gRPC, and at most WEBHOOK_HTTP_MAX_CONNECTIONS
    /// each, by default a quarter of the open-file limit (read after it has
    /// been raised), so that together they leave half the descriptors to
    /// gRPC, the database and deliveries.
    pub fn http_limits(&self) -> anyhow::Result<HttpLimits> {
        Ok(HttpLimits {
            timeouts: self.connection_timeouts()?,
            max_connections: self
                .http_max_connections
                .map_or_else(quarter_of_the_descriptors, |max| max as usize),
        })
    }

    /// At most WEBHOOK_GRPC_MAX_CONNECTIONS connections on the gRPC
    /// listener, by default a quarter of the open-file limit (read after
    /// it has been raised): with the plain-HTTP listeners' quarters, a
    /// quarter is left for the database and deliveries whatever clients do.
    pub fn grpc_max_connections(&self) -> usize {
        self.grpc_max_connections
            .map_or_else(quarter_of_the_descriptors, |max| max as usize)
    }

    /// Refuses a REST face listening on every interface (`0.0.0.0`,
    /// `[::]`) without WEBHOOK_PUBLIC_URL: portal links made from the
    /// address bound would point browsers at `http://0.0.0.0:...`.
    pub fn check_public_url(&self) -> anyhow::Result<()> {
        if let Some(address) = self.http_addr.address()
            && address.ip().is_unspecified()
            && self.public_url.is_none()
        {
            bail!(
                "WEBHOOK_HTTP_ADDR {address} listens on every interface, so portal links \
                 cannot name it: set WEBHOOK_PUBLIC_URL to the URL browsers reach the \
                 REST face at (such as https://webhooks.example.com)"
            );
        }
        Ok(())
    }

    /// The listener's TLS configuration; `None` serves plaintext.
    pub fn tls(&self) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        let (cert_file, key_file) = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert_file), Some(key_file)) => (cert_file, key_file),
            (None, None) if self.tls_client_ca_file.is_some() => bail!(
                "WEBHOOK_TLS_CLIENT_CA_FILE (mutual TLS) needs WEBHOOK_TLS_CERT_FILE \
                 and WEBHOOK_TLS_KEY_FILE as well"
            ),
            (None, None) => return Ok(None),
            (Some(_), None) => bail!(
                "WEBHOOK_TLS_CERT_FILE is set but WEBHOOK_TLS_KEY_FILE is not: set both or neither"
            ),
            (None, Some(_)) => bail!(
                "WEBHOOK_TLS_KEY_FILE is set but WEBHOOK_TLS_CERT_FILE is not: set both or neither"
            ),
        };
        let chain = tls::read_certificates(cert_file).context("WEBHOOK_TLS_CERT_FILE")?;
        let key = tls::read_private_key(key_file).context("WEBHOOK_TLS_KEY_FILE")?;
        let client_verifier = self
            .tls_client_ca_file
            .as_deref()
            .map(|path| {
                tls::read_certificates(path)
                    .and_then(tls::client_verifier)
                    .context("WEBHOOK_TLS_CLIENT_CA_FILE")
            })
            .transpose()?;
        let config = tls::server_config(chain, key, client_verifier)
            .context("WEBHOOK_TLS_CERT_FILE and WEBHOOK_TLS_KEY_FILE")?;
        Ok(Some(config))
    }

    /// Settings for tests and embedding: every default, with `database_url`
    /// and an HS256 `jwt_secret`.
    pub fn for_tests(database_url: &str, jwt_secret: &str) -> Self {
        let Command::Serve(settings) = Cli::parse_from(["webhook-service", "serve"]).command else {
            unreachable!("`serve` parses as Serve")
        };
        let mut settings = *settings;
        settings.listen_addr = "127.0.0.1:0".parse().expect("valid address");
        settings.metrics_addr = ListenAddr::At("127.0.0.1:0".parse().expect("valid address"));
        settings.http_addr = ListenAddr::At("127.0.0.1:0".parse().expect("valid address"));
        settings.database_url = database_url.to_owned();
        settings.jwt_secret = Some(SecretString::from(jwt_secret));
        settings
    }
}

/// A quarter of the open-file limit now in force (no bound without one),
/// at most what a semaphore holds.
fn quarter_of_the_descriptors() -> usize {
    open_file_limit()
        .map_or(usize::MAX, |limit| {
            usize::try_from(limit / 4).unwrap_or(usize::MAX).max(1)
        })
        .min(tokio::sync::Semaphore::MAX_PERMITS)
}
