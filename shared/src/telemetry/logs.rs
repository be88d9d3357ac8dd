//! Logs: one global `tracing` subscriber, set up in `main`.

use crate::config::LogFormat;

/// Sets up the global log subscriber: text or JSON lines on stdout, level
/// from `RUST_LOG` (e.g. `info`, or `info,shared::propagation=debug`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::prelude::*;
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            "info,actix_server=warn"
                .parse()
                .expect("a valid default filter")
        });
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    // Already set (several apps in one test process): keep the first.
    let _ = result;
}
