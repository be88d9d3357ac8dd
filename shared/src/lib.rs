//! What front, aleph and beth share. One module per concern:
//!
//! - [`answer`]: the headers every answer carries about itself (pod, attempt, trace);
//! - [`config`]: typed settings from the environment;
//! - [`server`]: binding, `/healthz`, `/readyz`, graceful shutdown, the fault hook;
//! - [`telemetry`]: logs, traces exported over OTLP or to Zipkin, the request middleware;
//! - [`metrics`]: Prometheus metrics by route pattern;
//! - [`propagation`]: THE list of forwarded headers, and the trace context in and out;
//! - [`outgoing`]: calls to other services, propagated and traced;
//! - [`user`]: the signed-in user's name;
//! - [`cli`]: what every `main.rs` does.
//!
//! What only aleph and beth share (their common routes, the device API) is
//! the `backend` crate.

pub mod answer;
pub mod cli;
pub mod config;
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
