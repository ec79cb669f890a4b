//! What `GET /metrics` answers: a scraper asking for OpenMetrics (as
//! Prometheus does) gets it, anyone else the Prometheus text format. Every
//! other path answers 404. Start-up serves it on its own plain-HTTP listener
//! (WEBHOOK_METRICS_ADDR), meant for a private network or loopback: it
//! carries no secret, but nothing here authenticates.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::Metrics;

/// The exposition formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Prometheus,
}

impl Format {
    /// OpenMetrics when `accept` names it, else the Prometheus text format.
    fn negotiate(accept: Option<&HeaderValue>) -> Self {
        let wants_openmetrics = accept
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("application/openmetrics-text"));
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// The answer to `request`, whatever its body.
pub fn answer_scrape<B>(metrics: &Metrics, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let format = Format::negotiate(request.headers().get(ACCEPT));
    let mut response = Response::new(Full::new(Bytes::from(metrics.encode(format))));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scraper_that_names_openmetrics_gets_it_and_others_get_prometheus_text() {
        let prometheus = HeaderValue::from_static(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
        );
        assert_eq!(Format::negotiate(Some(&prometheus)), Format::OpenMetrics);
        let curl = HeaderValue::from_static("*/*");
        assert_eq!(Format::negotiate(Some(&curl)), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
    }
}
