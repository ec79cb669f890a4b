//! The token request itself (RFC 6749 section 4.4): a form POST to the
//! token URL through the delivery client, with HTTP Basic client
//! authentication, and the JSON answer read into a token and its lifetime.

use std::sync::Arc;
use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use url::form_urlencoded;

use super::{AccessToken, TokenFailure};
use crate::delivery::client::{Client, error_chain, host_is_public};
use crate::domain::OAuth2Credentials;

/// How much of a token endpoint's answer is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// A token without `expires_in` is kept this long at most (or until a 401).
pub(super) const LONGEST_WITHOUT_EXPIRY: Duration = Duration::from_secs(3600);
/// A longer `expires_in` is taken as this: past a day, the endpoint's 401
/// is the better judge anyway.
pub(super) const LONGEST_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Asks `credentials.token_url` for a token: its value and how long it
/// lives.
pub(super) async fn request_token(
    client: &Client,
    credentials: &OAuth2Credentials,
) -> Result<(AccessToken, Duration), TokenFailure> {
    let url = credentials.settings.token_url.as_url();
    let host = url.host_str().unwrap_or("the token URL");
    let fail = |why: String| TokenFailure(format!("no token from {host}: {why}"));
    // Literal addresses never reach the resolver, so they are vetted here.
    if !client.allows_private_targets() && !host_is_public(url) {
        return Err(fail(
            "the token URL names a private or reserved address".into(),
        ));
    }
    let response = client
        .token_client()
        .post(url.clone())
        .headers(token_request_headers(credentials))
        .body(token_request_body(credentials))
        .send()
        .await
        // Its URL is the token URL's: named by host only, and no more.
        .map_err(|err| fail(error_chain(&err.without_url())))?;
    let status = response.status();
    let answer = read_answer(response).await.map_err(fail)?;
    if !status.is_success() {
        return Err(fail(format!(
            "it answered {}{}",
            status.as_u16(),
            oauth_error(&answer)
        )));
    }
    parse_answer(&answer).map_err(fail)
}

/// Client authentication per section 2.3.1: HTTP Basic with the id and the
/// secret form-urlencoded first.
pub(super) fn token_request_headers(credentials: &OAuth2Credentials) -> HeaderMap {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&credentials.settings.client_id),
        encode(credentials.client_secret.expose())
    );
    let mut basic = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
        .expect("base64 is visible ASCII");
    basic.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, basic);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

pub(super) fn token_request_body(credentials: &OAuth2Credentials) -> String {
    let settings = &credentials.settings;
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if !settings.scopes.is_empty() {
        form.append_pair("scope", &settings.scopes.join(" "));
    }
    if let Some(audience) = &settings.audience {
        form.append_pair("audience", audience);
    }
    form.finish()
}

async fn read_answer(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut read = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("the answer broke off: {}", error_chain(&err.without_url())))?
    {
        if read.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is over {} KiB",
                MAX_ANSWER_BYTES / 1024
            ));
        }
        read.extend_from_slice(&chunk);
    }
    Ok(read)
}

/// The `error` code of an error answer (section 5.2), when it has one that
/// is safe to repeat: a short token of the characters the RFC allows.
pub(super) fn oauth_error(answer: &[u8]) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|json| json.get("error")?.as_str().map(str::to_owned));
    match code {
        Some(code)
            if !code.is_empty()
                && code.len() <= 64
                && code
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)) =>
        {
            format!(" ({code})")
        }
        _ => String::new(),
    }
}

/// A successful answer (section 5.1): the token, and how long to keep it.
pub(super) fn parse_answer(answer: &[u8]) -> Result<(AccessToken, Duration), String> {
    let json: serde_json::Value =
        serde_json::from_slice(answer).map_err(|_| "the answer is not JSON".to_owned())?;
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    // It travels in a header: visible ASCII only (RFC 6750's b64token is
    // narrower still).
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the access_token is not visible ASCII".into());
    }
    match json.get("token_type").and_then(|v| v.as_str()) {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err("the token_type is not bearer".into()),
        None => return Err("the answer has no token_type".into()),
    }
    let lifetime = match json.get("expires_in") {
        None | Some(serde_json::Value::Null) => LONGEST_WITHOUT_EXPIRY,
        Some(value) => expires_in(value)
            .ok_or("expires_in is not a number of seconds")?
            .min(LONGEST_LIFETIME),
    };
    Ok((AccessToken(Arc::from(token)), lifetime))
}

/// `expires_in` as seconds; some servers send it as a string.
fn expires_in(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(LONGEST_LIFETIME.as_secs_f64())))
}
