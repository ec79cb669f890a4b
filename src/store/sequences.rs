//! Ordered delivery's sequences, kept in rows. For each (webhook, ordering
//! key) of an ordered webhook, among its pending deliveries exactly the one
//! with the lowest `sequence` is the head (`behind = false`); every other
//! one waits `behind` it, out of the partial indexes the claims read. So a
//! claim only ever sees heads, and needs no per-sequence logic: a head in
//! flight is leased, a head waiting for its retry is not due.
//!
//! `delivery_sequences` numbers each sequence and is its lock: publishing
//! takes it with the numbering upsert, recording with `lock` before it
//! promotes. Every statement that touches it is here, and each takes the
//! rows in sorted order, so two transactions cannot deadlock on them. Lock
//! order everywhere: webhook rows, delivery rows, then sequence rows.
//!
//! Publish order is the order in which publishing transactions took a
//! sequence's row: it is held until commit, so it is their commit order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement, Value,
};
use uuid::Uuid;

use super::entities::delivery;

/// One sequence: an ordered webhook and an ordering key (`""`: the
/// webhook's default one).
pub(super) type Sequence = (Uuid, String);

/// Where a publishing transaction's deliveries of one sequence go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Numbered {
    /// The number of its first new delivery; the others follow, in order.
    pub first: i64,
    /// The sequence already has a pending delivery: every new one waits
    /// behind it. Otherwise the first new one is the head.
    pub busy: bool,
}

/// Sequences per statement: a few bind parameters each, well inside the
/// databases' limits (and inside SQLite's 500 terms of a compound select).
const PER_STATEMENT: usize = 400;

/// Takes `count` numbers in each sequence of `counts`, locking its row
/// until commit, and tells whether each already has a pending delivery.
/// Two statements per [`PER_STATEMENT`] sequences, whatever the backlog.
pub(super) async fn number(
    txn: &impl ConnectionTrait,
    counts: &BTreeMap<Sequence, i64>,
    now: DateTime<Utc>,
) -> Result<HashMap<Sequence, Numbered>, DbErr> {
    let backend = txn.get_database_backend();
    let counts: Vec<(&Sequence, i64)> = counts.iter().map(|(s, n)| (s, *n)).collect();
    let mut numbered = HashMap::with_capacity(counts.len());
    for chunk in counts.chunks(PER_STATEMENT) {
        // The upsert first: from here the rows are ours, and the head check
        // below, a statement of its own, sees every delivery committed
        // by whoever held them before.
        for row in txn.query_all_raw(numbering(backend, chunk, now)).await? {
            let sequence = (
                row.try_get::<Uuid>("", "webhook_id")?,
                row.try_get::<String>("", "ordering_key")?,
            );
            let next: i64 = row.try_get("", "next_sequence")?;
            let count = chunk
                .iter()
                .find(|(s, _)| **s == sequence)
                .map_or(0, |(_, n)| *n);
            numbered.insert(
                sequence,
                Numbered {
                    // This batch owns (next - count, next].
                    first: next - count + 1,
                    busy: false,
                },
            );
        }
        let sequences: Vec<&Sequence> = chunk.iter().map(|(s, _)| *s).collect();
        for row in txn
            .query_all_raw(pending_heads(backend, &sequences))
            .await?
        {
            let sequence = (
                row.try_get::<Uuid>("", "webhook_id")?,
                row.try_get::<String>("", "ordering_key")?,
            );
            if let Some(numbered) = numbered.get_mut(&sequence) {
                numbered.busy = true;
            }
        }
    }
    Ok(numbered)
}

/// A delivery just made the head of its sequence: due now, for a claim to
/// take, or for the recording transaction to lease to its own workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Promoted {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub webhook_id: Uuid,
}

/// Makes the lowest pending delivery of each of `sequences` its head, if
/// it is not already; answers how many were promoted. Called where
/// deliveries leave `pending`, in the same transaction, after they did.
pub(super) async fn promote(
    txn: &impl ConnectionTrait,
    sequences: impl IntoIterator<Item = Sequence>,
) -> Result<u64, DbErr> {
    Ok(promote_heads(txn, sequences).await?.len() as u64)
}

