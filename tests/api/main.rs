//! Black-box tests: the real server on a random loopback port, a real gRPC
//! client, real SQLite and PostgreSQL. One binary, so the stack links once.

mod support;

mod access;
mod authentication;
mod auto_disable;
mod claims;
mod cli;
mod concurrent_creates;
mod connection_reuse;
mod connections;
mod console;
mod create_webhook;
mod database_outage;
mod delivery;
mod deploy;
mod durability;
mod endpoint_health;
mod fairness;
mod handoff;
mod health;
mod history;
mod hostile_endpoints;
mod jwks;
mod leases;
mod limits;
mod listing;
mod metrics;
mod plumbing;
mod publish_event;
mod races;
mod rate_limits;
mod rest;
mod rest_deliveries;
mod rest_errors;
mod rest_requests;
mod rest_serving;
mod retention;
mod retries;
mod rotation;
mod shutdown;
mod ssrf;
mod subscriptions;
mod test_events;
mod tls;
mod updates;
