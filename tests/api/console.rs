//! The web console's files over a real socket: the strict Content-Security-
//! Policy and the other headers on every answer, the content types, who may
//! frame it (WEBHOOK_PORTAL_FRAME_ANCESTORS), the redirect, 404 and 405, and
//! a static look at what the files hold (nothing inline, no HTML from data).

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;

use crate::support::{Backend, binary, spawn_app, spawn_app_with};
use webhook_service::http::FrameAncestors;

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors ";

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    let tls = webhook_service::tls::client_config(None, "none").expect("TLS roots");
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

async fn fetch(method: &str, url: &str) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client()
        .request(method, url)
        .send()
        .await
        .expect("an answer");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("a text body"),
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The security headers every console answer carries, framed by `ancestors`.
fn assert_secured(answer: &Answer, ancestors: &str, what: &str) {
    assert_eq!(
        header(answer, "content-security-policy"),
        format!("{POLICY}{ancestors}"),
        "{what}"
    );
    assert_eq!(
        header(answer, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(answer, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(answer, "cache-control"), "no-cache", "{what}");
}

/// Every file the page loads, following the HTML's `src` and `href` and the
/// modules' `import … from './x.js'`, by name.
async fn crawl(base: &str) -> BTreeMap<String, Answer> {
    let mut files = BTreeMap::new();
    let mut queue = vec!["".to_owned()];
    while let Some(name) = queue.pop() {
        if files.contains_key(&name) {
            continue;
        }
        let answer = fetch("GET", &format!("{base}/console/{name}")).await;
        assert_eq!(answer.status, 200, "/console/{name}");
        let references = if name.is_empty() {
            quoted_after(&answer.body, &["src=\"", "href=\""], '"')
        } else if name.ends_with(".js") {
            quoted_after(&answer.body, &["from './", "import './"], '\'')
        } else {
            Vec::new()
        };
        for reference in references {
            // Data URLs, in-page links (`?view=`, `#main`) load nothing.
            if !reference.starts_with(['?', '#']) && !reference.starts_with("data:") {
                assert!(
                    !reference.contains("//") && !reference.starts_with('/'),
                    "{name} loads {reference}: only files beside it"
                );
                queue.push(reference.trim_start_matches("./").to_owned());
            }
        }
        files.insert(name, answer);
    }
    files
}

/// What follows each of `openers` up to `close`.
fn quoted_after(text: &str, openers: &[&str], close: char) -> Vec<String> {
    let mut found = Vec::new();
    for opener in openers {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let end = rest.find(close).expect("a closing quote");
            let value = &rest[..end];
            // `import './x.js'` keeps its `./` in the value only for `from`.
            found.push(if opener.ends_with("./") {
                format!("./{value}")
            } else {
                value.to_owned()
            });
        }
    }
    found
}

#[tokio::test]
async fn the_console_is_served_with_the_strict_policy_and_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let base = app.http_url();
    for method in ["GET", "HEAD"] {
        let page = fetch(method, &format!("{base}/console/")).await;
        assert_eq!(page.status, 200, "{method}");
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_secured(&page, "'none'", method);
        // Framed by no one: older browsers read this header instead.
        assert_eq!(header(&page, "x-frame-options"), "DENY");
        if method == "GET" {
            assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
        } else {
            assert_eq!(page.body, "");
        }
    }
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_with_its_content_type() {
    let app = spawn_app(Backend::Sqlite).await;
    let files = crawl(&app.http_url()).await;
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    for expected in [
        "console.css",
        "app.js",
        "api.js",
        "webhooks.js",
        "deliveries.js",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not loaded: {names:?}"
        );
    }
    for (name, answer) in &files {
        let expected = match name.rsplit_once('.').map(|(_, ext)| ext) {
            None => "text/html; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some(other) => panic!("an unexpected kind of file: {name} ({other})"),
        };
        assert_eq!(header(answer, "content-type"), expected, "{name}");
        assert_secured(answer, "'none'", name);
    }
    // Every embedded file is reachable from the page: none is dead weight.
    let embedded: Vec<&str> = webhook_service::http::console::ASSETS
        .iter()
        .map(|a| a.name)
        .filter(|n| *n != "index.html")
        .collect();
    for name in embedded {
        assert!(names.contains(&name), "{name} is embedded but never loaded");
    }
}

