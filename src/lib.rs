//! webhook-service: lets an organization's owners and admins register HTTPS
//! endpoints and delivers the organization's events to them.

pub mod auth;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod grpc;
pub mod health;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod net;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
