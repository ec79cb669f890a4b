//! Black-box tests: the real server on a random loopback port, a real gRPC
//! client, real SQLite and PostgreSQL. One binary, so the stack links once.

mod support;

mod authentication;
mod cli;
mod create_webhook;
mod database_outage;
mod delivery;
mod durability;
mod history;
mod management;
mod plumbing;
mod publish_event;
mod retries;
mod ssrf;
