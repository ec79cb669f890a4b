//! Listing and reading webhooks.

use std::collections::HashSet;
use std::time::Duration;

use tonic::{Code, Status};
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::{Backend, TestApp, assert_field_violation, authorized, spawn_app, time};
use webhook_service::grpc::proto::{ListWebhooksRequest, ListWebhooksResponse, Webhook};

on_every_backend!(
    list_webhooks_walks_every_webhook_once_newest_first_while_new_ones_are_created,
    list_webhooks_pages_hold_50_by_default_and_at_most_200,
    a_garbage_page_token_or_negative_page_size_is_invalid_argument,
    get_webhook_returns_the_webhook_enabled_with_an_empty_description,
);

pub(crate) async fn list_page(
    app: &TestApp,
    page_size: i32,
    page_token: &str,
) -> Result<ListWebhooksResponse, Status> {
    let request = ListWebhooksRequest {
        organization_id: app.organization.to_string(),
        page_size,
        page_token: page_token.to_owned(),
    };
    app.webhooks()
        .await
        .list_webhooks(authorized(request, &app.token("OWNER")))
        .await
        .map(|r| r.into_inner())
}

/// Creates `count` webhooks at distinct URLs under `prefix`, oldest first,
/// a few milliseconds apart so their creation order is unambiguous.
async fn create_webhooks(app: &TestApp, prefix: &str, count: usize, gap: Duration) -> Vec<Webhook> {
    let mut created = Vec::new();
    for i in 0..count {
        let url = format!("https://hooks.example.com/{prefix}/{i}");
        created.push(
            app.subscribe(&url, &["member.added"])
                .await
                .webhook
                .unwrap(),
        );
        tokio::time::sleep(gap).await;
    }
    created
}

async fn list_webhooks_walks_every_webhook_once_newest_first_while_new_ones_are_created(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let originals = create_webhooks(&app, "original", 7, Duration::from_millis(5)).await;
    let original_ids: Vec<String> = originals.iter().map(|w| w.id.clone()).collect();

    let mut seen: Vec<Webhook> = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list_page(&app, 3, &token).await.expect("list webhooks");
        pages += 1;
        assert!(page.webhooks.len() <= 3, "page of {}", page.webhooks.len());
        if pages == 1 {
            assert_eq!(page.webhooks.len(), 3, "the first page is full");
        }
        seen.extend(page.webhooks);
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages < 20, "the pages never end");
        token = page.next_page_token;
        // Newer than everything listed so far: must not shift the next page.
        create_webhooks(&app, &format!("new-{pages}"), 2, Duration::from_millis(5)).await;
    }

    let seen_ids: Vec<String> = seen.iter().map(|w| w.id.clone()).collect();
    let distinct: HashSet<&String> = seen_ids.iter().collect();
    assert_eq!(distinct.len(), seen_ids.len(), "duplicates: {seen_ids:?}");
    let originals_seen: Vec<String> = seen_ids
        .iter()
        .filter(|id| original_ids.contains(id))
        .cloned()
        .collect();
    let newest_first: Vec<String> = original_ids.iter().rev().cloned().collect();
    assert_eq!(
        originals_seen, newest_first,
        "each original once, newest first"
    );
    for pair in seen.windows(2) {
        assert!(
            time(&pair[0].created_at) >= time(&pair[1].created_at),
            "not newest first: {pair:?}"
        );
    }
    // Nothing in a listing carries the secret.
    let first = list_page(&app, 0, "").await.unwrap();
    let secret = app
        .subscribe("https://hooks.example.com/secret", &["member.added"])
        .await
        .secret;
    let listed = list_page(&app, 0, "").await.unwrap();
    assert_eq!(listed.webhooks.len(), first.webhooks.len() + 1);
    let key = secret.strip_prefix("whsec_").unwrap();
    assert!(!format!("{listed:?}").contains(key), "the secret leaked");
}

async fn list_webhooks_pages_hold_50_by_default_and_at_most_200(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_webhooks(&app, "many", 201, Duration::ZERO).await;

    let default = list_page(&app, 0, "").await.unwrap();
    assert_eq!(default.webhooks.len(), 50);
    assert!(!default.next_page_token.is_empty());

    let capped = list_page(&app, 1000, "").await.unwrap();
    assert_eq!(capped.webhooks.len(), 200);
    assert!(!capped.next_page_token.is_empty());
    let rest = list_page(&app, 1000, &capped.next_page_token)
        .await
        .unwrap();
    assert_eq!(rest.webhooks.len(), 1);
    assert!(
        rest.next_page_token.is_empty(),
        "the last page has no token"
    );

    let listed: HashSet<String> = capped
        .webhooks
        .iter()
        .chain(&rest.webhooks)
        .map(|w| w.id.clone())
        .collect();
    let expected: HashSet<String> = created.iter().map(|w| w.id.clone()).collect();
    assert_eq!(listed, expected);
}

async fn a_garbage_page_token_or_negative_page_size_is_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    create_webhooks(&app, "few", 3, Duration::ZERO).await;
    for garbage in ["garbage", "not-a-token!", "%%%"] {
        let status = list_page(&app, 2, garbage).await.unwrap_err();
        assert_field_violation(&status, "page_token");
    }
    let status = list_page(&app, -1, "").await.unwrap_err();
    assert_field_violation(&status, "page_size");
    // A token the RPC returned is fine.
    let first = list_page(&app, 2, "").await.unwrap();
    let second = list_page(&app, 2, &first.next_page_token).await.unwrap();
    assert_eq!(second.webhooks.len(), 1);
}

async fn get_webhook_returns_the_webhook_enabled_with_an_empty_description(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe(
            "https://hooks.example.com/get",
            &["member.added", "invite.created"],
        )
        .await
        .webhook
        .unwrap();
    let got = app.get_webhook(&created.id).await.expect("get webhook");
    assert_eq!(got.id, created.id);
    assert_eq!(got.organization_id, app.organization.to_string());
    assert_eq!(got.url, "https://hooks.example.com/get");
    assert_eq!(got.events, ["member.added", "invite.created"]);
    assert_eq!(got.created_at, created.created_at);
    assert!(got.enabled, "a new webhook is enabled");
    assert_eq!(got.description, "");
    assert!(time(&got.updated_at) >= time(&got.created_at));

    let status = app
        .get_webhook(&Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = app.get_webhook("not-a-uuid").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}
