//! The layer with slow services: what it logs and counts.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use tracing_subscriber::fmt::MakeWriter;

use super::*;
use crate::metrics::Format;

const PUBLISH: &str = "/webhooks.v1.EventService/PublishEvent";
const PUBLISH_LABELS: &str =
    "grpc_type=\"unary\",grpc_service=\"webhooks.v1.EventService\",grpc_method=\"PublishEvent\"";

/// Answers after `headers_after`: a trailers-only `error`, or a message
/// whose `OK` trailers follow `trailers_after` later.
#[derive(Clone)]
struct Slow {
    headers_after: Duration,
    trailers_after: Duration,
    error: Option<Code>,
}

/// A message, then the trailers when their time comes.
struct Answer {
    message: Option<Bytes>,
    trailers_at: Option<Pin<Box<tokio::time::Sleep>>>,
    trailers: Option<HeaderMap>,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(message) = this.message.take() {
            return Poll::Ready(Some(Ok(Frame::data(message))));
        }
        if let Some(sleep) = &mut this.trailers_at {
            ready!(sleep.as_mut().poll(cx));
            this.trailers_at = None;
        }
        Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

fn grpc_status(code: Code) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-status", (code as i32).to_string().parse().unwrap());
    headers
}

impl Service<Request<()>> for Slow {
    type Response = Response<Answer>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Answer>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let slow = self.clone();
        Box::pin(async move {
            tokio::time::sleep(slow.headers_after).await;
            let answer = match slow.error {
                Some(code) => {
                    let mut response = Response::new(Answer {
                        message: None,
                        trailers_at: None,
                        trailers: None,
                    });
                    *response.headers_mut() = grpc_status(code);
                    response
                }
                None => Response::new(Answer {
                    message: Some(Bytes::from_static(b"\0\0\0\0\0")),
                    trailers_at: Some(Box::pin(tokio::time::sleep(slow.trailers_after))),
                    trailers: Some(grpc_status(Code::Ok)),
                }),
            };
            Ok(answer)
        })
    }
}

/// The log lines of one test's thread, as JSON.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURING: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Writes into the capture of the thread writing, if it has one.
struct ThisThread;

impl Write for ThisThread {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURING.with_borrow(|captured| {
            if let Some(captured) = captured {
                captured.0.lock().unwrap().extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for ThisThread {
    type Writer = ThisThread;

    fn make_writer(&'a self) -> ThisThread {
        ThisThread
    }
}

impl Captured {
    /// Captures what this thread logs from now on. The subscriber is global
    /// and installed before any call goes through the layer: with one
    /// scoped to a test, tracing may register a callsite as disabled while
    /// another test, without a subscriber, runs it on another thread.
    fn start() -> Self {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_writer(ThisThread)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        });
        let captured = Captured::default();
        CAPTURING.set(Some(captured.clone()));
        captured
    }

    /// The span fields of the `rpc finished` lines.
    fn finished(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|line| line["fields"]["message"] == "rpc finished")
            .map(|line| line["span"].clone())
            .collect()
    }
}

/// Calls `service` through the layer on `path`, reads the whole answer,
/// and returns the `rpc finished` line it logged and the metrics.
async fn observe(service: Slow, path: &str) -> (serde_json::Value, Metrics) {
    let captured = Captured::start();
    let metrics = Metrics::new();
    let layer =
        ObserveRpcsLayer::new(&metrics, &[crate::grpc::proto::FILE_DESCRIPTOR_SET]).unwrap();
    let mut observed = layer.layer(service);
    let request = Request::builder().uri(path).body(()).unwrap();
    let response = observed.call(request).await.unwrap();
    response.into_body().collect().await.unwrap();
    let mut lines = captured.finished();
    assert_eq!(lines.len(), 1, "{lines:?}");
    (lines.remove(0), metrics)
}

fn sample(metrics: &Metrics, series: &str) -> f64 {
    metrics
        .encode(Format::Prometheus)
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series}"))
}

