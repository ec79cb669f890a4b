//! The hot path's batch statements as one statement text whatever the
//! batch's size.
//!
//! A `VALUES` list or an `IN` list with a bind parameter per row makes a
//! new statement for every batch size: each connection prepares it again
//! (PostgreSQL plans a 300-row insert or update from scratch, SQLite
//! compiles it), the statement caches churn, and every row's every column
//! is a parameter of its own to build and bind. Instead a batch travels as
//! one parameter: a JSON array of rows, read by `json_populate_recordset`
//! on PostgreSQL and `json_each` on SQLite, or an array of ids (`= ANY` on
//! PostgreSQL). Each kind of statement is prepared once per connection.

use std::fmt::Write;

use chrono::SecondsFormat;
use sea_orm::sea_query::{Expr, ExprTrait, PgFunc, Value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait,
    IdenStatic, Iterable, Statement,
};
use uuid::Uuid;

use super::events::CHUNK;

/// `column` is one of `ids`, as one parameter: `column = ANY($1)` with an
/// array on PostgreSQL, `column IN (SELECT ... FROM json_each(?))` on SQLite.
pub(super) fn one_of<C: ColumnTrait>(backend: DbBackend, column: C, ids: Vec<Uuid>) -> Expr {
    if backend == DbBackend::Postgres {
        return Expr::col(column).eq(PgFunc::any(Expr::val(ids)));
    }
    let mut json = String::with_capacity(2 + ids.len() * 35);
    json.push('[');
    for (i, id) in ids.iter().enumerate() {
        let _ = write!(json, "{}\"{}\"", if i == 0 { "" } else { "," }, id.simple());
    }
    json.push(']');
    Expr::cust_with_exprs(
        "? IN (SELECT unhex(value) FROM json_each(?))",
        [Expr::col(column), Expr::val(json)],
    )
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
        txn.execute_raw(inserting(backend, &chunk)).await?;
    }
    Ok(())
}

/// The statement inserting `rows` from one JSON parameter, an array of
/// objects keyed by column:
/// `INSERT INTO t (c, ...) SELECT c, ... FROM json_populate_recordset(NULL::t, $1)`
/// on PostgreSQL, `INSERT INTO t (c, ...) SELECT value->>'c', ... FROM
/// json_each(?)` on SQLite.
fn inserting<A: ActiveModelTrait>(backend: DbBackend, rows: &[A]) -> Statement {
    let table = A::Entity::default().table_name().to_owned();
    // The columns the rows set: the first row's (they all set the same).
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter_map(|c| Some((c, rows.first()?.get(c).into_value()?)))
        .collect();
    let names = columns
        .iter()
        .map(|(c, _)| format!("\"{}\"", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut json = String::with_capacity(rows.len() * 64 * columns.len().max(1));
    json.push('[');
    for (i, row) in rows.iter().enumerate() {
        json.push_str(if i == 0 { "{" } else { ",{" });
        for (j, (column, _)) in columns.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            write_json_string(&mut json, column.as_str());
            json.push(':');
            let value = row.get(*column).into_value();
            write_json_value(&mut json, backend, value.as_ref());
        }
        json.push('}');
    }
    json.push(']');
    let sql = if backend == DbBackend::Postgres {
        format!(
            "INSERT INTO \"{table}\" ({names}) SELECT {names} \
             FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
        )
    } else {
        // Ids are stored as 16-byte blobs: they travel as hex.
        let values = columns
            .iter()
            .map(|(c, value)| match value {
                Value::Uuid(_) => format!("unhex(value->>'{}')", c.as_str()),
                _ => format!("value->>'{}'", c.as_str()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("INSERT INTO \"{table}\" ({names}) SELECT {values} FROM json_each(?)")
    };
    Statement::from_sql_and_values(backend, sql, [Value::from(json)])
}

/// Writes `value` as the JSON the database reads back into its column,
/// exactly as a bound parameter would have stored it: on PostgreSQL, times
/// keep microseconds, cut as a parameter's are (it would round more
/// digits); on SQLite, times are the text sqlx writes and ids hex.
fn write_json_value(json: &mut String, backend: DbBackend, value: Option<&Value>) {
    let postgres = backend == DbBackend::Postgres;
    match value {
        None => json.push_str("null"),
        Some(Value::Uuid(Some(id))) if postgres => {
            let _ = write!(json, "\"{id}\"");
        }
        Some(Value::Uuid(Some(id))) => {
            let _ = write!(json, "\"{}\"", id.simple());
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
        Some(Value::ChronoDateTimeUtc(Some(at))) if postgres => {
            let _ = write!(
                json,
                "\"{}\"",
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
        Some(Value::ChronoDateTimeUtc(Some(at))) => {
            let _ = write!(
                json,
                "\"{}\"",
                at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
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
    fn a_batch_of_any_size_is_one_statement_text() {
        let one = inserting(DbBackend::Postgres, &[delivery_row(1, true)]);
        let many = inserting(
            DbBackend::Postgres,
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
        let sqlite = |ids: Vec<Uuid>| {
            delivery::Entity::update_many()
                .col_expr(delivery::Column::Attempts, Expr::value(1))
                .filter(one_of(DbBackend::Sqlite, delivery::Column::Id, ids))
                .build(DbBackend::Sqlite)
        };
        let (few, lots) = (sqlite(vec![Uuid::now_v7()]), sqlite(vec![Uuid::nil(); 300]));
        assert_eq!(few.sql, lots.sql);
        assert_eq!(lots.values.as_ref().unwrap().0.len(), 2, "{}", lots.sql);
        let inserts = |n| {
            inserting(
                DbBackend::Sqlite,
                &(0..n).map(|n| delivery_row(n, true)).collect::<Vec<_>>(),
            )
            .sql
        };
        assert_eq!(inserts(1), inserts(300));
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
        let rows = rows_of(&inserting(
            DbBackend::Postgres,
            &[delivery_row(7, true), delivery_row(8, false)],
        ));
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
        let statement = inserting(DbBackend::Postgres, &[event]);
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
        let rows = rows_of(&inserting(DbBackend::Postgres, &[attempt]));
        assert_eq!(rows[0]["error_message"], "line\nbreak\ttab\u{1}");
        assert!(serde_json::Value::is_null(&rows[0]["status_code"]));
    }
}
