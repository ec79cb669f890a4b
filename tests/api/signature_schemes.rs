//! ed25519 webhooks (Standard Webhooks `v1a`): the public key is shown,
//! the private key never is, and deliveries verify with the public key
//! alone, checked by an independent implementation (Python's
//! `cryptography`) as well as ed25519-dalek. HMAC webhooks stay as they were.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use webhook_service::grpc::proto::{CreateWebhookResponse, SignatureScheme};

use crate::on_every_backend;
use crate::rotation::rotate;
use crate::support::catalogue::violations;
use crate::support::receiver::{Received, Receiver};
use crate::support::{
    Backend, TestApp, deliver_to, legacy_signature, signature_entries, spawn_app, spawn_app_with,
    standard_signature,
};

on_every_backend!(
    an_ed25519_webhook_shows_its_public_key_and_its_deliveries_verify_with_it_alone,
    rotating_an_ed25519_webhook_gives_a_new_public_key_and_both_keys_sign_in_the_grace,
    an_hmac_webhook_is_signed_as_before_and_shows_no_public_key,
    an_unknown_scheme_is_refused_on_its_field,
    the_scheme_travels_over_rest_by_its_name,
);

const WAIT: Duration = Duration::from_secs(15);

async fn create_ed25519(app: &TestApp, url: &str) -> CreateWebhookResponse {
    let mut request = app.create_request(url, &["member.added"]);
    request.signature_scheme = SignatureScheme::Ed25519.into();
    app.create_webhook(request).await.expect("create webhook")
}

/// The 32 bytes of a `whpk_` key.
fn public_bytes(public_key: &str) -> [u8; 32] {
    let b64 = public_key.strip_prefix("whpk_").expect("whpk_ prefix");
    STANDARD
        .decode(b64)
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

/// Which entries of the delivery's `webhook-signature` are `v1a`
/// signatures by `public_key` over `id.timestamp.body`, by ed25519-dalek
/// and, where it is installed, by Python's `cryptography`; both must agree.
fn verified_by(public_key: &str, got: &Received) -> Vec<bool> {
    let entries = signature_entries(got);
    let ours = dalek_verifies(public_key, got, &entries);
    if let Some(theirs) = python_verifies(public_key, got) {
        assert_eq!(theirs, ours, "cryptography and ed25519-dalek disagree");
    }
    ours
}

fn dalek_verifies(public_key: &str, got: &Received, entries: &[String]) -> Vec<bool> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public_bytes(public_key)).unwrap();
    let content = [
        got.header("webhook-id").as_bytes(),
        b".",
        got.header("webhook-timestamp").as_bytes(),
        b".",
        &got.body,
    ]
    .concat();
    entries
        .iter()
        .map(|entry| {
            let Some(b64) = entry.strip_prefix("v1a,") else {
                return false;
            };
            let bytes = STANDARD.decode(b64).expect("base64 signature");
            let signature = ed25519_dalek::Signature::from_slice(&bytes).expect("64 bytes");
            key.verify_strict(&content, &signature).is_ok()
        })
        .collect()
}

/// What the receiver in docs/receiving/ed25519.md runs, in Python.
const PYTHON_VERIFIER: &str = r#"
import base64, json, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

asked = json.load(sys.stdin)
key = Ed25519PublicKey.from_public_bytes(
    base64.b64decode(asked["public_key"].removeprefix("whpk_")))
content = f"{asked['id']}.{asked['timestamp']}.".encode() + base64.b64decode(asked["body"])
verified = []
for entry in asked["signature"].split():
    version, _, signature = entry.partition(",")
    try:
        if version != "v1a":
            raise InvalidSignature()
        key.verify(base64.b64decode(signature), content)
        verified.append(True)
    except InvalidSignature:
        verified.append(False)
print(json.dumps(verified))
"#;