#[tokio::test]
async fn the_configured_frame_ancestors_are_in_the_policy() {
    let ancestors = "https://app.example.com 'self'";
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.portal_frame_ancestors = FrameAncestors::parse(ancestors).unwrap();
    })
    .await;
    let page = fetch("GET", &format!("{}/console/", app.http_url())).await;
    assert_eq!(page.status, 200);
    assert_secured(&page, ancestors, "/console/");
    // Some pages may frame it: DENY would forbid them in older browsers.
    assert!(page.headers.get("x-frame-options").is_none());
}

#[tokio::test]
async fn only_the_consoles_files_are_served_and_only_to_get_and_head() {
    let app = spawn_app(Backend::Sqlite).await;
    let base = app.http_url();

    let bare = fetch("GET", &format!("{base}/console")).await;
    assert_eq!(bare.status, 308);
    assert_eq!(header(&bare, "location"), "/console/");
    assert_secured(&bare, "'none'", "the redirect");

    // The REST port's root is where a newcomer looks first: the console.
    let root = fetch("GET", &format!("{base}/")).await;
    assert_eq!(root.status, 307);
    assert_eq!(header(&root, "location"), "/console/");
    assert_secured(&root, "'none'", "the root's redirect");

    for unknown in [
        "nope.js",
        "assets/app.js",
        "..%2fCargo.toml",
        "mod.rs",
        "app.js/",
    ] {
        let answer = fetch("GET", &format!("{base}/console/{unknown}")).await;
        assert_eq!(answer.status, 404, "{unknown}");
        assert_secured(&answer, "'none'", unknown);
    }

    for path in ["/console/", "/console/app.js", "/console"] {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let answer = fetch(method, &format!("{base}{path}")).await;
            assert_eq!(answer.status, 405, "{method} {path}");
            assert_eq!(header(&answer, "allow"), "GET, HEAD", "{method} {path}");
            assert_secured(&answer, "'none'", path);
        }
    }

    // The REST routes keep their own answers.
    let rest = fetch("GET", &format!("{base}/v1/openapi.json")).await;
    assert_eq!(header(&rest, "content-type"), "application/json");
    assert!(rest.headers.get("content-security-policy").is_none());
}

#[tokio::test]
async fn no_file_holds_inline_code_styles_or_html_built_from_strings() {
    let app = spawn_app(Backend::Sqlite).await;
    let files = crawl(&app.http_url()).await;
    for (name, answer) in &files {
        let text = answer.body.to_lowercase();
        for forbidden in [
            "innerhtml",
            "outerhtml",
            "insertadjacenthtml",
            "document.write",
            "style=",
            "javascript:",
            "eval(",
            "new function",
            // The token lives in sessionStorage only, and is never logged.
            "localstorage",
            "document.cookie",
            "console.log",
        ] {
            assert!(!text.contains(forbidden), "{name} holds `{forbidden}`");
        }
        if name.is_empty() {
            assert_eq!(text.matches("<script").count(), 1, "one script");
            assert!(
                text.contains("<script type=\"module\" src=\"app.js\"></script>"),
                "the script is a file, with no body"
            );
            assert!(!text.contains("<style"), "an inline stylesheet");
            // No `onclick=`, `onload=`, …: handlers are added by the modules.
            for (at, _) in text.match_indices(" on") {
                let rest = &text[at + 3..];
                let name_end = rest
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(rest.len());
                assert!(
                    !rest[name_end..].starts_with('='),
                    "an inline handler: {}",
                    &text[at..(at + 20).min(text.len())]
                );
            }
        }
    }
}

#[tokio::test]
async fn a_frame_ancestors_setting_that_could_bend_the_policy_stops_the_start() {
    for wrong in [
        "'self'; script-src *",
        "'unsafe-inline'",
        "https://a.example,https://b.example",
    ] {
        let output = binary()
            .env("JWT_SECRET", "s3cret")
            .env("WEBHOOK_LISTEN_ADDR", "127.0.0.1:0")
            .env("WEBHOOK_PORTAL_FRAME_ANCESTORS", wrong)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{wrong}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("WEBHOOK_PORTAL_FRAME_ANCESTORS"),
            "{wrong}: {stderr}"
        );
    }
}
