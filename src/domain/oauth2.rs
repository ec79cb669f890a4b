//! OAuth2 client credentials toward a webhook's endpoint (RFC 6749 section
//! 4.4): the settings a webhook carries, checked when written. The token
//! itself is the delivery engine's business (`delivery::oauth2`).

use secrecy::{ExposeSecret, SecretString};

use super::validation::{Violations, quoted};
use super::webhook_url::WebhookUrl;

/// The longest client id accepted, in characters.
pub const MAX_CLIENT_ID: usize = 256;
/// The longest client secret accepted, in characters.
pub const MAX_CLIENT_SECRET: usize = 1024;
/// The most scopes one webhook may ask for.
pub const MAX_SCOPES: usize = 20;
/// The longest scope accepted, in characters (RFC 6749 sets none; this
/// keeps a token request small).
pub const MAX_SCOPE: usize = 256;
/// The longest audience accepted, in characters.
pub const MAX_AUDIENCE: usize = 256;

/// What may be shown of a webhook's credentials: all but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Settings {
    /// Where tokens are requested; checked as an endpoint's URL.
    pub token_url: WebhookUrl,
    pub client_id: String,
    /// Sent space-separated as `scope`; empty: not sent.
    pub scopes: Vec<String>,
    /// Sent as `audience`; `None`: not sent.
    pub audience: Option<String>,
}

/// A client secret. Its `Debug` never shows the value, and it has no
/// `Display`.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn new(text: String) -> Self {
        Self(SecretString::from(text))
    }

    /// The secret's text. Call only to seal it or to ask for a token.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(REDACTED)")
    }
}

// Compared to tell whether a cached token was asked for with the same
// credentials, and in tests; never to authenticate anyone.
impl PartialEq for ClientSecret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for ClientSecret {}

/// What a worker asks tokens with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Credentials {
    pub settings: OAuth2Settings,
    pub client_secret: ClientSecret,
}

/// The credentials a request carries, not yet checked.
#[derive(Clone, Default)]
pub struct OAuth2Fields {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub audience: String,
}

impl std::fmt::Debug for OAuth2Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Fields")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"REDACTED")
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Credentials as a write sets them: `client_secret` is `None` when an
/// update keeps the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Write {
    pub settings: OAuth2Settings,
    pub client_secret: Option<ClientSecret>,
}

impl OAuth2Write {
    /// Checks every field, each violation named `oauth2.<field>`.
    /// `may_keep_secret`: an empty secret means "keep the stored one" (an
    /// update) rather than a missing one (a create).
    pub fn parse(
        fields: &OAuth2Fields,
        allow_private_targets: bool,
        may_keep_secret: bool,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let token_url = violations.check(
            "oauth2.token_url",
            WebhookUrl::parse(&fields.token_url, allow_private_targets),
        );
        let client_id = violations.check("oauth2.client_id", parse_client_id(&fields.client_id));
        let client_secret = if may_keep_secret && fields.client_secret.is_empty() {
            Some(None)
        } else {
            violations
                .check(
                    "oauth2.client_secret",
                    parse_client_secret(&fields.client_secret),
                )
                .map(Some)
        };
        let scopes = violations.check("oauth2.scopes", parse_scopes(&fields.scopes));
        let audience = violations.check("oauth2.audience", parse_audience(&fields.audience));
        match (token_url, client_id, client_secret, scopes, audience) {
            (
                Some(token_url),
                Some(client_id),
                Some(client_secret),
                Some(scopes),
                Some(audience),
            ) => Ok(Self {
                settings: OAuth2Settings {
                    token_url,
                    client_id,
                    scopes,
                    audience,
                },
                client_secret,
            }),
            _ => Err(violations),
        }
    }

    /// The credentials of a create, which always carries a secret.
    pub fn into_credentials(self) -> Option<OAuth2Credentials> {
        Some(OAuth2Credentials {
            settings: self.settings,
            client_secret: self.client_secret?,
        })
    }
}

/// Adds `found`'s violations to `violations`.
pub fn add_all(violations: &mut Violations, found: Violations) {
    for violation in found.into_reported() {
        violations.add(violation.field, violation.description);
    }
}

fn parse_client_id(text: &str) -> Result<String, String> {
    bounded(text, MAX_CLIENT_ID)?;
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(text.to_owned())
}

fn parse_client_secret(text: &str) -> Result<ClientSecret, String> {
    // The value is never quoted back: it is a secret.
    bounded(text, MAX_CLIENT_SECRET)?;
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(ClientSecret::new(text.to_owned()))
}

