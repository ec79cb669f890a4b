//! The web console at `/console/`: static HTML, CSS and ES modules embedded
//! in the binary, that call the REST routes on the same origin with the
//! admin's bearer token. Nothing here touches the API: the console is only
//! files, served with a strict Content-Security-Policy.
//!
//! - `/console` redirects to `/console/`, which is `index.html`;
//! - `/console/<name>` is one of [`ASSETS`], anything else is 404;
//! - only GET and HEAD (405 with `Allow` otherwise);
//! - every answer, errors and the redirect too, carries the CSP (see
//!   [`csp`]), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//!   no-referrer`, `Cache-Control: no-cache` (the files are not versioned,
//!   so a browser must ask again after an upgrade) and, when no page may
//!   frame the console, `X-Frame-Options: DENY` for older browsers.

mod csp;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};

pub use csp::{FrameAncestors, content_security_policy};

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/console/";

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/console/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("assets/", $name)),
        }
    };
}

/// Every file of the console.
pub static ASSETS: [Asset; 20] = [
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("time.js", JS),
    asset!("messages.js", JS),
    asset!("session.js", JS),
    asset!("portal-link.js", JS),
    asset!("signin.js", JS),
    asset!("webhooks.js", JS),
    asset!("last-day.js", JS),
    asset!("recover.js", JS),
    asset!("webhook-form.js", JS),
    asset!("filter-field.js", JS),
    asset!("filter-try.js", JS),
    asset!("delivery-settings.js", JS),
    asset!("endpoint-auth.js", JS),
    asset!("deliveries.js", JS),
    asset!("event-types.js", JS),
];

/// The console's routes, each answer with the security headers.
pub fn routes(frame_ancestors: &FrameAncestors) -> Router {
    let headers = security_headers(frame_ancestors);
    Router::new()
        // Where a newcomer opening the REST port lands. Temporary: the
        // root may serve something else one day.
        .route(
            "/",
            only_get(|| async { Redirect::temporary(CONSOLE_PATH) }),
        )
        .route(
            "/console",
            only_get(|| async { Redirect::permanent(CONSOLE_PATH) }),
        )
        .route(CONSOLE_PATH, only_get(|| async { serve("index.html") }))
        .route(
            "/console/{*name}",
            only_get(|Path(name): Path<String>| async move { serve(&name) }),
        )
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let headers = headers.clone();
                async move {
                    response.headers_mut().extend(headers);
                    response
                }
            },
        ))
}

fn only_get<H, T>(handler: H) -> MethodRouter
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    // `get` answers HEAD too, without the body.
    get(handler).fallback(|| async {
        let allow = [(header::ALLOW, "GET, HEAD")];
        (
            StatusCode::METHOD_NOT_ALLOWED,
            allow,
            "method not allowed\n",
        )
    })
}

fn serve(name: &str) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response(),
    }
}

fn security_headers(frame_ancestors: &FrameAncestors) -> HeaderMap {
    let policy = content_security_policy(frame_ancestors);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        // FrameAncestors holds printable ASCII only.
        HeaderValue::from_str(&policy).expect("a valid header value"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if frame_ancestors.is_none() {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers
}
