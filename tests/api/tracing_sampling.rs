//! Sampled and unsampled traces, black-box: an unsampled trace is exported
//! nowhere, yet its ids reach the logs and the receiver, flag off; and the
//! events the service publishes itself (`webhook.created`, `webhook.ping`)
//! continue the trace of the RPC that made them.

use serde_json::Value;
use tempfile::TempDir;
use uuid::Uuid;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{CreateWebhookRequest, SendTestEventRequest};

use crate::support::otlp::{Caller, Collector};
use crate::support::process::ServiceProcess;
use crate::support::receiver::{Received, Receiver};
use crate::support::{authorized, claims, hs256};
use crate::tracing::rpc_log_lines;
use crate::tracing_deliveries::{PUBLISH, WAIT, attempt_span, publish, service, span_id, sqlite};

/// `traceparent`'s trace id, span id and flags.
fn parts(traceparent: &str) -> (String, String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00", "{traceparent}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

#[tokio::test]
async fn an_unsampled_trace_is_carried_on_but_never_exported() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    receiver.always("/hook", 200);
    let envs = [("LOG_FORMAT", "json")];
    let service = service(&sqlite(&dir), &receiver, Some(&collector), &envs).await;
    let organization = Uuid::new_v4();
    service
        .subscribe(organization, &receiver.url("/hook"))
        .await;

    let unsampled = Caller::new();
    publish(&service, organization, &unsampled.unsampled_traceparent()).await;
    let request = receiver.wait_for("/hook", 1, WAIT).await.remove(0);
    let (trace_id, span_id_sent, flags) = parts(request.header("traceparent"));
    assert_eq!(trace_id, unsampled.trace_id, "the caller's trace goes on");
    assert_eq!(flags, "00", "still unsampled");
    assert_ne!(span_id_sent, unsampled.span_id, "a span id of ours");

    // The RPC's log lines name the trace even though nothing records it.
    for line in rpc_log_lines(&service, &format!("/{PUBLISH}")).await {
        assert_eq!(
            line["span"]["trace_id"],
            unsampled.trace_id.as_str(),
            "{line}"
        );
        let span_id = line["span"]["span_id"].as_str().unwrap_or_default();
        assert!(
            span_id.len() == 16 && span_id != unsampled.span_id,
            "{line}"
        );
    }

    // A sampled trace after it, exported once delivered: the unsampled
    // one, made and ended before, would have been exported by then.
    let sampled = Caller::new();
    publish(&service, organization, &sampled.traceparent()).await;
    attempt_span(&collector, &sampled, 1).await;
    let leaked: Vec<_> = collector
        .spans()
        .into_iter()
        .filter(|s| s.trace_id() == unsampled.trace_id)
        .collect();
    assert!(leaked.is_empty(), "unsampled spans exported: {leaked:?}");
}

/// `request` with `token`, within `caller`'s trace.
fn in_trace<T>(request: T, token: &str, caller: &Caller) -> tonic::Request<T> {
    let mut request = authorized(request, token);
    request
        .metadata_mut()
        .insert("traceparent", caller.traceparent().parse().unwrap());
    request
}

/// The request of `requests` that carries the event of `kind` about
/// `webhook`.
fn carrying<'a>(requests: &'a [Received], kind: &str, webhook: &str) -> &'a Received {
    requests
        .iter()
        .find(|request| {
            serde_json::from_slice::<Value>(&request.body).is_ok_and(|body| {
                body["type"] == kind
                    && [&body["data"]["id"], &body["data"]["webhook_id"]]
                        .contains(&&Value::from(webhook))
            })
        })
        .unwrap_or_else(|| panic!("no {kind} of {webhook} among {} requests", requests.len()))
}

#[tokio::test]
async fn events_the_service_publishes_continue_the_trace_of_the_rpc_that_made_them() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    receiver.always("/watcher", 200);
    let service: ServiceProcess = service(&sqlite(&dir), &receiver, Some(&collector), &[]).await;
    let organization = Uuid::new_v4();
    let owner = hs256(&claims(organization, "OWNER"));
    let mut webhooks = WebhookServiceClient::new(service.channel());
    let watcher = webhooks
        .create_webhook(authorized(
            CreateWebhookRequest {
                organization_id: organization.to_string(),
                url: receiver.url("/watcher"),
                events: vec!["webhook.created".to_owned()],
                ..Default::default()
            },
            &owner,
        ))
        .await
        .expect("the watcher")
        .into_inner()
        .webhook
        .unwrap()
        .id;

    let creating = Caller::new();
    let create = CreateWebhookRequest {
        organization_id: organization.to_string(),
        url: receiver.url("/other"),
        events: vec!["member.added".to_owned()],
        ..Default::default()
    };
    let created = webhooks
        .create_webhook(in_trace(create, &owner, &creating))
        .await
        .expect("created")
        .into_inner()
        .webhook
        .unwrap()
        .id;
    let pinging = Caller::new();
    let ping = SendTestEventRequest {
        organization_id: organization.to_string(),
        webhook_id: watcher.clone(),
    };
    webhooks
        .send_test_event(in_trace(ping, &owner, &pinging))
        .await
        .expect("pinged");

    // Its own webhook.created too: three.
    let requests = receiver.wait_for("/watcher", 3, WAIT).await;
    for (caller, kind, about, method) in [
        (&creating, "webhook.created", &created, "CreateWebhook"),
        (&pinging, "webhook.ping", &watcher, "SendTestEvent"),
    ] {
        let request = carrying(&requests, kind, about);
        let attempt = attempt_span(&collector, caller, 1).await;
        assert_eq!(
            request.header("traceparent"),
            format!("00-{}-{}-01", caller.trace_id, span_id(&attempt)),
            "{kind} is delivered in the trace of {method}"
        );
        let rpc = collector
            .wait_for_span(WAIT, |s| {
                s.trace_id() == caller.trace_id && s.span.name.ends_with(method)
            })
            .await;
        assert_eq!(attempt.parent_span_id(), span_id(&rpc), "{kind}");
    }
}
