//! Logs: one global `tracing` subscriber, set up in `main`.

use crate::config::LogFormat;

/// Sets up the global log subscriber: text or JSON lines on stdout, level
/// from `RUST_LOG` (e.g. `info`, or `info,shared::propagation=debug`).
/// Text is coloured only on a terminal (see [`colour`]).
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
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
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(colour(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR"),
            )))
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    // Already set (several apps in one test process): keep the first.
    let _ = result;
}

/// Colour for a person at a terminal only: a pod's log, a pipe or a file gets plain text, so
/// `kubectl logs deploy/beth beth | grep 'request_id="…"'` finds its line (escape codes would
/// sit between the name and the `=`). `NO_COLOR` set to anything but "" turns it off too
/// (no-color.org).
pub fn colour(stdout_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
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
