//! What the store asked of its database (`store::StatementStats`), read
//! at each scrape: statements by kind, their time, their errors, and the
//! write transactions begun.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::store::StatementStats;

#[derive(Debug)]
pub(super) struct DatabaseCollector(pub(super) Arc<StatementStats>);

impl Collector for DatabaseCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "webhook_database_statements",
            "Statements this process ran on its database, by kind (first keyword)",
            None,
            MetricType::Counter,
        )?;
        for (kind, count) in self.0.statements() {
            let counter = ConstCounter::new(count);
            counter.encode(family.encode_family(&[("kind", kind)])?)?;
        }
        for (name, help, value) in [
            (
                "webhook_database_statement_errors",
                "Statements this process ran on its database that ended in an error",
                self.0.failed() as f64,
            ),
            (
                "webhook_database_statement_seconds",
                "Time the statements took, seen from this process (sent, run, answered)",
                self.0.seconds(),
            ),
            (
                "webhook_database_write_transactions",
                "Transactions this process began on its database to write",
                self.0.write_transactions() as f64,
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
