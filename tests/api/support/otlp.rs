//! A real OTLP trace collector: the official `TraceService` (from
//! `opentelemetry-proto`) served over gRPC on a random loopback port,
//! keeping every span it is sent, with its resource.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::Notify;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::otlp_tls::{ServerTls, TlsListener};

/// A caller's trace context, as a test sends it in `traceparent`: a fresh
/// trace id, its own span id, sampled.
pub struct Caller {
    pub trace_id: String,
    pub span_id: String,
}

impl Caller {
    pub fn new() -> Self {
        Self {
            trace_id: Uuid::new_v4().simple().to_string(),
            span_id: Uuid::new_v4().simple().to_string()[..16].to_owned(),
        }
    }

    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }

    /// Its `traceparent` with the sampled flag off: it records nothing.
    pub fn unsampled_traceparent(&self) -> String {
        format!("00-{}-{}-00", self.trace_id, self.span_id)
    }
}

/// A span as the collector got it, with its resource's attributes.
#[derive(Debug, Clone)]
pub struct Received {
    pub span: Span,
    pub resource: Vec<KeyValue>,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex::encode(&self.span.trace_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex::encode(&self.span.parent_span_id)
    }

    /// The span's attribute `key`, as text (integers written out).
    pub fn attribute(&self, key: &str) -> Option<String> {
        value_of(&self.span.attributes, key)
    }

    /// The resource's attribute `key`, as text.
    pub fn resource_attribute(&self, key: &str) -> Option<String> {
        value_of(&self.resource, key)
    }
}

fn value_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[derive(Default)]
struct Spans {
    received: Mutex<Vec<Received>>,
    arrived: Notify,
}

impl Spans {
    fn keep(&self, request: ExportTraceServiceRequest) {
        let mut received = self.received.lock().unwrap();
        for resource_spans in request.resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                received.extend(scope.spans.into_iter().map(|span| Received {
                    span,
                    resource: resource.clone(),
                }));
            }
        }
        drop(received);
        self.arrived.notify_waiters();
    }
}

/// The service the collector serves over gRPC: it keeps what it is sent.
struct Keep(Arc<Spans>);

#[tonic::async_trait]
impl TraceService for Keep {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.keep(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// OTLP's two transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otlp {
    Grpc,
    /// HTTP with protobuf bodies.
    Http,
}

fn serve_grpc(
    listener: tokio::net::TcpListener,
    spans: Arc<Spans>,
    tls: Option<&ServerTls>,
) -> tokio::task::JoinHandle<()> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls.tonic()).unwrap();
    }
    let router = builder.add_service(TraceServiceServer::new(Keep(spans)));
    tokio::spawn(async move {
        router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("the collector serves");
    })
}

fn serve_http(
    listener: tokio::net::TcpListener,
    spans: Arc<Spans>,
    tls: Option<&ServerTls>,
) -> tokio::task::JoinHandle<()> {
    let export = move |body: bytes::Bytes| {
        let spans = spans.clone();
        async move {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
            spans.keep(request);
            (
                [(http::header::CONTENT_TYPE, "application/x-protobuf")],
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        }
    };
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(export));
    let acceptor = tls.map(ServerTls::acceptor);
    tokio::spawn(async move {
        match acceptor {
            Some(acceptor) => axum::serve(TlsListener { listener, acceptor }, app).await,
            None => axum::serve(listener, app).await,
        }
        .expect("the collector serves");
    })
}

/// The collector; it stops serving when dropped.
pub struct Collector {
    pub port: u16,
    scheme: &'static str,
    spans: Arc<Spans>,
    server: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub async fn start() -> Self {
        Self::serve(Otlp::Grpc, None).await
    }

    /// The same collector over OTLP/HTTP with protobuf bodies: `POST
    /// /v1/traces`.
    pub async fn start_http() -> Self {
        Self::serve(Otlp::Http, None).await
    }

    /// A collector speaking `protocol`, over TLS when `tls` is given.
    pub async fn serve(protocol: Otlp, tls: Option<&ServerTls>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Spans::default());
        let server = match protocol {
            Otlp::Grpc => serve_grpc(listener, spans.clone(), tls),
            Otlp::Http => serve_http(listener, spans.clone(), tls),
        };
        Self {
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            spans,
            server,
        }
    }

    /// Its URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// A loopback endpoint where nothing listens: a collector that is down.
    pub fn refusing_endpoint() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.received.lock().unwrap().clone()
    }

    /// The first span received that `matches`, waiting for it up to
    /// `limit`; panics with what did arrive otherwise.
    pub async fn wait_for_span(
        &self,
        limit: Duration,
        matches: impl Fn(&Received) -> bool,
    ) -> Received {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.spans.arrived.notified();
            if let Some(span) = self.spans().into_iter().find(&matches) {
                return span;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let names: Vec<String> = self.spans().iter().map(|s| s.span.name.clone()).collect();
            assert!(
                !left.is_zero(),
                "no such span within {limit:?}; received: {names:?}"
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A collector that accepts connections and never answers: each export
/// hangs until its timeout, the worst a dead collector can do (a refused
/// connection fails at once and empties the service's queue at once).
pub struct SilentCollector {
    pub port: u16,
    holder: tokio::task::JoinHandle<()>,
}

impl SilentCollector {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = tokio::spawn(async move {
            // Held open, never read: the client waits for an answer.
            let mut held = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                held.push(connection);
            }
        });
        Self { port, holder }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for SilentCollector {
    fn drop(&mut self) {
        self.holder.abort();
    }
}
