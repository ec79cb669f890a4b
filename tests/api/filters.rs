//! Filters on webhooks: a CEL expression over an event's type, labels,
//! data and organization chooses which of a webhook's events it gets. An
//! event a filter leaves out gets no delivery to that webhook; one on
//! which the filter fails neither, and is counted.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Status;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::scrape::scrape;
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, field_mask,
    postgres_available, publisher_token, spawn_app_at, spawn_app_with, to_struct,
};
use webhook_service::grpc::proto::{
    DeliveryStatus, PublishEventRequest, PublishEventResponse, UpdateWebhookRequest, Webhook,
};

on_every_backend!(
    labels_route_each_event_to_the_webhook_whose_filter_names_its_region,
    a_filter_on_data_delivers_only_the_events_it_matches,
    a_filter_that_does_not_compile_is_refused_with_its_line_and_column,
    a_filter_on_a_missing_field_delivers_nothing_and_is_counted,
    an_updated_filter_holds_for_the_next_publish_and_an_empty_one_removes_it,
    retries_recoveries_and_test_events_ignore_the_filter,
    a_thousand_webhooks_with_filters_each_get_the_events_they_match,
);

const WAIT: Duration = Duration::from_secs(10);

/// Publishes a `member.added` event with `labels` and `data`.
pub(crate) async fn publish(
    app: &TestApp,
    labels: &[(&str, &str)],
    data: Value,
) -> Result<PublishEventResponse, Status> {
    let request = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(data)),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    app.events()
        .await
        .publish_event(authorized(request, &publisher_token()))
        .await
        .map(|r| r.into_inner())
}

/// Registers a `member.added` webhook at `path` with `filter`.
pub(crate) async fn filtered(
    app: &TestApp,
    receiver: &Receiver,
    path: &str,
    filter: &str,
) -> Webhook {
    let mut request = app.create_request(&receiver.url(path), &["member.added"]);
    request.filter = filter.to_owned();
    app.create_webhook(request)
        .await
        .expect("create a filtered webhook")
        .webhook
        .unwrap()
}

/// Sets (or with "" removes) the webhook's filter.
async fn set_filter(app: &TestApp, webhook: &str, filter: &str) -> Result<Webhook, Status> {
    app.update_webhook(UpdateWebhookRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook.to_owned(),
        filter: filter.to_owned(),
        update_mask: field_mask(&["filter"]),
        ..Default::default()
    })
    .await
}

/// The `data` of every delivery `path` received, in arrival order.
fn received_data(receiver: &Receiver, path: &str) -> Vec<Value> {
    receiver
        .received(path)
        .iter()
        .map(|r| r.json()["data"].clone())
        .collect()
}

/// Deliveries a webhook has in the store: the filter decides at publish,
/// so a left-out event never has one, not merely a late one.
pub(crate) async fn stored_deliveries(app: &TestApp, webhook: &str) -> usize {
    app.deliveries_of(webhook).await.len()
}

