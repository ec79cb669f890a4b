//! Prometheus metrics: the registry and the handle the components count
//! through (`registry`), the process's own figures read at each scrape
//! (`process`), the store-wide backlog gauges refreshed in the background
//! (`backlog`), the identity provider's key set fetches (`jwks`), what the
//! store asked of its database (`database`), and what
//! `GET /metrics` answers (`endpoint`; start-up serves it).
//!
//! Every label is bounded: outcomes, statuses, the fixed catalogue of event
//! types, the gRPC methods known at start-up. No label carries an
//! organization, a webhook, a URL or anything else a caller chooses.

mod backlog;
mod database;
mod endpoint;
mod jwks;
mod process;
mod registry;

pub use backlog::refresh_backlog;
pub use endpoint::{Format, answer_scrape};
pub use registry::{AttemptOutcome, InFlight, Metrics, RpcMetrics};
