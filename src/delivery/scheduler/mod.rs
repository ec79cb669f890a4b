//! Who gets a delivery slot next: pure decisions, no I/O, called by the
//! dispatcher. Organizations share the slots fairly (`tenants`); each
//! endpoint gets as many at once as it shows it can take (`window`), up to
//! this process's part of the per-endpoint cap (`shares`), and no more a
//! second than its rate limit: kept in memory by the one process on SQLite
//! (`rates`), in the database for several on PostgreSQL (`booked`).

mod booked;
mod rates;
mod shares;
mod tenants;
mod window;

pub(super) use booked::{Booked, reach, step};
pub(super) use rates::Rates;
pub(super) use shares::Shares;
pub(super) use tenants::{Tenants, reserve};
pub(super) use window::{Signal, Windows};
