//! Builds the application from its settings: database, auth, gRPC services
//! and their REST face. `build` binds the listeners itself, so tests can ask
//! for port 0.
//!
//! - [`rpc`]: the stack of gRPC services every call, gRPC or REST, goes through;
//! - [`signal`]: SIGINT and SIGTERM.

mod rpc;
mod signal;

pub use signal::shutdown_signal;

use rpc::{Apis, rpc_service};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::Stream;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;

use crate::auth::{Authenticator, CallQuota, JwksStats, JwtVerifier, PortalKey, PortalTokens};
use crate::config::{ListenAddr, Settings};
use crate::delivery::{Activity, Dispatcher, HandoffsInTransit, Wakeup, retention, sweeper};
use crate::grpc::listener::{Connection, TrackRpcsLayer, incoming};
use crate::grpc::{HealthApi, MessageLimits, WatchLimits, WebhookApi};
use crate::health::{self, Health};
use crate::http;
use crate::metrics::{self, Metrics};
use crate::net::{ConnectionTimeouts, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT};
use crate::service::{
    Catalogue, Deliveries, EventTypes, Events, PortalLinks, Publisher, WebhookRules, Webhooks,
};
use crate::store::{SecretBox, Store};

/// A built application, bound to its port and ready to serve.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    metrics: Metrics,
    /// Where metrics are served; `None` when WEBHOOK_METRICS_ADDR is `off`.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    /// Where the REST face listens; `None` when WEBHOOK_HTTP_ADDR is `off`.
    http_listener: Option<(TcpListener, SocketAddr)>,
    /// Who may frame the console (WEBHOOK_PORTAL_FRAME_ANCESTORS).
    frame_ancestors: http::FrameAncestors,
    /// WEBHOOK_PUBLIC_URL as set: the OpenAPI document's server.
    public_url: Option<String>,
    connections: ConnectionTimeouts,
    limits: MessageLimits,
    /// Calls of one organization at once (WEBHOOK_MAX_CALLS_PER_ORGANIZATION).
    calls_per_organization: usize,
    /// Calls one gRPC connection may have open (WEBHOOK_MAX_CONCURRENT_STREAMS).
    max_concurrent_streams: u32,
    /// Connections the gRPC listener holds at once (WEBHOOK_GRPC_MAX_CONNECTIONS).
    grpc_max_connections: usize,
    /// Bounds the health `Watch` streams (WEBHOOK_MAX_HEALTH_WATCHES).
    health_watches: WatchLimits,
    /// How the REST and metrics listeners treat their connections.
    http_limits: http::HttpLimits,
    /// How often the backlog gauges are read (WEBHOOK_METRICS_BACKLOG_REFRESH).
    backlog_refresh: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    verifier: Arc<JwtVerifier>,
    portal: PortalLinks,
    portal_tokens: Arc<PortalTokens>,
    publisher: Publisher,
    dispatcher: Dispatcher,
    rules: WebhookRules,
    shutdown_delay: Duration,
    shutdown_grace: Duration,
    retention: Duration,
    retention_interval: Duration,
}

