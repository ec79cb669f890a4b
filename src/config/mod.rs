//! Settings: each one a command-line flag with an environment variable and a
//! documented default. What they make (the token verifier, the delivery
//! configuration, TLS, ...) is in `parts`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::auth::{ClaimPath, JwksUrl};
use crate::delivery::EgressProxy;
use crate::grpc::limits::{DEFAULT_OTHER_BYTES, DEFAULT_PUBLISH_EVENT_BYTES};
use crate::http::FrameAncestors;

mod listen;
mod otlp_tls;
mod parts;
#[cfg(test)]
mod reference;
mod token;
mod traces;

pub use listen::ListenArgs;
pub use otlp_tls::{ClientIdentityPem, CollectorTls, OtlpTlsSettings};
pub use token::TokenArgs;
pub use traces::{OtlpProtocol, ResourceAttributes, Root, Sampling, TraceSettings};

/// Delivers an organization's events to its registered HTTPS webhooks.
#[derive(Debug, Parser)]
#[command(
    name = "webhook-service",
    version,
    after_help = "Without a command it serves: `webhook-service [OPTIONS]` is \
                  `webhook-service serve [OPTIONS]` (see `webhook-service serve --help`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API and its REST face (the default when no command is given).
    Serve(Box<Settings>),
    /// Print a token signed with JWT_SECRET, for development.
    Token(TokenArgs),
    /// Receive deliveries on loopback and print them, for development.
    Listen(ListenArgs),
}

