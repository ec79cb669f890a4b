//! What a run cost: the service's CPU, the connections it opened, the
//! statements it ran, and on PostgreSQL the database's CPU and WAL
//! ([`crate::database`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::database::{self, DatabaseCost};
use crate::receiver::Receiver;
use crate::service::{Service, Statements};

/// What the service (and on PostgreSQL its database) spent on a run.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// The service's CPU time (user and system, all threads) over the run,
    /// per delivered webhook; publishing included.
    pub service_cpu_us_per_delivery: f64,
    /// On PostgreSQL, the cluster's CPU and WAL per delivered webhook;
    /// absent on SQLite, where the service's CPU includes the database.
    #[serde(flatten)]
    pub database: Option<DatabaseCost>,
    /// TLS handshakes the receiver completed meanwhile: the connections
    /// the service opened, full handshakes and resumed ones.
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
    /// Statements the service ran on its database (read from its metrics),
    /// and the transactions it began to write, per delivered webhook;
    /// absent for a build that does not count them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements_per_delivery: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_transactions_per_delivery: Option<f64>,
    /// The statements by kind (`select`, `insert`, ...), per delivered
    /// webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements_by_kind_per_delivery: Option<BTreeMap<String, f64>>,
}

/// Reads the service's CPU time, the database's and the receiver's
/// handshakes at the start of a run, to tell the cost of the run at its
/// end.
pub struct Meter {
    cpu_seconds: f64,
    database: Option<database::Reading>,
    handshakes: (u64, u64),
    statements: Option<Statements>,
}

impl Meter {
    pub async fn start(service: &Service, receiver: &Receiver) -> Self {
        Self {
            cpu_seconds: service.cpu_seconds(),
            database: service.database_reading().await,
            handshakes: receiver.handshakes(),
            statements: service.statements().await,
        }
    }

    pub async fn finish(self, service: &Service, receiver: &Receiver, deliveries: usize) -> Cost {
        let cpu = service.cpu_seconds() - self.cpu_seconds;
        let database = match self.database {
            Some(reading) => Some(
                service
                    .database_spent(reading)
                    .await
                    .per_delivery(deliveries),
            ),
            None => None,
        };
        let (full, resumed) = receiver.handshakes();
        let n = deliveries as f64;
        let statements = match (&self.statements, service.statements().await) {
            (Some(before), Some(after)) => Some(after.minus(before)),
            _ => None,
        };
        Cost {
            service_cpu_us_per_delivery: cpu * 1e6 / deliveries as f64,
            database,
            tls_handshakes: full - self.handshakes.0 + resumed - self.handshakes.1,
            tls_resumed: resumed - self.handshakes.1,
            statements_per_delivery: statements.as_ref().map(|s| s.total() / n),
            write_transactions_per_delivery: statements.as_ref().map(|s| s.write_transactions / n),
            statements_by_kind_per_delivery: statements.map(|s| {
                s.by_kind
                    .into_iter()
                    .map(|(kind, count)| (kind, count / n))
                    .collect()
            }),
        }
    }
}