async fn labels_route_each_event_to_the_webhook_whose_filter_names_its_region(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let eu = filtered(&app, &receiver, "/eu", r#"labels.region == "eu""#).await;
    let us = filtered(&app, &receiver, "/us", r#"labels.region == "us""#).await;
    let everything = filtered(&app, &receiver, "/all", "").await;

    let to_eu = publish(&app, &[("region", "eu")], json!({"n": 1}))
        .await
        .unwrap();
    let to_us = publish(&app, &[("region", "us"), ("tier", "gold")], json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(to_eu.deliveries_scheduled, 2, "eu and the unfiltered one");
    assert_eq!(to_us.deliveries_scheduled, 2, "us and the unfiltered one");

    let eu_got = receiver.wait_for("/eu", 1, WAIT).await;
    let us_got = receiver.wait_for("/us", 1, WAIT).await;
    receiver.wait_for("/all", 2, WAIT).await;
    assert_eq!(eu_got[0].json()["labels"], json!({"region": "eu"}));
    assert_eq!(
        us_got[0].json()["labels"],
        json!({"region": "us", "tier": "gold"})
    );
    assert_eq!(stored_deliveries(&app, &eu.id).await, 1);
    assert_eq!(stored_deliveries(&app, &us.id).await, 1);
    assert_eq!(stored_deliveries(&app, &everything.id).await, 2);
    assert_eq!(received_data(&receiver, "/eu"), [json!({"n": 1})]);
    assert_eq!(received_data(&receiver, "/us"), [json!({"n": 2})]);
}

async fn a_filter_on_data_delivers_only_the_events_it_matches(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let big = filtered(
        &app,
        &receiver,
        "/big",
        "data.amount > 1000 && data.customer.country in ['FR', 'DE']",
    )
    .await;
    for (amount, country) in [
        (json!(500), "FR"),
        (json!(1500), "FR"),
        (json!(2500), "US"),
        (json!(1000.5), "DE"),
    ] {
        let data = json!({"amount": amount, "customer": {"country": country}});
        publish(&app, &[], data).await.unwrap();
    }
    receiver.wait_for("/big", 2, WAIT).await;
    let amounts: Vec<Value> = received_data(&receiver, "/big")
        .iter()
        .map(|d| d["amount"].clone())
        .collect();
    assert!(
        amounts == [json!(1500), json!(1000.5)] || amounts == [json!(1000.5), json!(1500)],
        "{amounts:?}"
    );
    assert_eq!(stored_deliveries(&app, &big.id).await, 2);
}

async fn a_filter_that_does_not_compile_is_refused_with_its_line_and_column(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let create = |filter: &str| {
        let mut request = app.create_request("https://hooks.example.com/f", &["member.added"]);
        request.filter = filter.to_owned();
        app.create_webhook(request)
    };
    // A syntax error: where the parser stopped.
    let status = create("type == ").await.unwrap_err();
    let reason = assert_field_violation(&status, "filter");
    assert!(reason.starts_with("line 1, column 9: "), "{reason}");
    // A name the filter cannot know: where it stands.
    let status = create("labels.region == \"eu\" &&\n  region == \"eu\"")
        .await
        .unwrap_err();
    let reason = assert_field_violation(&status, "filter");
    assert!(reason.starts_with("line 2, column 3: "), "{reason}");
    assert!(reason.contains("region"), "{reason}");
    // Too long, whatever it says.
    let long = format!("type == \"{}\"", "x".repeat(1100));
    let reason = assert_field_violation(&create(&long).await.unwrap_err(), "filter");
    assert!(
        reason.contains("1024") || reason.contains("1,024"),
        "{reason}"
    );

    // An update is held to the same rules, and changes nothing when refused.
    let webhook = create("type == \"member.added\"")
        .await
        .unwrap()
        .webhook
        .unwrap();
    let status = set_filter(&app, &webhook.id, "data.amount >")
        .await
        .unwrap_err();
    assert!(assert_field_violation(&status, "filter").starts_with("line 1, column "));
    let kept = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(kept.filter, "type == \"member.added\"");
}

async fn a_filter_on_a_missing_field_delivers_nothing_and_is_counted(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let strict = filtered(&app, &receiver, "/strict", "data.plan.tier == 'gold'").await;
    let careful = filtered(
        &app,
        &receiver,
        "/careful",
        "has(data.plan) && data.plan.tier == 'gold'",
    )
    .await;
    let published = publish(&app, &[], json!({"user": "u1"})).await.unwrap();
    assert_eq!(published.deliveries_scheduled, 0);
    let published = publish(&app, &[], json!({"plan": {"tier": "gold"}}))
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 2);
    receiver.wait_for("/strict", 1, WAIT).await;
    receiver.wait_for("/careful", 1, WAIT).await;
    assert_eq!(stored_deliveries(&app, &strict.id).await, 1);
    assert_eq!(stored_deliveries(&app, &careful.id).await, 1);

    let metrics = scrape(app.metrics_address.expect("metrics served")).await;
    let filtered =
        |outcome| metrics.value("webhook_events_filtered_total", &[("outcome", outcome)]);
    // The strict filter failed on the first event; the careful one did not
    // match it.
    assert_eq!(filtered("error"), Some(1.0));
    assert_eq!(filtered("no_match"), Some(1.0));
}

async fn an_updated_filter_holds_for_the_next_publish_and_an_empty_one_removes_it(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = filtered(&app, &receiver, "/w", "labels.region == 'eu'").await;
    assert_eq!(
        publish(&app, &[("region", "us")], json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        0
    );
    let updated = set_filter(&app, &webhook.id, "labels.region == 'us'")
        .await
        .unwrap();
    assert_eq!(updated.filter, "labels.region == 'us'");
    assert_eq!(
        publish(&app, &[("region", "us")], json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        1
    );
    let cleared = set_filter(&app, &webhook.id, "").await.unwrap();
    assert_eq!(cleared.filter, "");
    assert_eq!(app.get_webhook(&webhook.id).await.unwrap().filter, "");
    assert_eq!(
        publish(&app, &[], json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        1
    );
    receiver.wait_for("/w", 2, WAIT).await;
}

async fn retries_recoveries_and_test_events_ignore_the_filter(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = filtered(&app, &receiver, "/w", "labels.region == 'eu'").await;
    publish(&app, &[("region", "eu")], json!({"n": 1}))
        .await
        .unwrap();
    receiver.wait_for("/w", 1, WAIT).await;
    let delivery = app.deliveries_of(&webhook.id).await.remove(0);
    let succeeded = DeliveryStatus::Succeeded as i32;
    app.wait_for_delivery(&delivery.id, WAIT, |d| d.status == succeeded)
        .await;

    // The filter no longer matches what was delivered: a retry and a
    // ping still go.
    set_filter(&app, &webhook.id, "false").await.unwrap();
    let mut client = app.webhooks().await;
    let retry = webhook_service::grpc::proto::RetryDeliveryRequest {
        organization_id: app.organization.to_string(),
        delivery_id: delivery.id.clone(),
    };
    client
        .retry_delivery(authorized(retry, &app.token("OWNER")))
        .await
        .unwrap();
    let ping = webhook_service::grpc::proto::SendTestEventRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook.id.clone(),
    };
    client
        .send_test_event(authorized(ping, &app.token("OWNER")))
        .await
        .unwrap();
    let got = receiver.wait_for("/w", 3, WAIT).await;
    let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types.iter().filter(|t| *t == "member.added").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "webhook.ping").count(),
        1,
        "{types:?}"
    );
}

/// One organization, 1,000 webhooks with a filter each, half of which
/// match: one publish makes the 500 deliveries, no more.
async fn a_thousand_webhooks_with_filters_each_get_the_events_they_match(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    // Over one connection, 50 at a time: what a script would do.
    let client = app.webhooks().await;
    let token = app.token("OWNER");
    for chunk in (0..1000).collect::<Vec<usize>>().chunks(50) {
        let creates = chunk.iter().map(|i| {
            let mut request =
                app.create_request(&format!("https://hooks.example.com/{i}"), &["member.added"]);
            request.filter = format!("int(data.shard) % 2 == {} && data.n >= 0", i % 2);
            let mut client = client.clone();
            let request = authorized(request, &token);
            async move { client.create_webhook(request).await }
        });
        for created in futures_util::future::join_all(creates).await {
            created.expect("create a webhook with a filter");
        }
    }
    let published = publish(&app, &[], json!({"shard": 1, "n": 3}))
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 500);
    let published = publish(&app, &[], json!({"shard": 4, "n": 3}))
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 500);
}

/// Two processes on one PostgreSQL: a filter changed through one holds in
/// the other for the first event published after the change, though the
/// other had compiled the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_changed_through_one_process_holds_at_once_in_another() {
    if !postgres_available() {
        return;
    }
    let receiver = Receiver::start().await;
    let url = crate::support::postgres::fresh_database().unwrap();
    let first = spawn_app_at(url.clone(), deliver_to(&receiver)).await;
    let mut second = spawn_app_at(url, deliver_to(&receiver)).await;
    // The same organization, so both speak for it.
    second.organization = first.organization;
    let webhook = filtered(&first, &receiver, "/w", "labels.region == 'eu'").await;
    let eu = [("region", "eu")];
    let us = [("region", "us")];
    assert_eq!(
        publish(&second, &eu, json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        1
    );
    assert_eq!(
        publish(&second, &us, json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        0
    );

    set_filter(&first, &webhook.id, "labels.region == 'us'")
        .await
        .unwrap();
    assert_eq!(
        publish(&second, &us, json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        1
    );
    assert_eq!(
        publish(&second, &eu, json!({}))
            .await
            .unwrap()
            .deliveries_scheduled,
        0
    );
    receiver.wait_for("/w", 2, WAIT).await;
}
