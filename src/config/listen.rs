//! `webhook-service listen`'s settings. Their environment variables start
//! with WEBHOOK_LISTEN_ but never name one of the service's: a shell set up
//! for `serve` (whose gRPC address is WEBHOOK_LISTEN_ADDR) must not move
//! the receiver.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use secrecy::SecretString;

use super::parse_secret;

/// `webhook-service listen`: a receiver for deliveries, on loopback, that
/// prints each one.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to receive on; port 0 picks a free port. Only a loopback
    /// address, unless --allow-remote.
    #[arg(long, env = "WEBHOOK_LISTEN_BIND", default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Accept an --addr that is not loopback (the certificate still names
    /// only localhost, 127.0.0.1 and ::1).
    #[arg(
        long,
        env = "WEBHOOK_LISTEN_ALLOW_REMOTE",
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub allow_remote: bool,
    /// Plain HTTP instead of HTTPS (the service itself delivers only to
    /// https URLs: for a TLS tunnel or proxy in front).
    #[arg(
        long,
        env = "WEBHOOK_LISTEN_HTTP",
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub http: bool,
    /// Folder of the receiver's certificate authority (ca.pem, ca.key),
    /// made at the first start and reused after. Default:
    /// $XDG_STATE_HOME/webhook-service/listen, else
    /// ~/.local/state/webhook-service/listen, else one in the temporary folder.
    #[arg(long, env = "WEBHOOK_LISTEN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Also write the CA certificate (PEM) here, for WEBHOOK_CA_FILE.
    #[arg(long, env = "WEBHOOK_LISTEN_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A webhook's signing secret (`whsec_...`), or an ed25519 webhook's
    /// public key (`whpk_...`), to verify deliveries with; repeat it, or
    /// separate them with commas, for several (rotation).
    #[arg(
        long,
        env = "WEBHOOK_LISTEN_SECRET",
        hide_env_values = true,
        value_delimiter = ',',
        value_parser = parse_secret
    )]
    pub secret: Vec<SecretString>,
    /// A file of secrets to verify with too, one per line, read again for
    /// every request: append the secret CreateWebhook returns while the
    /// receiver runs. A missing file holds none yet.
    #[arg(long, env = "WEBHOOK_LISTEN_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The HTTP status to answer every request with. Default: 204, or 200
    /// with --echo.
    #[arg(long, env = "WEBHOOK_LISTEN_STATUS", value_parser = clap::value_parser!(u16).range(200..=599))]
    pub status: Option<u16>,
    /// Answer 500 to the first N requests, then --status: to watch retries.
    #[arg(long, env = "WEBHOOK_LISTEN_FAIL_FIRST", default_value_t = 0)]
    pub fail_first: u32,
    /// Answer each request with what it got, as JSON
    /// `{"path", "headers", "body"}` (the service keeps the first 4 KiB of
    /// an answer as the attempt's response_excerpt).
    #[arg(
        long,
        env = "WEBHOOK_LISTEN_ECHO",
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub echo: bool,
    /// Print one JSON object per request on stdout, instead of text.
    #[arg(
        long,
        env = "WEBHOOK_LISTEN_JSON",
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub json: bool,
    /// Write the port received on to this file once listening (for scripts).
    #[arg(long, env = "WEBHOOK_LISTEN_PORT_FILE")]
    pub port_file: Option<PathBuf>,
}
