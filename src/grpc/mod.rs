//! The gRPC transport: the listener, the layer that times, logs and counts
//! each call, the cap on each RPC's message, generated code and its codec,
//! service implementations (the health service among them), conversions
//! between proto and domain types, and the mapping of errors to statuses.
//! Proto types never leave this module.

mod catalogue;
mod codec;
mod convert;
mod convert_certificates;
mod events;
mod headers;
mod health;
pub mod limits;
pub mod listener;
mod observe;
mod signing;
mod status;
pub mod timestamp;
mod webhooks;

pub use events::EventApi;
pub use health::{HealthApi, WATCHES_PER_CONNECTION, WatchLimits};
pub use limits::{CapMessagesLayer, MessageLimits};
pub use observe::{ObserveRpcsLayer, RestRoute, RpcSpan};
pub use webhooks::WebhookApi;

/// Code generated from `proto/webhooks/v1/webhooks.proto`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("webhooks.v1");
    // The proto3 JSON mapping of every message and enum, for the REST face.
    include!(concat!(env!("OUT_DIR"), "/webhooks.v1.serde.rs"));

    /// The encoded descriptor set that server reflection serves.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/webhooks_descriptor.bin"));
}
