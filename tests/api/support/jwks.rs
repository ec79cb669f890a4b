//! An identity provider in miniature: signing keys made at test time, and a
//! plain-HTTP loopback server publishing their JWK set, counting fetches,
//! switchable to another set and stoppable.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use webhook_service::auth::JwksUrl;
use webhook_service::config::Settings;

/// A private key and the public JWK a provider publishes for it.
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    /// A fresh P-256 key, published with `alg: ES256`.
    pub fn es256(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Self::ec(kid, Algorithm::ES256, "P-256", &pair)
    }

    /// A fresh P-384 key, published with `alg: ES384`.
    pub fn es384(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        Self::ec(kid, Algorithm::ES384, "P-384", &pair)
    }

    fn ec(kid: &str, alg: Algorithm, curve: &str, pair: &rcgen::KeyPair) -> Self {
        // Uncompressed point: 0x04, then x and y of equal length.
        let point = &pair.public_key_raw()[1..];
        let (x, y) = point.split_at(point.len() / 2);
        Self {
            kid: kid.to_owned(),
            alg,
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({
                "kty": "EC", "crv": curve, "kid": kid, "use": "sig", "alg": alg_name(alg),
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            }),
        }
    }

    /// A fresh Ed25519 key, published with `alg: EdDSA`.
    pub fn ed25519(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key_raw()),
            }),
        }
    }

    /// The fixture RSA key (generating one is slow), published with `alg`,
    /// signing with it.
    pub fn rsa(kid: &str, alg: Algorithm) -> Self {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let pem = std::fs::read(fixtures.join("rs256-private.pem")).unwrap();
        let encoding = EncodingKey::from_rsa_pem(&pem).unwrap();
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    /// The same key published without `alg`: its type alone says which
    /// algorithms it takes.
    pub fn without_alg(mut self) -> Self {
        self.jwk.as_object_mut().unwrap().remove("alg");
        self
    }

    /// A token of `claims` with this key's `kid` and algorithm.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.alg, Some(&self.kid), claims)
    }

    /// A token of `claims` signed with this key as `alg`, naming `kid`.
    pub fn sign_as(&self, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign test token")
    }
}

fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// `{"keys": [...]}` of these keys' JWKs.
pub fn key_set(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

struct Published {
    body: Mutex<Bytes>,
    fetches: AtomicUsize,
}

/// Serves one JWK set at `/jwks` over plain HTTP on 127.0.0.1, one
/// connection per fetch (no keep-alive), so that stopping it makes every
/// later fetch fail.
pub struct JwksServer {
    pub url: String,
    published: Arc<Published>,
    accepting: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl JwksServer {
    pub async fn start(set: &Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let published = Arc::new(Published {
            body: Mutex::new(Bytes::from(set.to_string())),
            fetches: AtomicUsize::new(0),
        });
        let shared = published.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let published = shared.clone();
                let service = service_fn(move |_request: hyper::Request<Incoming>| {
                    published.fetches.fetch_add(1, Ordering::SeqCst);
                    let body = published.body.lock().unwrap().clone();
                    async move {
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            published,
            accepting: Mutex::new(Some(accepting)),
        }
    }

    /// From now on, serves `set` (a rotation at the provider).
    pub fn publish(&self, set: &Value) {
        self.publish_body(set.to_string());
    }

    /// From now on, answers these bytes.
    pub fn publish_body(&self, body: impl Into<Bytes>) {
        *self.published.body.lock().unwrap() = body.into();
    }

    /// How many times the set was fetched.
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    /// Stops listening: every later fetch is refused.
    pub async fn stop(&self) {
        let accepting = self.accepting.lock().unwrap().take();
        if let Some(accepting) = accepting {
            accepting.abort();
            // Dropping the task closes the listener.
            let _ = accepting.await;
        }
    }

    /// Settings that check tokens against this set instead of JWT_SECRET.
    pub fn trusted(&self) -> impl FnOnce(&mut Settings) + '_ {
        move |settings| {
            settings.jwt_secret = None;
            settings.jwt_jwks_url = Some(JwksUrl::parse(&self.url).unwrap());
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(accepting) = self.accepting.lock().unwrap().take() {
            accepting.abort();
        }
    }
}