impl Application {
    /// Connects and migrates the database, loads the token key and binds the
    /// listen address. Fails with a message naming the setting at fault.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let verifier = Arc::new(settings.jwt_verifier().await?);
        let key = settings.encryption_key()?;
        if key.is_none() {
            tracing::warn!(
                "WEBHOOK_ENCRYPTION_KEY is not set: signing secrets are stored unencrypted"
            );
        }
        let portal_key = settings.portal_key()?;
        let portal_max_ttl = settings.portal_max_ttl()?;
        let delivery = settings.delivery()?;
        let connections = settings.connection_timeouts()?;
        let http_limits = settings.http_limits()?;
        let backlog_refresh = settings.metrics_backlog_refresh()?;
        settings.check_public_url()?;
        if settings.allow_private_targets {
            tracing::warn!(
                "WEBHOOK_ALLOW_PRIVATE_TARGETS is on: webhooks may target loopback and private \
                 addresses, so the SSRF guard is off (for development and tests only)"
            );
        }
        let tls = settings.tls()?;
        if tls.is_some() {
            let mutual = settings.tls_client_ca_file.is_some();
            tracing::info!(client_certificates_required = mutual, "gRPC over TLS");
        }
        let store = Store::connect(&settings.database_url, SecretBox::new(key)).await?;
        let metrics = Metrics::watching(verifier.jwks_stats(), Some(store.statement_stats()));
        let portal_key = match portal_key {
            Some(key) => key,
            None => stored_portal_key(&store).await?,
        };
        let (wakeup, inbox) = Wakeup::new(&delivery, store.is_sqlite());
        let dispatcher = Dispatcher::new(
            store.clone(),
            delivery,
            wakeup.clone(),
            inbox,
            metrics.clone(),
        )?;
        dispatcher.resume_left_work().await;
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on WEBHOOK_LISTEN_ADDR {}",
                    settings.listen_addr
                )
            })?;
        let address = listener.local_addr()?;
        let metrics_listener = bind(settings.metrics_addr, "WEBHOOK_METRICS_ADDR").await?;
        let http_listener = bind(settings.http_addr, "WEBHOOK_HTTP_ADDR").await?;
        let grpc_max_connections = settings.grpc_max_connections();
        tracing::info!(
            max_connections = grpc_max_connections,
            "connections the gRPC listener holds at most"
        );
        if metrics_listener.is_some() || http_listener.is_some() {
            tracing::info!(
                max_connections = http_limits.max_connections,
                "connections each plain-HTTP listener holds at most"
            );
        }
        if tls.is_some() && http_listener.is_some() {
            tracing::warn!(
                "WEBHOOK_HTTP_ADDR serves plain HTTP: the TLS settings apply to gRPC only"
            );
        }
        let portal_tokens = Arc::new(PortalTokens::new(&portal_key));
        // No REST listener, no console to link to.
        let public_url = http_listener.as_ref().map(|(_, address)| {
            settings
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}"))
        });
        if http_listener.is_none() && settings.public_url.is_some() {
            tracing::warn!(
                "WEBHOOK_PUBLIC_URL is set but WEBHOOK_HTTP_ADDR is off: no portal links"
            );
        }
        let portal = PortalLinks::new(portal_tokens.clone(), portal_max_ttl, public_url.as_deref());
        Ok(Self {
            listener,
            address,
            metrics: metrics.clone(),
            metrics_listener,
            http_listener,
            frame_ancestors: settings.portal_frame_ancestors.clone(),
            public_url: settings.public_url.clone(),
            connections,
            limits: settings.message_limits(),
            calls_per_organization: settings.max_calls_per_organization as usize,
            max_concurrent_streams: settings.max_concurrent_streams,
            grpc_max_connections,
            health_watches: WatchLimits::new(settings.max_health_watches as usize),
            http_limits,
            backlog_refresh,
            tls,
            verifier,
            portal,
            portal_tokens,
            publisher: Publisher::new(store, wakeup, metrics),
            dispatcher,
            rules: settings.webhook_rules(),
            shutdown_delay: settings.shutdown_delay,
            shutdown_grace: settings.shutdown_grace,
            retention: settings.retention,
            retention_interval: settings.retention_interval,
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Where `GET /metrics` is served (the real port when 0 was asked
    /// for); `None` when WEBHOOK_METRICS_ADDR is `off`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, address)| *address)
    }

    /// The address the REST face actually bound, unless WEBHOOK_HTTP_ADDR
    /// is `off`.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_listener.as_ref().map(|(_, address)| *address)
    }

    /// The counters of the identity provider's key set, when tokens are
    /// checked against one (JWT_JWKS_URL).
    pub fn jwks_stats(&self) -> Option<Arc<JwksStats>> {
        self.verifier.jwks_stats()
    }

    /// Deliveries handed over by publishing and not yet taken in by the
    /// workers, for tests.
    pub fn handoffs_in_transit(&self) -> HandoffsInTransit {
        self.dispatcher.handoffs_in_transit()
    }

    /// What the delivery workers hold and do, published at every change:
    /// for tests that wait until the workers looked and found nothing to
    /// send, instead of sleeping.
    pub fn delivery_activity(&self) -> tokio::sync::watch::Receiver<Activity> {
        self.dispatcher.activity()
    }

    /// The in-process event bus, for embedding and tests.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Serves gRPC and REST and delivers until `shutdown` completes. Then
    /// health turns NOT_SERVING at once; after the shutdown delay the
    /// listeners close, the workers stop claiming, and in-flight calls and delivery
    /// attempts get the shutdown grace to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let health = Health::new();
        let health_api = HealthApi::new(health.clone(), stopped.clone(), self.health_watches);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let store = self.publisher.store();
        // Upkeep of the store: old history forgotten, pauses finished.
        let upkeep = futures_util::future::join(
            retention::run(
                store.clone(),
                self.retention,
                self.retention_interval,
                until_stopped(),
            ),
            sweeper::run(store.clone(), self.metrics.clone(), until_stopped()),
        );
        let verifier = self.verifier.clone();
        let keys = async {
            if let Some(jwks) = verifier.jwks() {
                jwks.keep_fresh(until_stopped()).await;
            }
        };
        let monitor = health::monitor(
            health.clone(),
            self.metrics.clone(),
            store.probe(),
            until_stopped(),
        );
        let observed = Self::observe(
            self.metrics_listener.map(|(listener, _)| listener),
            self.http_limits,
            self.backlog_refresh,
            store.clone(),
            self.metrics.clone(),
            until_stopped(),
        );
        let webhooks = Webhooks::new(self.publisher.clone(), self.rules);
        let catalogue = Catalogue::new(store.clone());
        let api = WebhookApi::new(
            webhooks,
            Deliveries::new(self.publisher.clone()),
            EventTypes::new(catalogue.clone()),
            self.portal,
        );
        // Forgets the catalogue types other processes change.
        let catalogue_changes = catalogue.clone().watch(until_stopped());
        let authenticator = Authenticator::new(self.verifier, self.portal_tokens);
        let rpc = rpc_service(
            &authenticator,
            CallQuota::new(self.calls_per_organization),
            self.limits,
            &self.metrics,
            Apis {
                webhooks: api,
                events: Events::new(self.publisher, catalogue.clone()),
                health: health_api,
            },
        )?;
        let rest = self.http_listener.map(|(listener, _)| {
            let http_limits = self.http_limits;
            let gateway = http::Gateway {
                rpc: rpc.clone(),
                authenticator,
                limits: self.limits,
            };
            let stopped = until_stopped();
            let ancestors = self.frame_ancestors.clone();
            let public_url = self.public_url.clone();
            async move {
                http::serve(
                    listener,
                    gateway,
                    &ancestors,
                    public_url.as_deref(),
                    http_limits,
                    stopped,
                )
                .await;
            }
        });
        let rest = async {
            if let Some(rest) = rest {
                rest.await;
            }
        };
        let server = Self::serve(
            incoming(
                self.listener,
                self.connections,
                self.tls,
                self.grpc_max_connections,
            ),
            self.max_concurrent_streams,
            rpc,
            until_stopped(),
        );
        let delivery = self.dispatcher.run(until_stopped());
        let (delay, grace) = (self.shutdown_delay, self.shutdown_grace);
        let signal = async move {
            shutdown.await;
            health.drain();
            // Load balancers that poll health need time to see it before
            // connections are refused; clients watching it know already.
            if !delay.is_zero() {
                tracing::info!(delay = ?delay, "closing the listener after the shutdown delay");
                tokio::time::sleep(delay).await;
            }
            tracing::info!(grace = ?grace, "listener closed; finishing in-flight calls and attempts");
            let _ = stop.send(true);
        };
        let work = async {
            let (served, (), (), ((), ()), (), (), (), (), ()) = tokio::join!(
                server,
                rest,
                delivery,
                upkeep,
                catalogue_changes,
                keys,
                monitor,
                observed,
                signal
            );
            served
        };
        // The delivery workers keep to the grace themselves; this bounds the
        // rest (calls that never end, such as a health Watch stream).
        let overdue = async {
            let _ = until_stopped().await;
            tokio::time::sleep(grace + Duration::from_secs(1)).await;
        };
        tokio::select! {
            served = work => served,
            () = overdue => {
                tracing::warn!("shutdown grace over; closing the calls still open");
                Ok(())
            }
        }
    }

    /// Serves `GET /metrics` on `listener` within `limits` and keeps the
    /// store-wide backlog gauges fresh, until `shutdown`; with no listener,
    /// neither.
    async fn observe(
        listener: Option<TcpListener>,
        limits: http::HttpLimits,
        backlog_refresh: Duration,
        store: Store,
        metrics: Metrics,
        shutdown: impl Future<Output = ()>,
    ) {
        let Some(listener) = listener else {
            return;
        };
        let shutdown = futures_util::FutureExt::shared(Box::pin(shutdown));
        let scrapes = {
            let metrics = metrics.clone();
            tower::service_fn(move |request: ::http::Request<http::RequestBody>| {
                let response = metrics::answer_scrape(&metrics, &request);
                async move { Ok::<_, Infallible>(response) }
            })
        };
        tokio::join!(
            http::serve_http("metrics", listener, scrapes, limits, shutdown.clone()),
            metrics::refresh_backlog(store, metrics, backlog_refresh, shutdown),
        );
    }

    async fn serve(
        connections: impl Stream<Item = Result<Connection, Infallible>>,
        max_concurrent_streams: u32,
        rpc: Routes,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        Server::builder()
            // Advertised in SETTINGS: without it, one connection may open
            // streams until the server runs out of memory.
            .max_concurrent_streams(max_concurrent_streams)
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            // Per connection, so here rather than in `rpc_service`.
            .layer(TrackRpcsLayer)
            .add_routes(rpc)
            .serve_with_incoming_shutdown(connections, shutdown)
            .await
            .context("gRPC server failed")
    }
}

/// The portal key every process on the database shares, made by the first
/// one to start (WEBHOOK_PORTAL_KEY unset).
async fn stored_portal_key(store: &Store) -> anyhow::Result<PortalKey> {
    let mut fresh = vec![0; 32];
    getrandom::fill(&mut fresh).map_err(|e| anyhow::anyhow!("no random bytes: {e}"))?;
    let key = store
        .service_key("portal", &fresh)
        .await
        .context("WEBHOOK_PORTAL_KEY is not set and the stored portal key cannot be read")?;
    PortalKey::new(key).context("the portal key stored in the database (service_keys)")
}

/// Binds `address` unless it is `off`: the listener and the address bound
/// (the real port when 0 was asked for); fails with a message naming
/// `setting`.
async fn bind(
    address: ListenAddr,
    setting: &str,
) -> anyhow::Result<Option<(TcpListener, SocketAddr)>> {
    let Some(address) = address.address() else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {setting} {address}"))?;
    let bound = listener.local_addr()?;
    Ok(Some((listener, bound)))
}