fn parse_audience(text: &str) -> Result<Option<String>, String> {
    bounded(text, MAX_AUDIENCE)?;
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// At most `max` characters and no NUL or other control character (they
/// would travel in a form body and in the console).
fn bounded(text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn parse_scopes(scopes: &[String]) -> Result<Vec<String>, String> {
    if scopes.len() > MAX_SCOPES {
        return Err(format!(
            "holds {} scopes; at most {MAX_SCOPES} are accepted",
            scopes.len()
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        let n = i + 1;
        if scope.is_empty() {
            return Err(format!("scope {n}: must not be empty"));
        }
        if scope.chars().count() > MAX_SCOPE {
            return Err(format!("scope {n}: must be at most {MAX_SCOPE} characters"));
        }
        if !scope.bytes().all(is_scope_char) {
            return Err(format!(
                "scope {n}: {} holds a character RFC 6749 does not allow in a scope \
                 (printable ASCII but space, \" and \\)",
                quoted(scope)
            ));
        }
    }
    Ok(scopes.to_vec())
}

fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> OAuth2Fields {
        OAuth2Fields {
            token_url: "https://auth.example.com/oauth/token".into(),
            client_id: "webhooks".into(),
            client_secret: "s3cr3t".into(),
            scopes: vec!["hooks:write".into(), "read".into()],
            audience: "https://api.example.com".into(),
        }
    }

    fn refused(fields: &OAuth2Fields, allow_private: bool) -> Vec<(String, String)> {
        OAuth2Write::parse(fields, allow_private, false)
            .unwrap_err()
            .into_reported()
            .into_iter()
            .map(|v| (v.field.into_owned(), v.description))
            .collect()
    }

    #[test]
    fn accepts_good_credentials_and_keeps_every_field() {
        let write = OAuth2Write::parse(&fields(), false, false).unwrap();
        let credentials = write.into_credentials().unwrap();
        assert_eq!(
            credentials.settings.token_url.as_str(),
            "https://auth.example.com/oauth/token"
        );
        assert_eq!(credentials.settings.client_id, "webhooks");
        assert_eq!(credentials.settings.scopes, ["hooks:write", "read"]);
        assert_eq!(
            credentials.settings.audience.as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(credentials.client_secret.expose(), "s3cr3t");
    }

    #[test]
    fn an_empty_secret_is_refused_on_create_and_kept_on_update() {
        let keep = OAuth2Fields {
            client_secret: String::new(),
            ..fields()
        };
        assert_eq!(refused(&keep, false)[0].0, "oauth2.client_secret");
        let update = OAuth2Write::parse(&keep, false, true).unwrap();
        assert_eq!(update.client_secret, None);
    }

    #[test]
    fn each_bad_field_is_named_under_oauth2() {
        let bad = OAuth2Fields {
            token_url: "http://auth.example.com/token".into(),
            client_id: String::new(),
            client_secret: "x".repeat(MAX_CLIENT_SECRET + 1),
            scopes: vec!["a b".into()],
            audience: "a".repeat(MAX_AUDIENCE + 1),
        };
        let fields: Vec<String> = refused(&bad, false).into_iter().map(|r| r.0).collect();
        assert_eq!(
            fields,
            [
                "oauth2.token_url",
                "oauth2.client_id",
                "oauth2.client_secret",
                "oauth2.scopes",
                "oauth2.audience"
            ]
        );
    }

    #[test]
    fn a_private_token_url_is_refused_unless_private_targets_are_allowed() {
        let private = OAuth2Fields {
            token_url: "https://127.0.0.1:8443/token".into(),
            ..fields()
        };
        assert_eq!(refused(&private, false)[0].0, "oauth2.token_url");
        assert!(OAuth2Write::parse(&private, true, false).is_ok());
    }

    #[test]
    fn scopes_are_rfc_6749_tokens_at_most_twenty() {
        for good in ["a", "!#[]~", "https://api.example.com/read"] {
            assert!(parse_scopes(&[good.into()]).is_ok(), "{good}");
        }
        for bad in ["", "a b", "quo\"te", "back\\slash", "é", "tab\t"] {
            assert!(parse_scopes(&[bad.into()]).is_err(), "{bad:?}");
        }
        assert!(parse_scopes(&vec!["s".into(); MAX_SCOPES]).is_ok());
        let many = parse_scopes(&vec!["s".into(); MAX_SCOPES + 1]).unwrap_err();
        assert!(many.contains("21 scopes"), "{many}");
    }

    #[test]
    fn limits_count_characters_and_secrets_are_never_quoted_back() {
        let id = "é".repeat(MAX_CLIENT_ID);
        assert!(parse_client_id(&id).is_ok());
        assert!(parse_client_id(&format!("{id}é")).is_err());
        let secret = format!("{}\u{0}", "s".repeat(10));
        let why = parse_client_secret(&secret).unwrap_err();
        assert!(!why.contains("ssssssssss"), "{why}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let write = OAuth2Write::parse(&fields(), false, false).unwrap();
        assert!(!format!("{write:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", fields()).contains("s3cr3t"));
        let credentials = write.into_credentials().unwrap();
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}
