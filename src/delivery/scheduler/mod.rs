//! Who gets a delivery slot next: pure decisions, no I/O, called by the
//! dispatcher. Organizations share the slots fairly (`tenants`); each
//! endpoint gets as many at once as it shows it can take (`window`), and
//! no more a second than its rate limit (`rates`).

mod rates;
mod tenants;
mod window;

pub(super) use rates::Rates;
pub(super) use tenants::{Tenants, reserve};
pub(super) use window::{Signal, Windows};
