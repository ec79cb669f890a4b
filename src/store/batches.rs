//! The hot path's batch statements as one statement text whatever the
//! batch's size, on PostgreSQL.
//!
//! A `VALUES` list or an `IN` list with a bind parameter per row makes a
//! new statement for every batch size: each connection prepares and plans
//! it again (a 300-row insert or update is planned from scratch), and the
//! statement caches churn. On PostgreSQL a batch travels instead as one
//! parameter, a JSON array of rows (`json_populate_recordset`) or an array
//! of ids (`= ANY`): the server prepares one statement per kind and keeps
//! its generic plan. SQLite keeps the lists: the same JSON batches through
//! `json_each` measured no cheaper there (docs/performance.md).

use std::fmt::Write;

use chrono::SecondsFormat;
use sea_orm::sea_query::{Expr, ExprTrait, PgFunc, Value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait,
    IdenStatic, Iterable, Statement,
};
use uuid::Uuid;

use super::events::CHUNK;

/// `column` is one of `ids`: `column = ANY($1)` with the ids as one array
/// on PostgreSQL, `column IN (...)` elsewhere.
pub(super) fn one_of<C: ColumnTrait>(backend: DbBackend, column: C, ids: Vec<Uuid>) -> Expr {
    if backend == DbBackend::Postgres {
        Expr::col(column).eq(PgFunc::any(Expr::val(ids)))
    } else {
        column.is_in(ids)
    }
}

