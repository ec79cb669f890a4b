//! Who gets a delivery slot next: pure decisions, no I/O, called by the
//! dispatcher. Organizations share the slots fairly (`tenants`); each
//! endpoint gets as many at once as it shows it can take (`window`).

mod tenants;
mod window;

pub(super) use tenants::{Tenants, reserve};
pub(super) use window::{Signal, Windows};
