//! The REST routes: one per RPC, in the one table that both the router and
//! the OpenAPI document are made from, so that they cannot drift apart.

use http::{Method, StatusCode};

use super::codec::Codec;
use crate::grpc::proto;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// One REST route and the RPC it calls.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    /// The URL template. `{name}` captures one path segment into the request
    /// field of that JSON name; a `:verb` after the last capture names a
    /// custom method, as in Google's APIs (`/webhooks/{webhookId}:recover`).
    pub path: &'static str,
    /// The gRPC service's full name.
    pub service: &'static str,
    /// The RPC's name in its service.
    pub rpc: &'static str,
    /// Where the request fields that are not in the path come from.
    pub input: Input,
    /// The HTTP status of a successful call.
    pub success: StatusCode,
    pub codec: Codec,
}

/// Where a route takes the request fields that are not in its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// From query parameters; no body.
    Query,
    /// From a JSON object in the body; the fields named here (by their JSON
    /// names) may come as query parameters instead.
    Body {
        also_in_query: &'static [&'static str],
    },
}

const WEBHOOKS: &str = "webhooks.v1.WebhookService";
const EVENTS: &str = "webhooks.v1.EventService";
const WEBHOOKS_PATH: &str = "/v1/organizations/{organizationId}/webhooks";
const BODY: Input = Input::Body { also_in_query: &[] };

/// Every REST route, one per RPC.
pub static ROUTES: [Route; 19] = [
    Route {
        method: Method::POST,
        path: WEBHOOKS_PATH,
        service: WEBHOOKS,
        rpc: "CreateWebhook",
        input: BODY,
        success: StatusCode::CREATED,
        codec: Codec::of::<proto::CreateWebhookRequest, proto::CreateWebhookResponse>(),
    },
    Route {
        method: Method::GET,
        path: WEBHOOKS_PATH,
        service: WEBHOOKS,
        rpc: "ListWebhooks",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::ListWebhooksRequest, proto::ListWebhooksResponse>(),
    },
    Route {
        method: Method::GET,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}",
        service: WEBHOOKS,
        rpc: "GetWebhook",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::GetWebhookRequest, proto::Webhook>(),
    },
    Route {
        method: Method::PATCH,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}",
        service: WEBHOOKS,
        rpc: "UpdateWebhook",
        input: Input::Body {
            also_in_query: &["updateMask"],
        },
        success: StatusCode::OK,
        codec: Codec::of::<proto::UpdateWebhookRequest, proto::Webhook>(),
    },
    Route {
        method: Method::DELETE,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}",
        service: WEBHOOKS,
        rpc: "DeleteWebhook",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::DeleteWebhookRequest, pbjson_types::Empty>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}:rotateSecret",
        service: WEBHOOKS,
        rpc: "RotateWebhookSecret",
        input: BODY,
        success: StatusCode::OK,
        codec: Codec::of::<proto::RotateWebhookSecretRequest, proto::RotateWebhookSecretResponse>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}:sendTestEvent",
        service: WEBHOOKS,
        rpc: "SendTestEvent",
        input: BODY,
        success: StatusCode::OK,
        codec: Codec::of::<proto::SendTestEventRequest, proto::SendTestEventResponse>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}:testWebhookFilter",
        service: WEBHOOKS,
        rpc: "TestWebhookFilter",
        input: BODY,
        success: StatusCode::OK,
        codec: Codec::of::<proto::TestWebhookFilterRequest, proto::TestWebhookFilterResponse>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}:recover",
        service: WEBHOOKS,
        rpc: "RecoverWebhook",
        input: BODY,
        success: StatusCode::OK,
        codec: Codec::of::<proto::RecoverWebhookRequest, proto::RecoverWebhookResponse>(),
    },
    Route {
        method: Method::GET,
        path: "/v1/organizations/{organizationId}/deliveries",
        service: WEBHOOKS,
        rpc: "ListDeliveries",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::ListDeliveriesRequest, proto::ListDeliveriesResponse>(),
    },
    Route {
        method: Method::GET,
        path: "/v1/organizations/{organizationId}/webhooks/{webhookId}/stats",
        service: WEBHOOKS,
        rpc: "GetWebhookStats",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::GetWebhookStatsRequest, proto::WebhookStats>(),
    },
    Route {
        method: Method::GET,
        path: "/v1/organizations/{organizationId}/deliveries/{deliveryId}",
        service: WEBHOOKS,
        rpc: "GetDelivery",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::GetDeliveryRequest, proto::Delivery>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}/deliveries/{deliveryId}:retry",
        service: WEBHOOKS,
        rpc: "RetryDelivery",
        input: BODY,
        success: StatusCode::OK,
        codec: Codec::of::<proto::RetryDeliveryRequest, proto::Delivery>(),
    },
    Route {
        method: Method::GET,
        path: "/v1/eventTypes",
        service: WEBHOOKS,
        rpc: "ListEventTypes",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::ListEventTypesRequest, proto::ListEventTypesResponse>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/eventTypes",
        service: WEBHOOKS,
        rpc: "CreateEventType",
        input: BODY,
        success: StatusCode::CREATED,
        codec: Codec::of::<proto::CreateEventTypeRequest, proto::EventTypeInfo>(),
    },
    Route {
        method: Method::GET,
        path: "/v1/eventTypes/{name}",
        service: WEBHOOKS,
        rpc: "GetEventType",
        input: Input::Query,
        success: StatusCode::OK,
        codec: Codec::of::<proto::GetEventTypeRequest, proto::EventTypeInfo>(),
    },
    Route {
        method: Method::PATCH,
        path: "/v1/eventTypes/{name}",
        service: WEBHOOKS,
        rpc: "UpdateEventType",
        input: Input::Body {
            also_in_query: &["updateMask"],
        },
        success: StatusCode::OK,
        codec: Codec::of::<proto::UpdateEventTypeRequest, proto::EventTypeInfo>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}/portalLinks",
        service: WEBHOOKS,
        rpc: "CreatePortalLink",
        input: BODY,
        success: StatusCode::CREATED,
        codec: Codec::of::<proto::CreatePortalLinkRequest, proto::CreatePortalLinkResponse>(),
    },
    Route {
        method: Method::POST,
        path: "/v1/organizations/{organizationId}/events",
        service: EVENTS,
        rpc: "PublishEvent",
        input: BODY,
        success: StatusCode::OK,
        codec: Codec::of::<proto::PublishEventRequest, proto::PublishEventResponse>(),
    },
];