/// Inserts `rows` of one entity, each setting the same columns, in
/// statements of at most [`CHUNK`] rows.
pub(super) async fn insert_rows<A>(txn: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let backend = txn.get_database_backend();
    let mut rows = rows;
    while !rows.is_empty() {
        let chunk = rows.split_off(rows.len().saturating_sub(CHUNK));
        if backend == DbBackend::Postgres {
            txn.execute_raw(populating(&chunk)).await?;
        } else {
            A::Entity::insert_many(chunk)
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}

/// The PostgreSQL statement inserting `rows` from one JSON parameter:
/// `INSERT INTO t (c, ...) SELECT c, ... FROM json_populate_recordset(NULL::t, $1)`.
fn populating<A: ActiveModelTrait>(rows: &[A]) -> Statement {
    let table = A::Entity::default().table_name().to_owned();
    // The columns the rows set: the first row's (they all set the same).
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| rows.first().is_some_and(|r| !r.is_not_set(*c)))
        .collect();
    let names = columns
        .iter()
        .map(|c| format!("\"{}\"", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut json = String::with_capacity(rows.len() * 64 * columns.len().max(1));
    json.push('[');
    for (i, row) in rows.iter().enumerate() {
        json.push_str(if i == 0 { "{" } else { ",{" });
        for (j, column) in columns.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            write_json_string(&mut json, column.as_str());
            json.push(':');
            let value = row.get(*column).into_value();
            write_json_value(&mut json, value.as_ref());
        }
        json.push('}');
    }
    json.push(']');
    let sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {names} \
         FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [Value::from(json)])
}

/// Writes `value` as the JSON PostgreSQL reads back into its column. Times
/// keep microseconds, cut as a bound parameter's are (PostgreSQL would
/// round more digits), so that what was written compares equal to what the
/// service remembers.
fn write_json_value(json: &mut String, value: Option<&Value>) {
    match value {
        None => json.push_str("null"),
        Some(Value::Uuid(Some(id))) => {
            let _ = write!(json, "\"{id}\"");
        }
        Some(Value::String(Some(text))) => write_json_string(json, text),
        Some(Value::Int(Some(n))) => {
            let _ = write!(json, "{n}");
        }
        Some(Value::BigInt(Some(n))) => {
            let _ = write!(json, "{n}");
        }
        Some(Value::Bool(Some(b))) => {
            let _ = write!(json, "{b}");
        }
        Some(Value::ChronoDateTimeUtc(Some(at))) => {
            let _ = write!(
                json,
                "\"{}\"",
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
        Some(
            Value::Uuid(None)
            | Value::String(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::Bool(None)
            | Value::ChronoDateTimeUtc(None),
        ) => json.push_str("null"),
        Some(other) => unreachable!("no column of the batched tables holds {other:?}"),
    }
}

fn write_json_string(json: &mut String, text: &str) {
    // serde_json escapes as JSON requires; writing to a String cannot fail.
    json.push_str(&serde_json::to_string(text).expect("a string serializes"));
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sea_orm::{EntityTrait, QueryFilter, QueryTrait, Set};

    use super::*;
    use crate::store::entities::{delivery, delivery_attempt, event};

    fn delivery_row(n: u32, optional: bool) -> delivery::ActiveModel {
        let at = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();
        delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_id: Set(Uuid::now_v7()),
            webhook_id: Set(Uuid::now_v7()),
            organization_id: Set(Uuid::now_v7()),
            status: Set("pending".into()),
            attempts: Set(n as i32),
            next_attempt_at: Set(at),
            lease_until: Set(optional.then_some(at)),
            last_error: Set(optional.then(|| "a \"quoted\" error".into())),
            created_at: Set(at),
            updated_at: Set(at),
            event_type: Set("member.added".into()),
            paused: Set(false),
            ordering_key: Set(optional.then(|| "".into())),
            sequence: Set(optional.then_some(i64::MAX)),
            behind: Set(optional),
        }
    }

    #[test]
    fn a_batch_of_any_size_is_one_statement_text_on_postgres() {
        let one = populating(&[delivery_row(1, true)]);
        let many = populating(
            &(0..300)
                .map(|n| delivery_row(n, n % 2 == 0))
                .collect::<Vec<_>>(),
        );
        assert_eq!(one.sql, many.sql);
        assert_eq!(many.values.as_ref().unwrap().0.len(), 1);

        let update = |ids: Vec<Uuid>| {
            delivery::Entity::update_many()
                .col_expr(delivery::Column::Attempts, Expr::value(1))
                .filter(one_of(DbBackend::Postgres, delivery::Column::Id, ids))
                .build(DbBackend::Postgres)
        };
        let few = update(vec![Uuid::now_v7()]);
        let lots = update((0..300).map(|_| Uuid::now_v7()).collect());
        assert_eq!(few.sql, lots.sql);
        assert!(lots.sql.contains("= ANY($2)"), "{}", lots.sql);
        // SQLite keeps its lists.
        let listed = delivery::Entity::update_many()
            .filter(one_of(
                DbBackend::Sqlite,
                delivery::Column::Id,
                vec![Uuid::now_v7(); 3],
            ))
            .build(DbBackend::Sqlite);
        assert!(listed.sql.contains("IN (?, ?, ?)"), "{}", listed.sql);
    }

    /// The JSON parameter's rows, parsed back.
    fn rows_of(statement: &Statement) -> Vec<serde_json::Value> {
        let Some(Value::String(Some(json))) = statement.values.as_ref().map(|v| &v.0[0]) else {
            panic!("one text parameter");
        };
        serde_json::from_str(json).expect("valid JSON")
    }

    #[test]
    fn every_column_of_the_batched_tables_becomes_json_postgres_reads_back() {
        let rows = rows_of(&populating(&[
            delivery_row(7, true),
            delivery_row(8, false),
        ]));
        let (set, unset) = (&rows[0], &rows[1]);
        assert_eq!(set["attempts"], 7);
        assert_eq!(set["sequence"], i64::MAX);
        assert_eq!(set["behind"], true);
        assert_eq!(set["ordering_key"], "");
        assert_eq!(set["last_error"], "a \"quoted\" error");
        // Microseconds, cut as a bound parameter's are, not rounded.
        assert_eq!(set["next_attempt_at"], "2027-01-15T08:00:00.123456Z");
        for column in ["lease_until", "last_error", "ordering_key", "sequence"] {
            assert!(
                serde_json::Value::is_null(&unset[column]),
                "{column}: {unset}"
            );
        }

        let event = event::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(Uuid::now_v7()),
            event_type: Set("member.added".into()),
            body: Set("{\"data\":{\"note\":\"\\u0000\"}}".into()),
            idempotency_key: Set(None),
            created_at: Set(Utc::now()),
            trace_context: Set(Some("00-ab-cd-01".into())),
        };
        let statement = populating(&[event]);
        assert!(
            statement
                .sql
                .starts_with("INSERT INTO \"events\" (\"id\", "),
            "{}",
            statement.sql
        );
        let rows = rows_of(&statement);
        assert_eq!(rows[0]["body"], "{\"data\":{\"note\":\"\\u0000\"}}");
        assert!(serde_json::Value::is_null(&rows[0]["idempotency_key"]));

        let attempt = delivery_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(Uuid::now_v7()),
            attempt: Set(1),
            started_at: Set(Utc::now()),
            duration_ms: Set(12),
            status_code: Set(None),
            error_kind: Set(Some("timeout".into())),
            error_message: Set(Some("line\nbreak\ttab\u{1}".into())),
            response_excerpt: Set(None),
        };
        let rows = rows_of(&populating(&[attempt]));
        assert_eq!(rows[0]["error_message"], "line\nbreak\ttab\u{1}");
        assert!(serde_json::Value::is_null(&rows[0]["status_code"]));
    }
}
