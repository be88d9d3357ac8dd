//! Logs (`tracing`) and traces (OpenTelemetry, exported to Zipkin), one
//! module per concern:
//!
//! - [`logs`]: the global log subscriber (text or JSON lines), written
//!   to stdout in batches by `log_writer`;
//! - [`traces`]: each service's tracer, the Zipkin export, span helpers;
//! - [`requests`]: the middleware that observes every request (span, access
//!   log, metrics).

pub mod log_writer;
pub mod logs;
pub mod requests;
pub mod traces;

pub use logs::{LOG_FILTER, init_logging};
pub use requests::observe_requests;
pub use traces::{RequestTrace, TelemetryError, Tracing, end_span};
