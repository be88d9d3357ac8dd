//! Logs: one global `tracing` subscriber, set up in `main`.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use crate::config::LogFormat;

/// The log filter's variable, tracing's usual one (read here, not through `config`).
pub const LOG_FILTER: &str = "RUST_LOG";

/// Log lines waiting for stdout at most; past it, a request waits for the
/// writer rather than a line being dropped (the labs read every access line).
/// About 1 MB at the access line's ~250 bytes.
const MAX_QUEUED_LINES: usize = 4096;

/// Sets up the global log subscriber: text or JSON lines on stdout, level
/// from `RUST_LOG` (e.g. `info`, or `info,shared::propagation=debug`).
/// Text is coloured only on a terminal (see [`colour`]).
///
/// Lines are written by a thread of their own (tracing-appender), in one
/// `write` per batch: a request formats its line and goes on, instead of
/// taking stdout's lock and making a system call each. The returned guard
/// writes what is queued when dropped: keep it until the service ends.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_logging(format: LogFormat) -> WorkerGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let filter: tracing_subscriber::filter::Targets = std::env::var(LOG_FILTER)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            "info,actix_server=warn"
                .parse()
                .expect("a valid default filter")
        });
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(MAX_QUEUED_LINES)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    let result = match format {
        // No clock in text lines: formatting the time was a tenth of `/version`'s
        // throughput with the access log on, and a pod's lines get the runtime's
        // (`kubectl logs --timestamps`, Loki). JSON lines keep theirs.
        LogFormat::Text => registry
            .with(layer.without_time().with_ansi(colour(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR"),
            )))
            .try_init(),
        LogFormat::Json => registry.with(layer.json().flatten_event(true)).try_init(),
    };
    // Already set (several apps in one test process): keep the first.
    let _ = result;
    guard
}

/// Colour for a person at a terminal only: a pod's log, a pipe or a file gets plain text, so
/// `kubectl logs deploy/beth beth | grep 'request_id="…"'` finds its line (escape codes would
/// sit between the name and the `=`). `NO_COLOR` set to anything but "" turns it off too
/// (no-color.org).
fn colour(stdout_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
