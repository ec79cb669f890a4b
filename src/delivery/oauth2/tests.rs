use super::request::*;
use super::*;
use crate::domain::oauth2::ClientSecret;
use crate::domain::{OAuth2Settings, WebhookUrl};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::header::CONTENT_TYPE;

fn credentials(scopes: &[&str], audience: Option<&str>) -> OAuth2Credentials {
    OAuth2Credentials {
        settings: OAuth2Settings {
            token_url: WebhookUrl::parse("https://auth.example.com/token", false).unwrap(),
            client_id: "my client:1".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            audience: audience.map(str::to_owned),
        },
        client_secret: ClientSecret::new("s3cr+t/=:%".into()),
    }
}

#[test]
fn the_request_is_a_client_credentials_grant_with_scope_and_audience() {
    let body = token_request_body(&credentials(&["a:read", "b"], Some("https://api.x")));
    assert_eq!(
        body,
        "grant_type=client_credentials&scope=a%3Aread+b&audience=https%3A%2F%2Fapi.x"
    );
    assert_eq!(
        token_request_body(&credentials(&[], None)),
        "grant_type=client_credentials"
    );
}

#[test]
fn basic_authentication_form_urlencodes_id_and_secret_first() {
    let headers = token_request_headers(&credentials(&[], None));
    let basic = headers[AUTHORIZATION].to_str().unwrap();
    let decoded = STANDARD
        .decode(basic.strip_prefix("Basic ").unwrap())
        .unwrap();
    // RFC 6749 section 2.3.1: each encoded before they are joined.
    assert_eq!(decoded, b"my+client%3A1:s3cr%2Bt%2F%3D%3A%25");
    assert!(headers[AUTHORIZATION].is_sensitive());
    assert_eq!(headers[CONTENT_TYPE], "application/x-www-form-urlencoded");
}

#[test]
fn an_answer_needs_a_bearer_token_of_any_case() {
    let (token, lifetime) =
        parse_answer(br#"{"access_token":"t1","token_type":"Bearer","expires_in":2}"#).unwrap();
    assert_eq!(token, AccessToken(Arc::from("t1")));
    assert_eq!(lifetime, Duration::from_secs(2));
    let (_, lifetime) =
        parse_answer(br#"{"access_token":"t","token_type":"bearer","expires_in":"60"}"#).unwrap();
    assert_eq!(
        lifetime,
        Duration::from_secs(60),
        "a string, as some send it"
    );
    let (_, lifetime) = parse_answer(br#"{"access_token":"t","token_type":"BEARER"}"#).unwrap();
    assert_eq!(lifetime, LONGEST_WITHOUT_EXPIRY);
    let (_, lifetime) =
        parse_answer(br#"{"access_token":"t","token_type":"bearer","expires_in":1e12}"#).unwrap();
    assert_eq!(lifetime, LONGEST_LIFETIME);
    for (answer, says) in [
        (&b"<html>"[..], "not JSON"),
        (br#"{"token_type":"bearer"}"#, "no access_token"),
        (br#"{"access_token":"t"}"#, "no token_type"),
        (br#"{"access_token":"t","token_type":"mac"}"#, "not bearer"),
        (
            br#"{"access_token":"a b","token_type":"bearer"}"#,
            "visible ASCII",
        ),
        (
            br#"{"access_token":"t","token_type":"bearer","expires_in":-1}"#,
            "expires_in",
        ),
    ] {
        let why = parse_answer(answer).unwrap_err();
        assert!(why.contains(says), "{why}");
    }
}

#[test]
fn an_error_answer_repeats_only_a_short_error_code() {
    assert_eq!(
        oauth_error(br#"{"error":"invalid_client"}"#),
        " (invalid_client)"
    );
    assert_eq!(oauth_error(b"internal error"), "");
    assert_eq!(oauth_error(br#"{"error":"a\"b"}"#), "");
    assert_eq!(
        oauth_error(format!(r#"{{"error":"{}"}}"#, "e".repeat(65)).as_bytes()),
        ""
    );
}

#[test]
fn tokens_never_show_in_debug_and_their_header_is_sensitive() {
    let token = AccessToken(Arc::from("tok-secret"));
    assert!(!format!("{token:?}").contains("tok-secret"));
    let header = token.header();
    assert!(header.is_sensitive());
    assert_eq!(header, "Bearer tok-secret");
    assert!(!format!("{header:?}").contains("tok-secret"));
}

#[test]
fn the_cache_keeps_within_its_capacity_dropping_the_least_recently_used() {
    let tokens = Tokens::with_capacity(3);
    let start = Instant::now();
    let ids: Vec<WebhookId> = (0..5).map(|_| WebhookId::generate()).collect();
    for (i, id) in ids.iter().take(3).enumerate() {
        tokens.slot(*id, start + Duration::from_secs(i as u64));
    }
    // The first is asked for again: the second is now the oldest.
    tokens.slot(ids[0], start + Duration::from_secs(3));
    tokens.slot(ids[3], start + Duration::from_secs(4));
    assert_eq!(tokens.len(), 3);
    let entries = tokens.entries.lock().unwrap();
    assert!(entries.by_webhook.contains_key(&ids[0]));
    assert!(
        !entries.by_webhook.contains_key(&ids[1]),
        "least recently used"
    );
}

#[test]
fn a_slot_in_use_is_never_dropped_and_idle_ones_go_at_the_next_prune() {
    let tokens = Tokens::with_capacity(2);
    let start = Instant::now();
    let (a, b, c) = (
        WebhookId::generate(),
        WebhookId::generate(),
        WebhookId::generate(),
    );
    let held = tokens.slot(a, start);
    tokens.slot(b, start + Duration::from_secs(1));
    tokens.slot(c, start + Duration::from_secs(2));
    {
        let entries = tokens.entries.lock().unwrap();
        assert!(entries.by_webhook.contains_key(&a), "held by an attempt");
        assert!(!entries.by_webhook.contains_key(&b));
    }
    drop(held);
    // Long after, a new webhook's slot: the idle ones (deleted webhooks'
    // too) are gone.
    let later = start + IDLE + PRUNE_EVERY + Duration::from_secs(3);
    tokens.slot(WebhookId::generate(), later);
    assert_eq!(tokens.len(), 1);
}
