//! What an access line costs, through the log subscriber and written directly
//! (`AccessLine::log`, the way a plain text log takes), one after the other:
//!
//!     cargo run --release -p shared --example log_lines > /dev/null
//!
//! Prints ns per line on stderr. Run with stdout not a terminal (the plain way).

use std::time::Instant;

use shared::config::LogFormat;
use shared::telemetry::logs::{ACCESS_LOG, AccessLine};

const LINES: u32 = 1_000_000;

fn main() {
    // SAFETY: set before any other thread exists.
    unsafe { std::env::set_var(shared::telemetry::LOG_FILTER, "info") };
    let _log_writer = shared::telemetry::init_logging(LogFormat::Text);
    let (method, host, path, request_id, trace_id) =
        ("GET", "127.0.0.1:8080", "/version", "-", "-");
    let started = Instant::now();
    for i in 0..LINES {
        let ms = f64::from(i % 1000) / 10.0;
        tracing::info!(target: ACCESS_LOG, %method, %host, %path, status = 200_u16, ms, request_id, trace_id);
    }
    let subscriber = started.elapsed() / LINES;
    let started = Instant::now();
    for i in 0..LINES {
        AccessLine {
            method,
            host,
            path,
            status: 200,
            ms: f64::from(i % 1000) / 10.0,
            request_id,
            trace_id,
        }
        .log(false);
    }
    let direct = started.elapsed() / LINES;
    eprintln!(
        "{LINES} access lines: {} ns each through the subscriber, {} ns written directly",
        subscriber.as_nanos(),
        direct.as_nanos()
    );
}
