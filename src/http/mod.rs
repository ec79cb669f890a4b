//! The REST/JSON face: a second transport beside `src/grpc/`, made the
//! grpc-gateway way but in process. Each route calls one RPC: the path,
//! query and JSON body become the RPC's request message (in the proto3 JSON
//! mapping), which goes as a gRPC call through the very service the gRPC
//! server serves (same authentication, checks and log lines); the answer
//! comes back as JSON, and a failure as an HTTP status and a
//! `google.rpc.Status` body.
//!
//! - [`routes`]: the one table of routes, that both the router and the
//!   OpenAPI document are made from;
//! - [`router`]: the axum router: dispatch by path, verb and method; 404, 405;
//! - `server`: the plain-HTTP listeners (this one and the metrics
//!   endpoint's): time limits on each request's head and body, the idle
//!   timeout, a cap on connections;
//! - [`shape`]: where each request field comes from (path, query, body);
//! - [`transcode`]: a REST request into a gRPC call and its answer back,
//!   the token checked before the body is read;
//! - [`body`]: a request body, read up to 1 MiB, or thrown away;
//! - [`codec`]: JSON to protobuf and back, and gRPC framing;
//! - [`errors`]: gRPC status to HTTP status and error body;
//! - [`descriptor`]: the messages' shapes and comments, from the descriptor sets;
//! - [`openapi`]: the OpenAPI 3.1 document at `/v1/openapi.json`;
//! - [`console`]: the web console's embedded files at `/console/`.

pub mod body;
pub mod codec;
pub mod console;
pub mod descriptor;
pub mod errors;
pub mod openapi;
pub mod router;
pub mod routes;
mod server;
pub mod shape;
pub mod transcode;

use std::future::Future;

use tokio::net::TcpListener;

pub use console::FrameAncestors;
pub use router::router;
pub use server::{BodyTooSlow, HttpLimits, RequestBody, serve_http};
pub use transcode::Gateway;

/// Serves the REST face of `gateway`'s service and the console (framed
/// only by `frame_ancestors`) on `listener` within `limits` until
/// `shutdown` completes; `public_url` is WEBHOOK_PUBLIC_URL, if set.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    frame_ancestors: &FrameAncestors,
    public_url: Option<&str>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let router = router(gateway, frame_ancestors, public_url);
    serve_http("REST", listener, router, limits, shutdown).await;
}