/// [`promote`], answering the deliveries it promoted.
pub(super) async fn promote_heads(
    txn: &impl ConnectionTrait,
    sequences: impl IntoIterator<Item = Sequence>,
) -> Result<Vec<Promoted>, DbErr> {
    let backend = txn.get_database_backend();
    let sorted: BTreeSet<Sequence> = sequences.into_iter().collect();
    let sorted: Vec<&Sequence> = sorted.iter().collect();
    let mut promoted = Vec::new();
    for chunk in sorted.chunks(PER_STATEMENT) {
        // Two statements, never one. Under READ COMMITTED a statement reads
        // the rows as they were when it started: one that waited here for a
        // publisher's lock would not see the delivery that publisher
        // inserted, and that delivery would stay behind with no head in
        // front of it. Locked first, the promotion starts after the
        // publisher committed and sees it. (SQLite has one writer: there
        // is nothing to wait for.)
        if backend == DbBackend::Postgres {
            txn.execute_raw(locking(chunk)).await?;
        }
        for row in txn.query_all_raw(promoting(backend, chunk)).await? {
            promoted.push(Promoted {
                id: row.try_get("", "id")?,
                organization_id: row.try_get("", "organization_id")?,
                webhook_id: row.try_get("", "webhook_id")?,
            });
        }
    }
    Ok(promoted)
}

