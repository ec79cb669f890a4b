//! SeaORM entities: one module per table. They never leave `store`.

pub mod webhook;
