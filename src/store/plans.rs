//! The statements behind the tenant-scoped listings, retention, the claim
//! path and the batches of a sweep (pause, resume, delete, disable), built
//! by the very functions the store runs them from, with sample arguments:
//! tests EXPLAIN each one on a real database to check that it reads an
//! index range, not every organization's rows.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{DbBackend, QueryTrait, Statement};
use uuid::Uuid;

use super::claims::{claiming, lease_end};
use super::sweeps::{self, Target};
use super::{
    backlog, disabling, history, organizations, retention, sequences, stats, subscriptions,
    webhooks,
};
use crate::domain::page::DEFAULT_PAGE_SIZE;
use crate::domain::{CreatedRange, DeliveryStatus, EventType, OrganizationId, Page, WebhookId};
use history::DeliveryFilter;

/// Each statement as `backend` runs it, named after what issues it and how
/// (`list_deliveries status=failed next page`, `claim_due`, ...).
pub fn statements(backend: DbBackend) -> Vec<(String, Statement)> {
    let organization = OrganizationId::from_uuid(Uuid::now_v7());
    let webhook = WebhookId::from_uuid(Uuid::now_v7());
    let now = Utc::now();
    let pages = [
        (
            "",
            Page {
                size: DEFAULT_PAGE_SIZE,
                after: None,
            },
        ),
        (
            " next page",
            Page {
                size: DEFAULT_PAGE_SIZE,
                after: Some(Uuid::now_v7()),
            },
        ),
    ];
    let none = DeliveryFilter::default();
    let mut filters = vec![
        ("".to_owned(), none.clone()),
        (
            " webhook".to_owned(),
            DeliveryFilter {
                webhook: Some(webhook),
                ..none.clone()
            },
        ),
        (
            " event_type".to_owned(),
            DeliveryFilter {
                event_type: Some(EventType::MEMBER_ADDED),
                ..none.clone()
            },
        ),
    ];
    for status in [
        DeliveryStatus::Pending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ] {
        filters.push((
            format!(" status={}", status.as_str()),
            DeliveryFilter {
                status: Some(status),
                ..none.clone()
            },
        ));
    }
    filters.push((
        " webhook status=failed event_type".to_owned(),
        DeliveryFilter {
            webhook: Some(webhook),
            status: Some(DeliveryStatus::Failed),
            event_type: Some(EventType::MEMBER_ADDED),
            created: CreatedRange::default(),
        },
    ));
    // A range of creation times, alone and with each other filter.
    let ranged = CreatedRange {
        from: Some(now - chrono::Duration::hours(1)),
        before: Some(now),
    };
    let unranged = filters.clone();
    for (name, filter) in unranged {
        filters.push((
            format!("{name} created_range"),
            DeliveryFilter {
                created: ranged,
                ..filter
            },
        ));
    }

    let mut planned = Vec::new();
    for (page_name, page) in pages {
        for (filter_name, filter) in &filters {
            // A filter beyond the indexes reads its window's end, then the
            // page down to it.
            let window_end = if history::served_by_an_index(filter) {
                None
            } else {
                planned.push((
                    format!("list_deliveries{filter_name} window{page_name}"),
                    history::window_end(organization, filter, page).build(backend),
                ));
                Some(Uuid::now_v7())
            };
            planned.push((
                format!("list_deliveries{filter_name}{page_name}"),
                history::deliveries_page(organization, filter, page, window_end).build(backend),
            ));
        }
        planned.push((
            format!("list_webhooks{page_name}"),
            webhooks::webhooks_page(organization, page).build(backend),
        ));
    }
    planned.push((
        "get_delivery".to_owned(),
        history::delivery_of(organization, Uuid::now_v7()).build(backend),
    ));
    planned.push((
        "get_delivery attempts".to_owned(),
        history::attempts_of(Uuid::now_v7()).build(backend),
    ));
    let since = now - chrono::Duration::days(1);
    planned.push((
        "webhook_stats counts".to_owned(),
        stats::recent_statuses(webhook, since).build(backend),
    ));
    planned.push((
        "webhook_stats last".to_owned(),
        stats::newest_delivery(webhook).build(backend),
    ));
    planned.push((
        "recover_webhook".to_owned(),
        disabling::recovering(organization, webhook, since, now).build(backend),
    ));
    let cutoff = now - chrono::Duration::days(30);
    planned.push((
        "purge_deliveries".to_owned(),
        retention::finished_before(backend, cutoff, 500).build(backend),
    ));
    planned.push((
        "purge_deliveries attempts".to_owned(),
        retention::attempts_of(vec![Uuid::now_v7(), Uuid::now_v7()]).build(backend),
    ));
    planned.push((
        "purge_deliveries events".to_owned(),
        retention::counted_off([Uuid::now_v7(), Uuid::now_v7()].into_iter()).build(backend),
    ));
    planned.push((
        "purge_events".to_owned(),
        retention::unsent_before(cutoff, 500).build(backend),
    ));
    planned.push((
        "organizations_with_pending".to_owned(),
        organizations::pending_organizations(backend, Some(organization), 64, now),
    ));
    let until = lease_end(now, Duration::from_secs(40));
    planned.push((
        "claim_due".to_owned(),
        claiming(backend, organization, 16, &[webhook], now, until).build(backend),
    ));
    planned.push(("backlog".to_owned(), backlog::due_backlog(backend, now)));
    planned.push((
        "publish subscribers".to_owned(),
        subscriptions::subscribed(backend, organization, EventType::MEMBER_ADDED.as_str())
            .build(backend),
    ));
    let one = (webhook.as_uuid(), "customer-7".to_owned());
    let two = (webhook.as_uuid(), String::new());
    planned.push((
        "sequence head_check".to_owned(),
        sequences::pending_heads(backend, &[&one, &two]),
    ));
    planned.push((
        "sequence promote".to_owned(),
        sequences::promoting(backend, &[&one, &two]),
    ));
    for (name, after) in [("", None), (" next batch", Some(Uuid::now_v7()))] {
        planned.push((
            format!("sweep_window{name}"),
            sweeps::window(webhook, after).build(backend),
        ));
        planned.push((
            format!("sweep_window deleted{name}"),
            sweeps::deleted_window(webhook, after).build(backend),
        ));
    }
    // Not the pause's marking: on the tests' empty tables PostgreSQL reads
    // the whole (empty) partial index of claimable deliveries for it,
    // whose predicate it repeats, rather than the primary key.
    let targets = [
        ("enabled", Target::Enabled { ordered: true }),
        ("enabled unordered", Target::Enabled { ordered: false }),
        (
            "disabled",
            Target::Disabled {
                reason: "failing".to_owned(),
            },
        ),
        ("deleted", Target::Deleted { organization }),
    ];
    for (name, target) in targets {
        let ids = vec![Uuid::now_v7(), Uuid::now_v7()];
        planned.push((
            format!("sweep_batch {name}"),
            sweeps::batch_update(&target, ids).build(backend),
        ));
    }
    planned
}