/// `$n` or `?n`.
fn parameter(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// `(VALUES (w1, k1), (w2, k2) ...) AS k`: the sequences as a table whose
/// columns are `k.column1` (webhook) and `k.column2` (key), as both
/// databases name them.
fn sequences_table(backend: DbBackend, sequences: &[&Sequence]) -> (String, Vec<Value>) {
    let mut rows = Vec::with_capacity(sequences.len());
    let mut values = Vec::with_capacity(sequences.len() * 2);
    for (webhook, key) in sequences {
        let at = values.len();
        rows.push(format!(
            "({}, {})",
            parameter(backend, at + 1),
            parameter(backend, at + 2)
        ));
        values.push((*webhook).into());
        values.push(key.clone().into());
    }
    (format!("(VALUES {}) AS k", rows.join(", ")), values)
}

/// The numbering upsert: `n` more numbers for each sequence, its row
/// created at `n` when new. Answers each sequence's last number taken.
pub(super) fn numbering(
    backend: DbBackend,
    counts: &[(&Sequence, i64)],
    now: DateTime<Utc>,
) -> Statement {
    let mut rows = Vec::with_capacity(counts.len());
    let mut values: Vec<Value> = Vec::with_capacity(counts.len() * 4);
    for ((webhook, key), n) in counts {
        let at = values.len();
        let p: Vec<String> = (1..=4).map(|i| parameter(backend, at + i)).collect();
        rows.push(format!("({}, {}, {}, {})", p[0], p[1], p[2], p[3]));
        values.push((*webhook).into());
        values.push(key.clone().into());
        values.push((*n).into());
        values.push(now.into());
    }
    let sql = format!(
        "INSERT INTO delivery_sequences AS s \
           (webhook_id, ordering_key, next_sequence, updated_at) \
         VALUES {} \
         ON CONFLICT (webhook_id, ordering_key) DO UPDATE \
           SET next_sequence = s.next_sequence + excluded.next_sequence, \
               updated_at = excluded.updated_at \
         RETURNING webhook_id, ordering_key, next_sequence",
        rows.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
}

/// Which of `sequences` have a pending delivery: one seek each on
/// `deliveries_sequence` (`ordering_key = ?` implies its `IS NOT NULL`).
/// A scalar subquery, not EXISTS: PostgreSQL would turn EXISTS into a
/// join that may read the whole index.
pub(super) fn pending_heads(backend: DbBackend, sequences: &[&Sequence]) -> Statement {
    let (table, values) = sequences_table(backend, sequences);
    let sql = format!(
        "SELECT k.column1 AS webhook_id, k.column2 AS ordering_key FROM {table} \
         WHERE (SELECT d.id FROM deliveries d \
           WHERE d.webhook_id = k.column1 AND d.ordering_key = k.column2 \
             AND d.status = 'pending' LIMIT 1) IS NOT NULL"
    );
    Statement::from_sql_and_values(backend, sql, values)
}

/// Locks the rows of `sequences` (sorted), PostgreSQL only: a publisher
/// holding one finishes first, and the promotion after sees its deliveries.
pub(super) fn locking(sequences: &[&Sequence]) -> Statement {
    let (table, values) = sequences_table(DbBackend::Postgres, sequences);
    let sql = format!(
        "SELECT 1 FROM delivery_sequences s JOIN {table} \
           ON s.webhook_id = k.column1 AND s.ordering_key = k.column2 \
         ORDER BY s.webhook_id, s.ordering_key FOR UPDATE OF s"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Clears `behind` on the lowest pending delivery of each of `sequences`:
/// one seek each on `deliveries_sequence`. Answers the rows it changed.
pub(super) fn promoting(backend: DbBackend, sequences: &[&Sequence]) -> Statement {
    let (table, values) = sequences_table(backend, sequences);
    let sql = format!(
        "UPDATE deliveries SET behind = false \
         WHERE behind AND id IN ( \
           SELECT (SELECT d.id FROM deliveries d \
                   WHERE d.webhook_id = k.column1 AND d.ordering_key = k.column2 \
                     AND d.status = 'pending' \
                   ORDER BY d.sequence LIMIT 1) \
           FROM {table}) \
         RETURNING id, organization_id, webhook_id"
    );
    Statement::from_sql_and_values(backend, sql, values)
}

/// Puts `deliveries` of `webhook`, just made pending again (RetryDelivery,
/// RecoverWebhook), at the back of their sequences, in the order given:
/// each takes a new number and waits behind; then each touched sequence's
/// lowest pending delivery is made its head (one of these when the
/// sequence had nothing pending). Call after the deliveries' own update
/// (delivery rows before sequence rows). Answers how many were promoted.
pub(super) async fn requeue(
    txn: &impl ConnectionTrait,
    webhook: Uuid,
    deliveries: &[(Uuid, String)],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let mut counts: BTreeMap<Sequence, i64> = BTreeMap::new();
    for (_, key) in deliveries {
        *counts.entry((webhook, key.clone())).or_default() += 1;
    }
    let mut numbered = number(txn, &counts, now).await?;
    let placed: Vec<(Uuid, i64)> = deliveries
        .iter()
        .map(|(id, key)| {
            let numbered = numbered
                .get_mut(&(webhook, key.clone()))
                .expect("every sequence is numbered");
            numbered.first += 1;
            (*id, numbered.first - 1)
        })
        .collect();
    for chunk in placed.chunks(PER_STATEMENT) {
        let sequence = chunk.iter().fold(CaseStatement::new(), |case, (id, n)| {
            case.case(delivery::Column::Id.eq(*id), Expr::value(*n))
        });
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Sequence,
                sequence
                    .finally(Expr::col(delivery::Column::Sequence))
                    .into(),
            )
            .col_expr(delivery::Column::Behind, Expr::value(true))
            .filter(delivery::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .exec(txn)
            .await?;
    }
    promote(txn, counts.into_keys()).await
}

/// Makes sure every sequence of `webhook` has its head: after it was
/// enabled again, a disabling sweep may have cancelled a head and left its
/// successors behind. One read of the webhook's sequence rows (their
/// primary key's range), then the promotion.
pub(super) async fn promote_webhook(
    txn: &impl ConnectionTrait,
    webhook: Uuid,
) -> Result<u64, DbErr> {
    let backend = txn.get_database_backend();
    let keys = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT ordering_key FROM delivery_sequences WHERE webhook_id = {}",
                parameter(backend, 1)
            ),
            [webhook.into()],
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "ordering_key"))
        .collect::<Result<Vec<_>, _>>()?;
    promote(txn, keys.into_iter().map(|key| (webhook, key))).await
}

/// Deletes up to `batch` sequence rows unused since `cutoff` with no
/// pending delivery: their numbering only matters relative to pending
/// deliveries, and there are none, so a key used again starts over. The
/// outer `updated_at` test is checked again on PostgreSQL against a row a
/// publisher changed meanwhile (it waited for that publisher's commit):
/// a sequence just used is kept. Reads the sequence rows by age without
/// an index: one row per key, and no index to keep up on every publish.
pub(super) fn idle_before(backend: DbBackend, cutoff: DateTime<Utc>, batch: u64) -> Statement {
    let (at, limit) = (parameter(backend, 1), parameter(backend, 2));
    let sql = format!(
        "DELETE FROM delivery_sequences \
         WHERE updated_at < {at} AND (webhook_id, ordering_key) IN ( \
           SELECT s.webhook_id, s.ordering_key FROM delivery_sequences s \
           WHERE s.updated_at < {at} \
             AND (SELECT d.id FROM deliveries d \
                  WHERE d.webhook_id = s.webhook_id AND d.ordering_key = s.ordering_key \
                    AND d.status = 'pending' LIMIT 1) IS NULL \
           LIMIT {limit})"
    );
    Statement::from_sql_and_values(backend, sql, [cutoff.into(), (batch as i64).into()])
}
