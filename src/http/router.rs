//! The axum router made from the route table: the routes that share a path
//! (up to a custom `:verb`) share one handler, which picks the route by verb
//! and method, answering 404 and 405 in the error shape. The console's
//! files sit beside them, under `/console/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{Method, Request, Uri};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::console::{self, FrameAncestors};
use super::errors::{ApiError, cut};
use super::routes::{OPENAPI_PATH, ROUTES};
use super::shape::RequestShape;
use super::transcode::Gateway;
use super::{openapi, transcode};

/// The REST face over `gateway`'s service, the one that answers gRPC calls,
/// and the console, which only `frame_ancestors` may frame; the OpenAPI
/// document names `public_url` (WEBHOOK_PUBLIC_URL) as its server, if set.
pub fn router(
    gateway: Gateway,
    frame_ancestors: &FrameAncestors,
    public_url: Option<&str>,
) -> Router {
    let mut groups: BTreeMap<&'static str, Vec<RequestShape>> = BTreeMap::new();
    for route in &ROUTES {
        // The table is code: a route naming a field its message lacks is a
        // bug that the unit tests find.
        let shape = RequestShape::of(route).unwrap_or_else(|e| panic!("route table: {e}"));
        groups.entry(route.matched_path()).or_default().push(shape);
    }
    let openapi = get(openapi::serve(public_url)).fallback(|method: Method, uri: Uri| async move {
        ApiError::method_not_allowed(&method, uri.path(), vec!["GET".to_owned()]).logged()
    });
    let mut router = Router::new().route(OPENAPI_PATH, openapi);
    for (path, shapes) in groups {
        let group = Arc::new(Group {
            gateway: gateway.clone(),
            shapes,
        });
        let handler = move |captures, request| {
            let group = group.clone();
            async move { group.dispatch(captures, request).await }
        };
        router = router.route(path, any(handler));
    }
    router
        .merge(console::routes(frame_ancestors))
        .fallback(not_found)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(http_span as fn(&Request<Body>) -> Span)
                .on_request(())
                .on_response(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
}

/// The routes of one path, told apart by custom verb and method.
struct Group {
    gateway: Gateway,
    shapes: Vec<RequestShape>,
}

impl Group {
    async fn dispatch(
        &self,
        captures: Result<Path<Vec<(String, String)>>, PathRejection>,
        request: Request<Body>,
    ) -> Response {
        let mut captures = match captures {
            Ok(Path(captures)) => captures,
            Err(PathRejection::MissingPathParams(_)) => Vec::new(),
            Err(rejection) => {
                let why = rejection.body_text();
                return ApiError::bad_request(format!("bad URL path: {}", cut(&why)))
                    .logged()
                    .into_response();
            }
        };
        let verb = self.split_verb(&mut captures);
        let candidates: Vec<&RequestShape> = self
            .shapes
            .iter()
            .filter(|shape| shape.route().verb() == verb.as_deref())
            .collect();
        let path = request.uri().path().to_owned();
        if candidates.is_empty() {
            return ApiError::no_route(request.method(), &path)
                .logged()
                .into_response();
        }
        let Some(shape) = candidates
            .iter()
            .find(|shape| shape.route().method == request.method())
        else {
            let allow = candidates.iter().map(|s| s.route().method.to_string());
            return ApiError::method_not_allowed(request.method(), &path, allow.collect())
                .logged()
                .into_response();
        };
        transcode::call(&self.gateway, shape, captures, request).await
    }

    /// Takes a custom verb (`webhookId` = `…:recover`) off the last capture,
    /// when this path has routes with verbs.
    fn split_verb(&self, captures: &mut [(String, String)]) -> Option<String> {
        if self
            .shapes
            .iter()
            .all(|shape| shape.route().verb().is_none())
        {
            return None;
        }
        let (_, last) = captures.last_mut()?;
        let (value, verb) = last.rsplit_once(':')?;
        let verb = verb.to_owned();
        *last = value.to_owned();
        Some(verb)
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::no_route(&method, uri.path()).logged()
}

/// Every REST request's span: the RPC's own span and log line sit in it.
fn http_span(request: &Request<Body>) -> Span {
    tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
}