#[tokio::test]
async fn a_successful_call_lasts_from_its_arrival_to_its_trailers() {
    let slow = Slow {
        headers_after: Duration::from_millis(80),
        trailers_after: Duration::from_millis(40),
        error: None,
    };
    let (line, metrics) = observe(slow, PUBLISH).await;

    assert_eq!(line["code"], "Ok");
    let logged = line["duration_ms"].as_f64().unwrap();
    assert!((120.0..2000.0).contains(&logged), "{line}");
    let count = format!("grpc_server_handling_seconds_count{{{PUBLISH_LABELS}}}");
    assert_eq!(sample(&metrics, &count), 1.0);
    let sum = format!("grpc_server_handling_seconds_sum{{{PUBLISH_LABELS}}}");
    assert!(sample(&metrics, &sum) >= 0.12);
    let ok = format!("grpc_server_handled_total{{{PUBLISH_LABELS},grpc_code=\"OK\"}}");
    assert_eq!(sample(&metrics, &ok), 1.0);
}

#[tokio::test]
async fn a_failed_call_lasts_from_its_arrival_to_its_trailers_only_answer() {
    let slow = Slow {
        headers_after: Duration::from_millis(80),
        trailers_after: Duration::ZERO,
        error: Some(Code::InvalidArgument),
    };
    let (line, metrics) = observe(slow, PUBLISH).await;

    assert_eq!(line["code"], "InvalidArgument");
    let logged = line["duration_ms"].as_f64().unwrap();
    assert!((80.0..2000.0).contains(&logged), "{line}");
    let invalid =
        format!("grpc_server_handled_total{{{PUBLISH_LABELS},grpc_code=\"InvalidArgument\"}}");
    assert_eq!(sample(&metrics, &invalid), 1.0);
    let started = format!("grpc_server_started_total{{{PUBLISH_LABELS}}}");
    assert_eq!(sample(&metrics, &started), 1.0);
}

#[tokio::test]
async fn a_path_that_is_no_method_is_logged_but_not_counted() {
    let slow = Slow {
        headers_after: Duration::ZERO,
        trailers_after: Duration::ZERO,
        error: Some(Code::Unimplemented),
    };
    let (line, metrics) = observe(slow, "/made.Up/Anything").await;

    assert_eq!(line["code"], "Unimplemented");
    assert_eq!(line["method"], "/made.Up/Anything");
    assert!(!metrics.encode(Format::Prometheus).contains("made.Up"));
}

#[tokio::test]
async fn a_call_whose_client_leaves_ends_as_cancelled() {
    let captured = Captured::start();
    let metrics = Metrics::new();
    let layer =
        ObserveRpcsLayer::new(&metrics, &[crate::grpc::proto::FILE_DESCRIPTOR_SET]).unwrap();
    let mut observed = layer.layer(Slow {
        headers_after: Duration::from_secs(60),
        trailers_after: Duration::ZERO,
        error: None,
    });
    let call = observed.call(Request::builder().uri(PUBLISH).body(()).unwrap());
    let gave_up = tokio::time::timeout(Duration::from_millis(10), call).await;
    assert!(gave_up.is_err());

    let cancelled = format!("grpc_server_handled_total{{{PUBLISH_LABELS},grpc_code=\"Canceled\"}}");
    assert_eq!(sample(&metrics, &cancelled), 1.0);
    assert_eq!(captured.finished()[0]["code"], "Cancelled");
}

#[test]
fn every_method_served_is_known_with_its_kind() {
    let metrics = Metrics::new();
    let layer = ObserveRpcsLayer::new(
        &metrics,
        &[
            crate::grpc::proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ],
    )
    .unwrap();
    assert!(layer.methods.contains_key(PUBLISH));
    assert!(
        layer
            .methods
            .contains_key("/webhooks.v1.WebhookService/CreateWebhook")
    );
    let text = metrics.encode(Format::Prometheus);
    assert!(text.contains(
        "grpc_server_started_total{grpc_type=\"server_stream\",grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Watch\"} 0"
    ));
}
