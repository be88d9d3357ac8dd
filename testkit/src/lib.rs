//! What the integration tests of every crate share:
//!
//! - [`hostile`]: the hostile requests, sized against the limits, and a raw client;
//! - [`mongo`]: a real MongoDB wire server, a database per test;
//! - [`service`]: start a service on port 0 and stop it as SIGTERM would;
//! - [`stub`]: a stub HTTP backend that answers as told and records headers;
//! - [`zipkin`]: a Zipkin collector stand-in that records spans.

pub mod hostile;
pub mod jwt;
pub mod mongo;
pub mod service;
pub mod stub;
pub mod zipkin;

pub use mongo::{database, mongodb_uri};
pub use service::{Running, server_config};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
