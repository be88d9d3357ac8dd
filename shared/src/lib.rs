//! What front, aleph and beth share. One module per concern:
//!
//! - [`propagation`]: THE list of forwarded headers, in and out;
//! - [`telemetry`]: logs, and traces exported to Zipkin;
//! - [`metrics`]: Prometheus metrics by route pattern;
//! - [`config`]: typed settings from the environment;
//! - [`server`]: binding, `/healthz`, `/readyz`, graceful shutdown;
//! - [`backend`]: the app aleph and beth have in common;
//! - [`outgoing`]: calls to other services, propagated and traced;
//! - [`user`]: the signed-in user's name;
//! - [`cli`]: what every `main.rs` does.

pub mod backend;
pub mod cli;
pub mod config;
pub mod devices;
pub mod metrics;
pub mod outgoing;
// opentelemetry-zipkin is deprecated upstream in favour of OTLP, but Istio's
// tracing labs send to Zipkin's API, and the crate is the one the project uses.
#[allow(deprecated)]
pub mod propagation;
pub mod server;
#[allow(deprecated)]
pub mod telemetry;
pub mod user;
