//! The authentication in front of every protected gRPC service: a tower
//! service rather than a tonic interceptor, since checking a token may wait
//! for the identity provider's keys.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::server::NamedService;

use super::portal::{PortalTokens, is_portal_token};
use super::{AuthError, JwtVerifier, bearer};
use crate::domain::Caller;

/// Marks a call that the REST face made in process. Only an extension the
/// REST face inserts, never anything read from the wire: a portal token is
/// accepted on such calls only.
#[derive(Debug, Clone, Copy)]
pub struct RestCall;

/// `inner`, reached only with a valid bearer token: the [`Caller`] it
/// describes is put into the request's extensions, and any other request is
/// answered `UNAUTHENTICATED`. A token whose header says `typ: portal+jwt`
/// is checked with the portal key, and only on a [`RestCall`]; any other
/// with the identity provider's keys.
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    verifier: Arc<JwtVerifier>,
    portal: Arc<PortalTokens>,
}

impl<S> Authenticated<S> {
    pub fn new(inner: S, verifier: Arc<JwtVerifier>, portal: Arc<PortalTokens>) -> Self {
        Self {
            inner,
            verifier,
            portal,
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
        let verifier = self.verifier.clone();
        let portal = self.portal.clone();
        Box::pin(async move {
            let rest = request.extensions().get::<RestCall>().is_some();
            match authenticate(request.headers(), rest, &verifier, &portal).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(err) => {
                    tracing::info!(reason = %err, "request not authenticated");
                    Ok(Status::unauthenticated(err.client_message()).into_http())
                }
            }
        })
    }
}

/// The caller of a request with these headers, from its bearer token;
/// `rest` when the REST face made the call.
async fn authenticate(
    headers: &HeaderMap,
    rest: bool,
    verifier: &JwtVerifier,
    portal: &PortalTokens,
) -> Result<Caller, AuthError> {
    let token = bearer(headers)?;
    if !is_portal_token(token) {
        return verifier.verify(token).await;
    }
    if !rest {
        return Err(AuthError::OutsideConsole);
    }
    portal.verify(token)
}
