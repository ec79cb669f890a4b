//! `webhook-service token`'s settings: what the token says, and the JWT
//! settings of the service it is for (the same flags and environment
//! variables as `serve`'s, so a shell set up for one works for the other).

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::parse_secret;
use crate::domain::OrganizationId;

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
    /// The HS256 shared secret the service checks tokens with (required).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,
    /// The `iss` to write, when the service requires one.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` to write, when the service requires one.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

fn parse_org(s: &str) -> Result<OrganizationId, String> {
    OrganizationId::parse(s).map_err(|e| e.to_string())
}