/// Python's verdict per entry; `None` (said so) when no Python with
/// `cryptography` is found and none was required: CI sets
/// OPENAPI_VALIDATOR_PYTHON to its virtual environment, which has it.
fn python_verifies(public_key: &str, got: &Received) -> Option<Vec<bool>> {
    use std::io::Write;
    let required = std::env::var_os("OPENAPI_VALIDATOR_PYTHON");
    let python = required.clone().unwrap_or_else(|| "python3".into());
    let available = std::process::Command::new(&python)
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(required.is_none(), "{python:?} lacks cryptography");
        eprintln!("Python's cryptography not found: verified with ed25519-dalek only");
        return None;
    }
    let asked = json!({
        "public_key": public_key,
        "id": got.header("webhook-id"),
        "timestamp": got.header("webhook-timestamp"),
        "body": STANDARD.encode(&got.body),
        "signature": got.header("webhook-signature"),
    });
    let mut child = std::process::Command::new(&python)
        .args(["-c", PYTHON_VERIFIER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(asked.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("a JSON list"))
}

async fn an_ed25519_webhook_shows_its_public_key_and_its_deliveries_verify_with_it_alone(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = create_ed25519(&app, &receiver.url("/ed25519")).await;
    assert_eq!(created.secret, "", "the private key is never returned");
    public_bytes(&created.public_key);
    let webhook = created.webhook.unwrap();
    assert_eq!(webhook.signature_scheme(), SignatureScheme::Ed25519);
    assert_eq!(webhook.public_key, created.public_key);
    let shown = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(shown.signature_scheme(), SignatureScheme::Ed25519);
    assert_eq!(shown.public_key, created.public_key);

    app.publish("member.added", json!({"signed": "ed25519"}), "")
        .await
        .unwrap();
    let got = &receiver.wait_for("/ed25519", 1, WAIT).await[0];
    assert_eq!(verified_by(&created.public_key, got), [true]);
    assert!(signature_entries(got)[0].starts_with("v1a,"));
    // No HMAC of a secret the receiver does not have; the rest is there.
    assert_eq!(got.headers.get("x-webhook-signature"), None);
    assert_eq!(got.header("x-webhook-event"), "member.added");
    assert_eq!(got.header("x-webhook-id"), got.header("webhook-id"));
    assert_eq!(
        got.header("x-webhook-timestamp"),
        got.header("webhook-timestamp")
    );
    assert_eq!(got.header("x-webhook-attempt"), "1");
    // Another key pair's public key does not verify it.
    let other = create_ed25519(&app, "https://hooks.example.com/other").await;
    assert_eq!(verified_by(&other.public_key, got), [false]);
}

async fn rotating_an_ed25519_webhook_gives_a_new_public_key_and_both_keys_sign_in_the_grace(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = create_ed25519(&app, &receiver.url("/rotated")).await;
    let webhook_id = created.webhook.unwrap().id;
    let old = created.public_key;

    let rotated = rotate(&app, &webhook_id).await;
    assert_eq!(rotated.secret, "", "the private key is never returned");
    let new = rotated.public_key.clone();
    public_bytes(&new);
    assert_ne!(new, old);
    let webhook = rotated.webhook.unwrap();
    assert_eq!(webhook.public_key, new);
    assert_eq!(webhook.signature_scheme(), SignatureScheme::Ed25519);
    assert_eq!(app.get_webhook(&webhook_id).await.unwrap().public_key, new);

    app.publish("member.added", json!({"after": "rotation"}), "")
        .await
        .unwrap();
    let got = &receiver.wait_for("/rotated", 1, WAIT).await[0];
    // Newest first: one signature per live key, each by its own key.
    assert_eq!(verified_by(&new, got), [true, false]);
    assert_eq!(verified_by(&old, got), [false, true]);
    assert_eq!(got.headers.get("x-webhook-signature"), None);
}

async fn an_hmac_webhook_is_signed_as_before_and_shows_no_public_key(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    // Unset and HMAC_SHA256 are the same scheme.
    let unset = app
        .subscribe(&receiver.url("/unset"), &["member.added"])
        .await;
    let mut request = app.create_request(&receiver.url("/hmac"), &["member.added"]);
    request.signature_scheme = SignatureScheme::HmacSha256.into();
    let named = app.create_webhook(request).await.unwrap();
    for created in [&unset, &named] {
        assert!(created.secret.starts_with("whsec_"));
        assert_eq!(created.public_key, "");
        let webhook = created.webhook.as_ref().unwrap();
        assert_eq!(webhook.signature_scheme(), SignatureScheme::HmacSha256);
        assert_eq!(webhook.public_key, "");
    }
    let rotated = rotate(&app, &named.webhook.as_ref().unwrap().id).await;
    assert!(rotated.secret.starts_with("whsec_"));
    assert_eq!(rotated.public_key, "");

    app.publish("member.added", json!({}), "").await.unwrap();
    let got = &receiver.wait_for("/unset", 1, WAIT).await[0];
    assert_eq!(
        signature_entries(got),
        [standard_signature(&unset.secret, got)]
    );
    assert_eq!(
        got.header("x-webhook-signature"),
        legacy_signature(&unset.secret, got)
    );
}

async fn an_unknown_scheme_is_refused_on_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = app.create_request("https://hooks.example.com/scheme", &["member.added"]);
    request.signature_scheme = 7;
    let status = app.create_webhook(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let refused = violations(&status);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "signature_scheme");
    assert!(
        refused[0].1.contains("7 is not a signature scheme"),
        "{refused:?}"
    );
}

async fn the_scheme_travels_over_rest_by_its_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let body = json!({
        "url": "https://hooks.example.com/rest-ed25519",
        "events": ["member.added"],
        "signatureScheme": "SIGNATURE_SCHEME_ED25519",
    });
    let answer = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["secret"], "", "{answer:?}");
    let public_key = answer.body["publicKey"].as_str().unwrap();
    public_bytes(public_key);
    let webhook = &answer.body["webhook"];
    assert_eq!(webhook["signatureScheme"], "SIGNATURE_SCHEME_ED25519");
    assert_eq!(webhook["publicKey"], public_key);
}

/// `webhook-service listen`, the real binary, verifies an ed25519 webhook's
/// delivery with the public key given where it takes secrets.
#[tokio::test]
async fn listen_verifies_an_ed25519_delivery_with_the_public_key() {
    use crate::support::listener::{Listener, ca_file};
    let state = tempfile::tempdir().unwrap();
    let keys = state.path().join("keys.txt");
    let keys_flag = keys.to_str().unwrap().to_owned();
    let mut listener = Listener::start(state.path(), &["--secret-file", &keys_flag]).await;
    let ca_file = ca_file(state.path());
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.ca_file = Some(ca_file);
        s.allow_private_targets = true;
    })
    .await;
    let created = create_ed25519(&app, &listener.url("/hooks")).await;
    std::fs::write(&keys, format!("{}\n", created.public_key)).unwrap();
    // The file is read again for every request: the key is in it now.
    app.publish("member.added", json!({ "user_id": "u_42" }), "")
        .await
        .unwrap();
    let request = listener.next_request(WAIT).await;
    assert_eq!(request["event_type"], "member.added", "{request}");
    assert_eq!(request["verified"], true, "{request}");
}
