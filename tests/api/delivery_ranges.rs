//! ListDeliveries by a range of creation times: `created_at_or_after`
//! (inclusive) and `created_before` (exclusive), over REST and gRPC, with
//! paging through the range.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use tonic::Status;
use webhook_service::grpc::proto::{ListDeliveriesRequest, ListDeliveriesResponse};
use webhook_service::grpc::timestamp::Timestamp;

use crate::on_every_backend;
use crate::support::{Backend, TestApp, assert_field_violation, authorized, spawn_app};

on_every_backend!(
    a_range_over_rest_lists_the_deliveries_created_in_it_page_by_page,
    a_bad_range_over_rest_names_the_field_that_is_wrong,
    a_range_over_grpc_combines_with_the_other_filters_and_pages_through,
    a_bad_range_over_grpc_is_invalid_argument_naming_the_field,
    a_page_token_of_another_range_is_refused,
);

/// Publishes `count` events to one webhook and answers its deliveries'
/// `(id, created_at)`, newest first, as REST lists them.
pub(crate) async fn deliveries_of(app: &TestApp, count: usize) -> Vec<(String, DateTime<Utc>)> {
    app.subscribe("https://hooks.example.com/ranges", &["member.added"])
        .await;
    for n in 0..count {
        app.publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    let listed = rest_list(app, "").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let all = listed.body["deliveries"].as_array().unwrap().clone();
    assert_eq!(all.len(), count);
    all.iter().map(id_and_time).collect()
}

fn id_and_time(d: &Value) -> (String, DateTime<Utc>) {
    let at = DateTime::parse_from_rfc3339(d["createdAt"].as_str().unwrap()).unwrap();
    (d["id"].as_str().unwrap().to_owned(), at.with_timezone(&Utc))
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

async fn rest_list(app: &TestApp, query: &str) -> crate::support::rest::Answer {
    app.rest()
        .call(
            "GET",
            &app.org_path(&format!("/deliveries?{query}")),
            Some(&app.token("OWNER")),
            None,
        )
        .await
}

async fn a_range_over_rest_lists_the_deliveries_created_in_it_page_by_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let all = deliveries_of(&app, 7).await;
    // Oldest first: from the second oldest's time up to (not including)
    // the second newest's; deliveries made in the same instant as a bound
    // count as that bound says.
    let from = all[5].1;
    let before = all[1].1;
    let expected: Vec<&String> = all
        .iter()
        .filter(|(_, at)| *at >= from && *at < before)
        .map(|(id, _)| id)
        .collect();
    assert!(expected.len() >= 2, "{all:?}");

    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let query = format!(
            "createdAtOrAfter={}&createdBefore={}&pageSize=2&pageToken={token}",
            rfc3339(from),
            rfc3339(before)
        );
        let page = rest_list(&app, &query).await;
        assert_eq!(page.status, 200, "{page:?}");
        seen.extend(
            page.body["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| id_and_time(d).0),
        );
        token = page.body["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert!(token.is_empty(), "the pages never end");
    assert_eq!(seen.iter().collect::<Vec<_>>(), expected);

    // Only a bound: everything on its side of it.
    let query = format!("createdBefore={}", rfc3339(before));
    let page = rest_list(&app, &query).await;
    assert_eq!(page.status, 200, "{page:?}");
    let older = page.body["deliveries"].as_array().unwrap().len();
    assert_eq!(older, all.iter().filter(|(_, at)| *at < before).count());
}

async fn a_bad_range_over_rest_names_the_field_that_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = Utc::now();
    let query = format!(
        "createdAtOrAfter={}&createdBefore={}",
        rfc3339(now),
        rfc3339(now)
    );
    let answer = rest_list(&app, &query).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let violations = answer.violations();
    assert_eq!(violations.len(), 1, "{answer:?}");
    assert_eq!(violations[0].0, "createdBefore", "{answer:?}");
    assert!(
        violations[0].1.contains("later than created_at_or_after"),
        "{answer:?}"
    );
}

async fn grpc_list(
    app: &TestApp,
    request: ListDeliveriesRequest,
) -> Result<ListDeliveriesResponse, Status> {
    let request = ListDeliveriesRequest {
        organization_id: app.organization.to_string(),
        ..request
    };
    app.webhooks()
        .await
        .list_deliveries(authorized(request, &app.token("OWNER")))
        .await
        .map(|r| r.into_inner())
}

fn ts(at: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp::from(at))
}

async fn a_range_over_grpc_combines_with_the_other_filters_and_pages_through(backend: Backend) {
    let app = spawn_app(backend).await;
    let all = deliveries_of(&app, 6).await;
    // Another organization's deliveries in the same instants stay out.
    let other = uuid::Uuid::now_v7();
    app.subscribe_for(other, "https://hooks.example.com/other", &["member.added"])
        .await;
    app.publish_for(other, "member.added").await.unwrap();
    let webhook_id = app.list_deliveries(Default::default()).await.unwrap()[0]
        .webhook_id
        .clone();
    let from = all[4].1;
    let before = all[0].1;
    let expected: Vec<String> = all
        .iter()
        .filter(|(_, at)| *at >= from && *at < before)
        .map(|(id, _)| id.clone())
        .collect();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    for _ in 0..10 {
        let page = grpc_list(
            &app,
            ListDeliveriesRequest {
                webhook_id: webhook_id.clone(),
                event_type: "member.added".into(),
                created_at_or_after: ts(from),
                created_before: ts(before),
                page_size: 1,
                page_token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        seen.extend(page.deliveries.into_iter().map(|d| d.id));
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, expected);

    // A range no delivery was created in lists nothing; one from the
    // first delivery's instant on lists them all.
    let long_ago = DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z").unwrap();
    let empty = ListDeliveriesRequest {
        created_before: ts(long_ago.into()),
        ..Default::default()
    };
    assert!(grpc_list(&app, empty).await.unwrap().deliveries.is_empty());
    let everything = ListDeliveriesRequest {
        created_at_or_after: ts(all[5].1),
        ..Default::default()
    };
    let listed = grpc_list(&app, everything).await.unwrap().deliveries;
    assert_eq!(listed.len(), all.len());
}

async fn a_bad_range_over_grpc_is_invalid_argument_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = Utc::now();
    let cases = [
        (
            None,
            ts(now),
            ts(now - chrono::TimeDelta::seconds(1)),
            "created_before",
        ),
        (
            Some("a year past 9999"),
            Some(Timestamp {
                seconds: 253_402_300_800,
                nanos: 0,
            }),
            None,
            "created_at_or_after",
        ),
        (
            Some("nanos"),
            None,
            Some(Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            "created_before",
        ),
    ];
    for (why, from, before, field) in cases {
        let request = ListDeliveriesRequest {
            created_at_or_after: from,
            created_before: before,
            ..Default::default()
        };
        let status = grpc_list(&app, request).await.unwrap_err();
        let description = assert_field_violation(&status, field);
        if let Some(why) = why {
            assert!(!description.is_empty(), "{why}: {status:?}");
        }
    }
}

async fn a_page_token_of_another_range_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let all = deliveries_of(&app, 3).await;
    let ranged = |from: DateTime<Utc>, page_token: String| ListDeliveriesRequest {
        created_at_or_after: ts(from),
        page_size: 1,
        page_token,
        ..Default::default()
    };
    let first = grpc_list(&app, ranged(all[2].1, String::new()))
        .await
        .unwrap();
    assert!(!first.next_page_token.is_empty());
    let token = first.next_page_token;
    // The same range continues; another range, or none, is refused.
    grpc_list(&app, ranged(all[2].1, token.clone()))
        .await
        .unwrap();
    let other = ranged(all[2].1 - chrono::TimeDelta::nanoseconds(1), token.clone());
    let status = grpc_list(&app, other).await.unwrap_err();
    assert_field_violation(&status, "page_token");
    let unranged = ListDeliveriesRequest {
        page_token: token,
        ..Default::default()
    };
    let status = grpc_list(&app, unranged).await.unwrap_err();
    assert_field_violation(&status, "page_token");
}
