//! The one stack of gRPC services that both the gRPC server and the REST
//! face call into.

use std::sync::Arc;

use tonic::service::Routes;

use crate::auth::{Authenticated, Authenticator, CallQuota};
use crate::grpc::proto::{
    self, event_service_server::EventServiceServer, webhook_service_server::WebhookServiceServer,
};
use crate::grpc::{
    CapMessagesLayer, EventApi, HealthApi, MessageLimits, ObserveRpcsLayer, WebhookApi,
};
use crate::metrics::Metrics;
use crate::service::Events;

/// Every gRPC service in the layers each call goes through, from the
/// inside out: authentication (and what the token alone tells of access)
/// and each organization's share of the calls in progress around the
/// protected services, then the cap on each message, then the
/// RPC's span and log line. The gRPC server serves it, and the REST face
/// sends its transcoded calls through it: a REST call is a gRPC call.
/// A layer that belongs to every RPC goes here.
pub(super) fn rpc_service(
    authenticator: &Authenticator,
    quota: Arc<CallQuota>,
    limits: MessageLimits,
    metrics: &Metrics,
    apis: Apis,
) -> anyhow::Result<Routes> {
    let webhooks = Authenticated::new(
        WebhookServiceServer::new(apis.webhooks),
        authenticator.clone(),
        quota.clone(),
    );
    let events = Authenticated::new(
        EventServiceServer::new(EventApi::new(apis.events)),
        authenticator.clone(),
        quota,
    );
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // So grpcurl can print the google.rpc.BadRequest of an error.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    // grpcurl before 1.9 speaks only v1alpha.
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let observe = ObserveRpcsLayer::new(
        metrics,
        &[
            proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ],
    )?;
    let routes = Routes::new(apis.health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(webhooks)
        .add_service(events)
        .into_axum_router()
        // Every RPC's layers, gRPC or REST (they see an
        // `http::Request<axum::body::Body>`): a message over its cap is
        // refused as it arrives; each call is timed, logged and counted.
        .layer(CapMessagesLayer::new(limits))
        .layer(observe);
    Ok(Routes::from(routes))
}

/// The services the server answers, besides reflection.
pub(super) struct Apis {
    pub webhooks: WebhookApi,
    pub events: Events,
    pub health: tonic_health::pb::health_server::HealthServer<HealthApi>,
}