impl Route {
    /// The gRPC method's path: `/webhooks.v1.WebhookService/CreateWebhook`.
    pub fn grpc_path(&self) -> String {
        format!("/{}", self.method_name())
    }

    /// `webhooks.v1.WebhookService/CreateWebhook`, as the descriptors key it.
    pub fn method_name(&self) -> String {
        format!("{}/{}", self.service, self.rpc)
    }

    /// The template without its custom verb: what the router matches.
    pub fn matched_path(&self) -> &'static str {
        match self.verb() {
            Some(verb) => &self.path[..self.path.len() - verb.len() - 1],
            None => self.path,
        }
    }

    /// The custom method after the last capture, if any (`recover`).
    pub fn verb(&self) -> Option<&'static str> {
        let last = self.path.rsplit('/').next().unwrap_or_default();
        last.rsplit_once(':').map(|(_, verb)| verb)
    }

    /// The JSON names of the request fields the path captures, in order.
    pub fn path_fields(&self) -> impl Iterator<Item = &'static str> {
        self.matched_path()
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_rpc_has_one_route() {
        let methods = &super::super::descriptor::descriptors().methods;
        let api: BTreeSet<&str> = methods
            .keys()
            .filter(|m| m.starts_with("webhooks.v1."))
            .map(String::as_str)
            .collect();
        let routed: Vec<String> = ROUTES.iter().map(Route::method_name).collect();
        let routed_set: BTreeSet<&str> = routed.iter().map(String::as_str).collect();
        assert_eq!(api, routed_set);
        assert_eq!(routed.len(), routed_set.len(), "an RPC routed twice");
    }

    #[test]
    fn a_custom_verb_follows_the_last_capture() {
        let recover = ROUTES.iter().find(|r| r.rpc == "RecoverWebhook").unwrap();
        assert_eq!(recover.verb(), Some("recover"));
        assert_eq!(
            recover.matched_path(),
            "/v1/organizations/{organizationId}/webhooks/{webhookId}"
        );
        assert_eq!(
            recover.path_fields().collect::<Vec<_>>(),
            ["organizationId", "webhookId"]
        );
        for route in &ROUTES {
            if route.verb().is_some() {
                assert!(route.matched_path().ends_with('}'), "{}", route.path);
            }
        }
        let types = ROUTES.iter().find(|r| r.rpc == "ListEventTypes").unwrap();
        assert_eq!((types.verb(), types.path_fields().count()), (None, 0));
    }
}
