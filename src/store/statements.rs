//! What the store asks of its database, counted: the statements it runs,
//! by kind, how long they took as the service saw them, and the write
//! transactions it began. The metrics read these at each scrape; the bench
//! divides them by the webhooks delivered (issue 26: statements per
//! delivery, on both backends, without a profiler).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The kinds a statement is counted under, by its first keyword: a `WITH`
/// (a common table expression, reading or writing) is its own kind.
pub const STATEMENT_KINDS: [&str; 6] = ["select", "insert", "update", "delete", "with", "other"];

/// The counters, shared by every connection of the store.
#[derive(Debug, Default)]
pub struct StatementStats {
    /// By kind, in the order of [`STATEMENT_KINDS`].
    by_kind: [AtomicU64; STATEMENT_KINDS.len()],
    failed: AtomicU64,
    nanos: AtomicU64,
    write_transactions: AtomicU64,
}

impl StatementStats {
    /// One statement run: its text, how long it took, whether it failed.
    pub(super) fn count(&self, sql: &str, elapsed: Duration, failed: bool) {
        self.by_kind[kind_of(sql)].fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(super) fn write_transaction_begun(&self) {
        self.write_transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Statements run so far, by kind (see [`STATEMENT_KINDS`]).
    pub fn statements(&self) -> [(&'static str, u64); STATEMENT_KINDS.len()] {
        std::array::from_fn(|i| (STATEMENT_KINDS[i], self.by_kind[i].load(Ordering::Relaxed)))
    }

    /// Statements that ended in an error so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Time the statements took so far, from the service's side: sent,
    /// run and answered (waiting for a connection not included).
    pub fn seconds(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Transactions begun to write so far (each commits or rolls back).
    pub fn write_transactions(&self) -> u64 {
        self.write_transactions.load(Ordering::Relaxed)
    }
}

/// The index in [`STATEMENT_KINDS`] of `sql`'s kind.
fn kind_of(sql: &str) -> usize {
    let keyword = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    let last = STATEMENT_KINDS.len() - 1;
    STATEMENT_KINDS[..last]
        .iter()
        .position(|kind| keyword.eq_ignore_ascii_case(kind))
        .unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_by_their_first_keyword() {
        let stats = StatementStats::default();
        for sql in [
            "SELECT 1",
            "  select \"id\" FROM x",
            "INSERT INTO \"events\" VALUES ($1)",
            "UPDATE deliveries SET status = $1",
            "DELETE FROM x",
            "WITH RECURSIVE orgs(org) AS (SELECT 1) SELECT org FROM orgs",
            "PRAGMA synchronous",
            "",
        ] {
            stats.count(sql, Duration::from_millis(2), false);
        }
        stats.count("UPDATE x SET y = 1", Duration::from_millis(1), true);
        assert_eq!(
            stats.statements(),
            [
                ("select", 2),
                ("insert", 1),
                ("update", 2),
                ("delete", 1),
                ("with", 1),
                ("other", 2),
            ]
        );
        assert_eq!(stats.failed(), 1);
        assert!((stats.seconds() - 0.017).abs() < 1e-9);
        stats.write_transaction_begun();
        assert_eq!(stats.write_transactions(), 1);
    }
}
