//! The authentication in front of every protected gRPC service: a tower
//! service rather than a tonic interceptor, since checking a token may wait
//! for the identity provider's keys, and since it must answer before the
//! message is read: a caller without the right to call costs no decoding.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response};
use tonic::server::NamedService;

use super::quota::CallQuota;
use super::{Authenticator, Face};
use crate::domain::access::authorize_early;
use crate::domain::{Action, Caller};

/// Marks a call that the REST face made in process, with the caller it
/// verified (portal tokens included) before it read the body. Only an
/// extension the REST face inserts, never anything read from the wire.
#[derive(Debug, Clone)]
pub struct RestCall(pub Caller);

/// `inner`, reached only with a valid bearer token, by a caller who may
/// make the call as far as the token alone tells ([`authorize_early`]): the
/// [`Caller`] is put into the request's extensions; any other request is
/// answered `UNAUTHENTICATED` or `PERMISSION_DENIED` from its headers,
/// before its message is read. A caller's organization then waits for
/// one of its calls in `quota` (see [`CallQuota`]).
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    authenticator: Authenticator,
    quota: Arc<CallQuota>,
}

impl<S> Authenticated<S> {
    pub fn new(inner: S, authenticator: Authenticator, quota: Arc<CallQuota>) -> Self {
        Self {
            inner,
            authenticator,
            quota,
        }
    }
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for Authenticated<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The service that was polled ready serves this request; its clone
        // waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        let quota = self.quota.clone();
        Box::pin(async move {
            let verified = request.extensions_mut().remove::<RestCall>();
            let caller = match verified {
                Some(RestCall(caller)) => caller,
                None => match authenticator.caller(request.headers(), Face::Grpc).await {
                    Ok(caller) => caller,
                    Err(err) => {
                        tracing::info!(reason = %err, "request not authenticated");
                        return Ok(Status::unauthenticated(err.client_message()).into_http());
                    }
                },
            };
            let method = request.uri().path().rsplit('/').next().unwrap_or_default();
            // An unknown method goes on, to be answered UNIMPLEMENTED.
            if let Some(action) = Action::named(method)
                && let Err(denied) = authorize_early(&caller, action, None)
            {
                return Ok(Status::permission_denied(denied.0).into_http());
            }
            let _in_progress = quota.enter(&caller).await;
            request.extensions_mut().insert(caller);
            inner.call(request).await
        })
    }
}
