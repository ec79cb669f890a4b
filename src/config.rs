//! Settings: each one a command-line flag with an environment variable and a
//! documented default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{ClaimNames, ClaimPath, Jwks, JwksUrl, JwtVerifier, TokenRules};
use crate::delivery::{DeliveryConfig, RetryPolicy};
use crate::domain::OrganizationId;
use crate::grpc::listener::{ConnectionTimeouts, tls};
use crate::http::HttpAddr;
use crate::service::WebhookRules;

/// Delivers an organization's events to its registered HTTPS webhooks.
#[derive(Debug, Parser)]
#[command(name = "webhook-service", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API and its REST face (the default when no subcommand is given).
    Serve,
    /// Print a token signed with JWT_SECRET, for development.
    Token(TokenArgs),
}

/// `webhook-service token`: a person's token (`--org` and `--role`), a
/// service's token (`--scope`), or both.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("claims").required(true).multiple(true).args(["org", "scope"])))]
pub struct TokenArgs {
    /// The organization the token speaks for (UUID).
    #[arg(long, value_parser = parse_org, requires = "role")]
    pub org: Option<OrganizationId>,
    /// The caller's role in that organization.
    #[arg(long, value_parser = ["OWNER", "ADMIN", "MEMBER"], requires = "org")]
    pub role: Option<String>,
    /// Space-separated scopes, such as `events:publish`.
    #[arg(long)]
    pub scope: Option<String>,
    /// The caller's id (`sub`).
    #[arg(long, default_value = "dev-user")]
    pub sub: String,
    /// How long the token is valid, such as `1h` or `15m`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where metrics are served, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddr {
    Off,
    At(SocketAddr),
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the gRPC server listens on; port 0 picks a free port.
    #[arg(
        long,
        env = "WEBHOOK_LISTEN_ADDR",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus endpoint (`GET /metrics`, plain HTTP); port 0 picks a free port, `off` serves none.
    #[arg(
        long,
        env = "WEBHOOK_METRICS_ADDR",
        default_value = "127.0.0.1:9464",
        value_parser = parse_metrics_addr,
        global = true
    )]
    pub metrics_addr: MetricsAddr,
    /// Address the REST/JSON face listens on (plain HTTP); port 0 picks a free port; `off` serves none.
    #[arg(
        long,
        env = "WEBHOOK_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        value_parser = HttpAddr::parse,
        global = true
    )]
    pub http_addr: HttpAddr,
    /// `sqlite://PATH?mode=rwc` (embedded) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://webhooks.db?mode=rwc",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,
    /// HS256 shared secret that tokens are signed with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub jwt_secret: Option<SecretString>,
    /// PEM public key (RSA for RS256, P-256 for ES256) that tokens are signed with.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,
    /// URL of an identity provider's JWK set (https; plain http only to a
    /// loopback address): tokens are checked with its keys, chosen by `kid`.
    #[arg(long, env = "JWT_JWKS_URL", value_parser = JwksUrl::parse, global = true)]
    pub jwt_jwks_url: Option<JwksUrl>,
    /// How often the JWK set is fetched again (a token with an unknown `kid` also triggers a fetch, at most every 30s).
    #[arg(long, env = "JWT_JWKS_REFRESH", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    pub jwt_jwks_refresh: Duration,
    /// Extra PEM certificates trusted for JWT_JWKS_URL, beside the web's roots.
    #[arg(long, env = "JWT_JWKS_CA_FILE", global = true)]
    pub jwt_jwks_ca_file: Option<PathBuf>,
    /// The claim holding the organization's UUID: a name, a dotted path into
    /// nested objects, or a name holding dots in brackets and quotes
    /// (`["https://example.com/org_id"]`).
    #[arg(long, env = "JWT_ORG_CLAIM", default_value = "org_id", global = true)]
    pub jwt_org_claim: ClaimPath,
    /// The claim holding the caller's role (a name, or a list whose highest known name counts); a path as for JWT_ORG_CLAIM.
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = "role", global = true)]
    pub jwt_role_claim: ClaimPath,
    /// The claim holding the scopes (space-separated, or a list); a path as for JWT_ORG_CLAIM.
    #[arg(long, env = "JWT_SCOPE_CLAIM", default_value = "scope", global = true)]
    pub jwt_scope_claim: ClaimPath,
    /// When set, a token's `iss` must equal it.
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// When set, a token's `aud` must contain it.
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Allow webhooks to loopback and private addresses (development and tests only).
    #[arg(
        long,
        env = "WEBHOOK_ALLOW_PRIVATE_TARGETS",
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        global = true
    )]
    pub allow_private_targets: bool,
    /// Standard base64 of 32 random bytes; signing secrets are then stored
    /// encrypted. Generate one with `openssl rand -base64 32`.
    #[arg(long, env = "WEBHOOK_ENCRYPTION_KEY", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub encryption_key: Option<SecretString>,
    /// `text` or `json` (one JSON object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Extra PEM certificates trusted for webhook endpoints, beside the web's roots.
    #[arg(long, env = "WEBHOOK_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Timeout of one delivery attempt, connection included.
    #[arg(long, env = "WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub timeout: Duration,
    /// Delays before each retry of a failed delivery; their count is the number of retries.
    #[arg(
        long,
        env = "WEBHOOK_RETRY_SCHEDULE",
        default_value = "1s,5s,30s",
        global = true
    )]
    pub retry_schedule: String,
    /// The longest a `Retry-After` answer may postpone the next attempt.
    #[arg(long, env = "WEBHOOK_MAX_RETRY_AFTER", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    pub max_retry_after: Duration,
    /// Delivery requests in flight at once, all endpoints together.
    #[arg(long, env = "WEBHOOK_MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_in_flight: u32,
    /// Delivery requests in flight at once to one webhook.
    #[arg(long, env = "WEBHOOK_MAX_PER_ENDPOINT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_per_endpoint: u32,
    /// How often workers look for work nobody announced (retries come due, other processes' work).
    #[arg(long, env = "WEBHOOK_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration, global = true)]
    pub poll_interval: Duration,
    /// How long a claimed delivery stays reserved to one process; after it, another may take it. Default: WEBHOOK_TIMEOUT + 30s.
    #[arg(long, env = "WEBHOOK_LEASE", value_parser = humantime::parse_duration, global = true)]
    pub lease: Option<Duration>,
    /// After RotateWebhookSecret, how long deliveries are also signed with the previous secret.
    #[arg(long, env = "WEBHOOK_SECRET_GRACE", default_value = "24h", value_parser = humantime::parse_duration, global = true)]
    pub secret_grace: Duration,
    /// How long finished deliveries and their attempts are kept.
    #[arg(long, env = "WEBHOOK_RETENTION", default_value = "30days", value_parser = humantime::parse_duration, global = true)]
    pub retention: Duration,
    /// A webhook whose deliveries have all failed for this long, with no success, is disabled (`webhook.disabled` is published).
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER", default_value = "5days", value_parser = humantime::parse_duration, global = true)]
    pub disable_after: Duration,
    /// The most webhooks one organization may have; CreateWebhook answers RESOURCE_EXHAUSTED beyond it.
    #[arg(long, env = "WEBHOOK_MAX_WEBHOOKS_PER_ORGANIZATION", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_webhooks_per_organization: u32,
    /// After SIGTERM or SIGINT, how long health reports NOT_SERVING while the server still takes calls, so that load balancers stop sending before the listener closes.
    #[arg(long, env = "WEBHOOK_SHUTDOWN_DELAY", default_value = "0s", value_parser = humantime::parse_duration, global = true)]
    pub shutdown_delay: Duration,
    /// After the listener closes, how long in-flight calls, attempts and the writing of their results may take before they are abandoned.
    #[arg(long, env = "WEBHOOK_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub shutdown_grace: Duration,
    /// How often old deliveries are looked for and deleted.
    #[arg(long, env = "WEBHOOK_RETENTION_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub retention_interval: Duration,
    /// PEM certificate chain (the server's certificate first) to serve gRPC over TLS; needs WEBHOOK_TLS_KEY_FILE.
    #[arg(long, env = "WEBHOOK_TLS_CERT_FILE", global = true)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the WEBHOOK_TLS_CERT_FILE certificate.
    #[arg(long, env = "WEBHOOK_TLS_KEY_FILE", global = true)]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates for mutual TLS: a client must present a certificate chaining to one of them.
    #[arg(long, env = "WEBHOOK_TLS_CLIENT_CA_FILE", global = true)]
    pub tls_client_ca_file: Option<PathBuf>,
    /// How long a new connection has to finish the TLS handshake (under TLS) and send the HTTP/2 preface before it is closed.
    #[arg(long, env = "WEBHOOK_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub handshake_timeout: Duration,
    /// How long a connection may have no RPC in progress before it is closed.
    #[arg(long, env = "WEBHOOK_IDLE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    pub idle_timeout: Duration,
}

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

    /// The delivery engine's settings.
    pub fn delivery(&self) -> anyhow::Result<DeliveryConfig> {
        let schedule = RetryPolicy::parse_schedule(&self.retry_schedule)
            .map_err(|e| anyhow::anyhow!("WEBHOOK_RETRY_SCHEDULE: {e}"))?;
        let lease = self.lease.unwrap_or(self.timeout + Duration::from_secs(30));
        if lease <= self.timeout {
            bail!("WEBHOOK_LEASE must be longer than WEBHOOK_TIMEOUT");
        }
        Ok(DeliveryConfig {
            timeout: self.timeout,
            ca_file: self.ca_file.clone(),
            allow_private_targets: self.allow_private_targets,
            retry: RetryPolicy::new(schedule, self.max_retry_after),
            max_in_flight: self.max_in_flight as usize,
            max_per_endpoint: self.max_per_endpoint as usize,
            poll_interval: self.poll_interval,
            lease,
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

    /// When the gRPC server closes a connection on its own.
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
        let mut settings = Cli::parse_from(["webhook-service"]).settings;
        settings.listen_addr = "127.0.0.1:0".parse().expect("valid address");
        settings.metrics_addr = MetricsAddr::At("127.0.0.1:0".parse().expect("valid address"));
        settings.http_addr = HttpAddr::At("127.0.0.1:0".parse().expect("valid address"));
        settings.database_url = database_url.to_owned();
        settings.jwt_secret = Some(SecretString::from(jwt_secret));
        settings
    }
}

fn parse_secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(MetricsAddr::Off);
    }
    s.parse()
        .map(MetricsAddr::At)
        .map_err(|_| format!("{s:?} is neither an address such as 127.0.0.1:9464 nor `off`"))
}

fn parse_org(s: &str) -> Result<OrganizationId, String> {
    OrganizationId::parse(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_served_on_loopback_by_default_and_off_turns_them_off() {
        let settings = |args: &[&str]| {
            let mut all = vec!["webhook-service"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|cli| cli.settings.metrics_addr)
        };
        if std::env::var_os("WEBHOOK_METRICS_ADDR").is_none() {
            let default = "127.0.0.1:9464".parse().unwrap();
            assert_eq!(settings(&[]).unwrap(), MetricsAddr::At(default));
        }
        assert_eq!(
            settings(&["--metrics-addr", "off"]).unwrap(),
            MetricsAddr::Off
        );
        assert_eq!(
            settings(&["--metrics-addr", "0.0.0.0:0"]).unwrap(),
            MetricsAddr::At("0.0.0.0:0".parse().unwrap())
        );
        let wrong = settings(&["--metrics-addr", "nowhere"])
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("--metrics-addr") && wrong.contains("`off`"),
            "{wrong}"
        );
    }
}