impl Cli {
    /// The command line of this process; see [`try_parse_args_from`](Self::try_parse_args_from).
    pub fn parse_args() -> Self {
        Self::try_parse_args_from(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `args` (the program's name first), taking a command line
    /// that names no command as `serve`'s: scripts, containers and
    /// examples start the service as `webhook-service` with its settings
    /// in the environment or as flags.
    pub fn try_parse_args_from(
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Result<Self, clap::Error> {
        let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let names_a_command = args.get(1).is_some_and(|first| {
            let first = first.to_string_lossy();
            !first.starts_with('-') || ["-h", "--help", "-V", "--version"].contains(&&*first)
        });
        if !names_a_command {
            args.insert(args.len().min(1), "serve".into());
        }
        Self::try_parse_from(args)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// An address to listen on (port 0 picks a free port), or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr {
    Off,
    At(SocketAddr),
}

impl ListenAddr {
    /// `off`, or an address such as `127.0.0.1:8080`; an error names
    /// `setting`.
    pub fn parse(s: &str, setting: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse().map(Self::At).map_err(|_| {
            format!(
                "{setting} must be an address such as 127.0.0.1:8080, or `off`; `{s}` is neither"
            )
        })
    }

    /// The address to bind, unless `off`.
    pub fn address(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::At(address) => Some(address),
        }
    }
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the gRPC server listens on; port 0 picks a free port.
    #[arg(long, env = "WEBHOOK_LISTEN_ADDR", default_value = "127.0.0.1:50051")]
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus endpoint (`GET /metrics`, plain HTTP); port 0 picks a free port, `off` serves none.
    #[arg(
        long,
        env = "WEBHOOK_METRICS_ADDR",
        default_value = "127.0.0.1:9464",
        value_parser = |s: &str| ListenAddr::parse(s, "WEBHOOK_METRICS_ADDR")
    )]
    pub metrics_addr: ListenAddr,
    /// How often the store-wide backlog gauges (`webhook_deliveries_due`, `webhook_oldest_due_delivery_age_seconds`) are read from the database, by one cheap statement whatever the scrape rate (at least 10ms).
    #[arg(long, env = "WEBHOOK_METRICS_BACKLOG_REFRESH", default_value = "5s", value_parser = humantime::parse_duration)]
    pub metrics_backlog_refresh: Duration,
    /// Address the REST/JSON face and the console listen on (plain HTTP); port 0 picks a free port; `off` serves none. An unspecified address (`0.0.0.0`, `[::]`) needs WEBHOOK_PUBLIC_URL.
    #[arg(
        long,
        env = "WEBHOOK_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        value_parser = |s: &str| ListenAddr::parse(s, "WEBHOOK_HTTP_ADDR")
    )]
    pub http_addr: ListenAddr,
    /// Who may show the console (`/console/`) in a frame: `'none'`, or a
    /// space-separated list of CSP sources (`'self'`, `https:`,
    /// `https://app.example.com`); it becomes the CSP `frame-ancestors`.
    #[arg(
        long,
        env = "WEBHOOK_PORTAL_FRAME_ANCESTORS",
        default_value = "'none'",
        value_parser = FrameAncestors::parse
    )]
    pub portal_frame_ancestors: FrameAncestors,
    /// `sqlite://PATH?mode=rwc` (embedded: the file is created if missing, in WAL mode) or `postgres://USER:PASS@HOST:PORT/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://webhooks.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,
    /// HS256 shared secret that tokens are signed with. Exactly one of JWT_SECRET, JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL is required.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,
    /// PEM public key (RSA for RS256, P-256 for ES256) that tokens are signed with.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// URL of an identity provider's JWK set (https; plain http only to a
    /// loopback address): tokens are checked with its keys, chosen by `kid`.
    #[arg(long, env = "JWT_JWKS_URL", value_parser = JwksUrl::parse)]
    pub jwt_jwks_url: Option<JwksUrl>,
    /// How often the JWK set is fetched again (a token with an unknown `kid` also triggers a fetch, at most every 30s).
    #[arg(long, env = "JWT_JWKS_REFRESH", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwt_jwks_refresh: Duration,
    /// Extra PEM certificates trusted for JWT_JWKS_URL, beside the web's roots.
    #[arg(long, env = "JWT_JWKS_CA_FILE")]
    pub jwt_jwks_ca_file: Option<PathBuf>,
    /// The claim holding the organization's UUID: a name, a dotted path into
    /// nested objects, or a name holding dots in brackets and quotes
    /// (`["https://example.com/org_id"]`).
    #[arg(long, env = "JWT_ORG_CLAIM", default_value = "org_id")]
    pub jwt_org_claim: ClaimPath,
    /// The claim holding the caller's role (a name, a list, or an object keyed by role names: the highest known role counts); a path as for JWT_ORG_CLAIM.
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: ClaimPath,
    /// The claim holding the scopes (space-separated, or a list); a path as for JWT_ORG_CLAIM.
    #[arg(long, env = "JWT_SCOPE_CLAIM", default_value = "scope")]
    pub jwt_scope_claim: ClaimPath,
    /// When set, a token's `iss` must equal it.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, a token's `aud` must contain it.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Allow webhooks to loopback and private addresses (development and tests only: a warning at start-up says the SSRF guard is off).
    #[arg(
        long,
        env = "WEBHOOK_ALLOW_PRIVATE_TARGETS",
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub allow_private_targets: bool,
    /// Standard base64 of 32 random bytes; signing secrets are then stored
    /// encrypted. Generate one with `openssl rand -base64 32`.
    #[arg(long, env = "WEBHOOK_ENCRYPTION_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub encryption_key: Option<SecretString>,
    /// `text` or `json` (one JSON object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// An HTTP CONNECT proxy every delivery goes through, as
    /// `http://[user:password@]host:port`, so that receivers can allow one
    /// source address. The service still resolves and checks each
    /// endpoint's address (the SSRF guard) and asks the proxy for a tunnel
    /// to that address; the proxy's own address may be private. A failure of
    /// the proxy is retried and never counts against the endpoint. See
    /// docs/receiving/egress-proxy.md.
    #[arg(long, env = "WEBHOOK_EGRESS_PROXY", hide_env_values = true, value_parser = EgressProxy::parse)]
    pub egress_proxy: Option<EgressProxy>,
    /// With traces on (OTEL_EXPORTER_OTLP_ENDPOINT), whether each delivery
    /// carries `traceparent` (and `tracestate`) naming its attempt's span, so
    /// that the receiver's traces join ours. Off keeps trace ids from
    /// leaving. See docs/tracing.md.
    #[arg(
        long,
        env = "WEBHOOK_PROPAGATE_TRACE",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub propagate_trace: bool,
    /// Extra PEM certificates trusted for webhook endpoints, beside the web's roots.
    #[arg(long, env = "WEBHOOK_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Timeout of one delivery attempt, connection included.
    #[arg(long, env = "WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Delays before each retry of a failed delivery; their count is the number of retries. The default for webhooks without their own `retry_schedule`
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", default_value = "1s,5s,30s")]
    pub retry_schedule: String,
    /// The longest a `Retry-After` answer may postpone the next attempt.
    #[arg(long, env = "WEBHOOK_MAX_RETRY_AFTER", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_retry_after: Duration,
    /// Delivery requests in flight at once in this process, all endpoints together, shared fairly between organizations (plus a sixteenth in reserve for organizations holding none).
    #[arg(long, env = "WEBHOOK_MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Delivery requests in flight at once to one webhook, all processes on one database together (each endpoint's window shrinks when it struggles).
    #[arg(long, env = "WEBHOOK_MAX_PER_ENDPOINT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_endpoint: u32,
    /// How often workers look for work nobody announced (retries come due, other processes' work).
    #[arg(long, env = "WEBHOOK_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// How long a claimed delivery stays reserved to one process; after it, another may take it. Default: WEBHOOK_TIMEOUT + 30s.
    #[arg(long, env = "WEBHOOK_LEASE", value_parser = humantime::parse_duration)]
    pub lease: Option<Duration>,
    /// On PostgreSQL, how often each process says it is alive, so that the processes split WEBHOOK_MAX_PER_ENDPOINT between them; one silent for five of these is counted out (at least 10ms).
    #[arg(long, env = "WEBHOOK_HEARTBEAT_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,
    /// After RotateWebhookSecret, how long deliveries are also signed with the previous secret.
    #[arg(long, env = "WEBHOOK_SECRET_GRACE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub secret_grace: Duration,
    /// How long finished deliveries and their attempts are kept.
    #[arg(long, env = "WEBHOOK_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// A webhook whose deliveries have all failed for this long, with no success, is disabled (`webhook.disabled` is published).
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER", default_value = "5days", value_parser = humantime::parse_duration)]
    pub disable_after: Duration,
    /// The most calls the people of one organization (their tokens and portal links together) may have in progress at once in this process; more wait their turn, unread, and other organizations' calls do not wait behind them. Service tokens (platform tokens among them) are not counted.
    #[arg(long, env = "WEBHOOK_MAX_CALLS_PER_ORGANIZATION", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_calls_per_organization: u32,
    /// The most webhooks one organization may have; CreateWebhook answers RESOURCE_EXHAUSTED beyond it (exact in one process, and across processes unless more than 64 creates race in one organization as it reaches the limit).
    #[arg(long, env = "WEBHOOK_MAX_WEBHOOKS_PER_ORGANIZATION", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_webhooks_per_organization: u32,
    /// After SIGTERM or SIGINT, how long health reports NOT_SERVING while the server still takes calls, so that load balancers stop sending before the listener closes.
    #[arg(long, env = "WEBHOOK_SHUTDOWN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub shutdown_delay: Duration,
    /// After the listener closes, how long in-flight calls, attempts and the writing of their results may take before they are abandoned.
    #[arg(long, env = "WEBHOOK_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
    /// How often old deliveries are looked for and deleted.
    #[arg(long, env = "WEBHOOK_RETENTION_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub retention_interval: Duration,
    /// PEM certificate chain (the server's certificate first); with WEBHOOK_TLS_KEY_FILE, gRPC is served over TLS only.
    #[arg(long, env = "WEBHOOK_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the WEBHOOK_TLS_CERT_FILE certificate.
    #[arg(long, env = "WEBHOOK_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates for mutual TLS: a client must present a certificate chaining to one of them.
    #[arg(long, env = "WEBHOOK_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// How long a new gRPC connection has to finish the TLS handshake (under TLS) and send the HTTP/2 preface and first frame header before it is closed; a REST or metrics connection, to send its first request's head from accept (each next one's from the previous answer), and each request's whole body from its head (else 408).
    #[arg(long, env = "WEBHOOK_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,
    /// How long a connection may have no call (RPC or REST request) in progress before it is closed; on gRPC, health Watch streams do not count and a client's HTTP/2 PING counts as activity.
    #[arg(long, env = "WEBHOOK_IDLE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// The largest PublishEvent request message, in bytes, over gRPC or as a REST body makes it; a larger one is refused (RESOURCE_EXHAUSTED; 413 on REST) from its announced length, before it is read. Between 1 KiB and 64 MiB; the default holds every valid event.
    #[arg(long, env = "WEBHOOK_MAX_EVENT_MESSAGE_BYTES", default_value_t = DEFAULT_PUBLISH_EVENT_BYTES, value_parser = clap::value_parser!(u32).range(1024..=MAX_MESSAGE_CAP))]
    pub max_event_message_bytes: u32,
    /// The largest request message, in bytes, of every other RPC (health and reflection included), as for WEBHOOK_MAX_EVENT_MESSAGE_BYTES; the default is ten times the largest valid CreateWebhook.
    #[arg(long, env = "WEBHOOK_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_OTHER_BYTES, value_parser = clap::value_parser!(u32).range(1024..=MAX_MESSAGE_CAP))]
    pub max_message_bytes: u32,
    /// The most calls one gRPC connection may have open at once (the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the server advertises).
    #[arg(long, env = "WEBHOOK_MAX_CONCURRENT_STREAMS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// The most health Watch streams open at once on the whole server; a new one beyond is refused with RESOURCE_EXHAUSTED (one connection may hold 16).
    #[arg(long, env = "WEBHOOK_MAX_HEALTH_WATCHES", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_health_watches: u32,
    /// The most connections the gRPC listener holds at once (TLS handshakes in progress included); more wait in the listen queue until one closes. Default: a quarter of the open-file limit.
    #[arg(long, env = "WEBHOOK_GRPC_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub grpc_max_connections: Option<u32>,
    /// The most connections each plain-HTTP listener (REST, metrics) holds at once; more wait in the listen queue until one closes. Default: a quarter of the open-file limit.
    #[arg(long, env = "WEBHOOK_HTTP_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: Option<u32>,
    /// The longest a portal link (CreatePortalLink) may work; at least 1s.
    #[arg(long, env = "WEBHOOK_PORTAL_MAX_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub portal_max_ttl: Duration,
    /// HMAC key (at least 32 bytes, not JWT_SECRET) that portal tokens are signed with. Default: a random key the service stores in the database at first start, shared by every replica on it.
    #[arg(long, env = "WEBHOOK_PORTAL_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub portal_key: Option<SecretString>,
    /// The REST listener's URL as browsers reach it (behind a proxy it differs), such as `https://webhooks.example.com`; portal links point below it, and the OpenAPI document names it as its server (`/` when unset). Required when WEBHOOK_HTTP_ADDR is unspecified (`0.0.0.0`, `[::]`). Default: `http://` and the address WEBHOOK_HTTP_ADDR bound.
    #[arg(long, env = "WEBHOOK_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Where traces go, and which (the `OTEL_*` variables).
    #[command(flatten)]
    pub traces: TraceSettings,
}

/// The highest message cap that may be set: 64 MiB.
const MAX_MESSAGE_CAP: i64 = 64 * 1024 * 1024;

/// An absolute http(s) URL without query, fragment or credentials, written
/// without its trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let wrong = |why: &str| {
        format!(
            "WEBHOOK_PUBLIC_URL must be an http or https URL such as https://webhooks.example.com: `{s}` {why}"
        )
    };
    let url = url::Url::parse(s).map_err(|e| wrong(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(wrong("is not http(s) with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(wrong("has a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(wrong("carries a user or password"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

#[cfg(test)]
mod tests;
