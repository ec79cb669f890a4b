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
//! - `server`: the listener, with a time limit on each request's headers;
//! - [`shape`]: where each request field comes from (path, query, body);
//! - [`transcode`]: a REST request into a gRPC call and its answer back;
//! - [`codec`]: JSON to protobuf and back, and gRPC framing;
//! - [`errors`]: gRPC status to HTTP status and error body;
//! - [`descriptor`]: the messages' shapes and comments, from the descriptor sets;
//! - [`openapi`]: the OpenAPI 3.1 document at `/v1/openapi.json`.

pub mod codec;
pub mod descriptor;
pub mod errors;
pub mod openapi;
pub mod router;
pub mod routes;
mod server;
pub mod shape;
pub mod transcode;

use std::net::SocketAddr;

pub use router::router;
pub use server::serve;

/// Where the REST face listens (WEBHOOK_HTTP_ADDR), if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAddr {
    Off,
    At(SocketAddr),
}

impl HttpAddr {
    /// `off`, or an address such as `127.0.0.1:8080`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse().map(Self::At).map_err(|_| {
            format!(
                "WEBHOOK_HTTP_ADDR must be an address such as 127.0.0.1:8080, or `off`; \
                     `{s}` is neither"
            )
        })
    }

    /// The address to bind, unless `off`.
    pub fn address(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::At(address) => Some(address),
        }
    }
}
