//! A real HTTP client for the REST face, and what its answers are compared
//! with: the gRPC answers to the same requests.

use serde_json::Value;
use tonic::Status;
use tonic_types::StatusExt;

use super::TestApp;

/// One REST answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
}

impl Answer {
    /// The `google.rpc.BadRequest` field violations, as `(field, description)`.
    pub fn violations(&self) -> Vec<(String, String)> {
        let details = self.body["details"].as_array().cloned().unwrap_or_default();
        let bad_request = details
            .iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest");
        let Some(bad_request) = bad_request else {
            return Vec::new();
        };
        let violations = bad_request["fieldViolations"].as_array().unwrap();
        violations
            .iter()
            .map(|v| {
                // The proto3 JSON mapping leaves out an empty field: a
                // violation of the request as a whole.
                let field = v["field"].as_str().unwrap_or_default().to_owned();
                (field, v["description"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    /// Asserts that this is the REST form of `status`: the mapped HTTP
    /// status, the same code and message, and the same violations with
    /// their fields in JSON (camelCase) names.
    pub fn assert_same_error_as(&self, status: &Status, http_status: u16) {
        assert_eq!(self.status, http_status, "{self:?} for {status:?}");
        assert_eq!(self.body["code"], status.code() as i32, "{self:?}");
        assert_eq!(self.body["message"], status.message(), "{self:?}");
        let expected: Vec<(String, String)> = status
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default()
            .into_iter()
            .map(|v| (camel_case(&v.field), v.description))
            .collect();
        assert_eq!(self.violations(), expected, "{self:?}");
    }
}

/// `field` in JSON names; a JSON pointer after the field (`data/first_name`)
/// names the caller's own keys, which stay as they are.
fn camel_case(field: &str) -> String {
    let (field, pointer) = field.split_at(field.find('/').unwrap_or(field.len()));
    let mut name = String::new();
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                name.extend(c.to_uppercase());
                upper = false;
            }
            c => name.push(c),
        }
    }
    name + pointer
}

/// A gRPC answer message in the proto3 JSON mapping (the generated serde),
/// to compare a REST body with.
pub fn json_of(message: &impl serde::Serialize) -> Value {
    serde_json::to_value(message).expect("a message serializes")
}

/// The REST face of one test app.
pub struct Rest {
    client: reqwest::Client,
    base: String,
}

impl TestApp {
    pub fn rest(&self) -> Rest {
        Rest::at(self.http_url())
    }

    /// `/v1/organizations/<this app's organization><rest>`.
    pub fn org_path(&self, rest: &str) -> String {
        format!("/v1/organizations/{}{rest}", self.organization)
    }

    /// The seed's call: POSTs the webhook `body` with `token` (none: no
    /// `authorization` header).
    pub async fn create_over_rest(&self, token: Option<&str>, body: &Value) -> Answer {
        let path = self.org_path("/webhooks");
        self.rest().call("POST", &path, token, Some(body)).await
    }

    /// PublishEvent over REST: POSTs the event `body` with a publisher's
    /// token.
    pub async fn publish_over_rest(&self, body: &Value) -> Answer {
        let path = self.org_path("/events");
        let token = super::tokens::publisher_token();
        self.rest()
            .call("POST", &path, Some(&token), Some(body))
            .await
    }
}

impl Rest {
    /// A client for the REST face at `base` (`http://127.0.0.1:PORT`).
    pub fn at(base: String) -> Self {
        let tls = webhook_service::tls::client_config(None, "none").expect("TLS roots");
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .no_proxy()
            .build()
            .expect("an HTTP client");
        Self { client, base }
    }

    /// `method path` with a bearer `token` and a JSON `body`, if given.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut headers = Vec::new();
        let authorization = token.map(|t| format!("Bearer {t}"));
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        let body = match body {
            Some(body) => {
                headers.push(("content-type", "application/json"));
                serde_json::to_vec(body).unwrap()
            }
            None => Vec::new(),
        };
        self.send(method, path, &headers, body).await
    }

    /// `method path` with exactly these headers and body bytes.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the REST face answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a whole body");
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}
