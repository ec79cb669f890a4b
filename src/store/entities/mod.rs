//! SeaORM entities: one module per table. They never leave `store`.

pub mod delivery;
pub mod delivery_attempt;
pub mod event;
pub mod event_type;
pub mod subscription;
pub mod webhook;
pub mod webhook_sweep;
