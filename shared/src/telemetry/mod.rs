//! Logs (`tracing`) and traces (OpenTelemetry, exported to Zipkin), one
//! module per concern:
//!
//! - [`logs`]: the global log subscriber (text or JSON lines), written
//!   to stdout in batches by `log_writer`;
//! - [`traces`]: each service's tracer, the Zipkin export, span helpers;
//! - [`requests`]: the one request middleware: span, access log, metrics, and
//!   a service's fault knobs (`server::InjectFaults`).

pub mod log_writer;
pub mod logs;
pub mod requests;
pub mod traces;

pub use logs::{LOG_FILTER, init_logging};
pub use requests::observe_requests;
pub use traces::{RequestTrace, TelemetryError, Tracing, end_span};
