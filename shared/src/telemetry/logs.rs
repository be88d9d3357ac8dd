//! Logs: one global `tracing` subscriber, set up in `main`, and the access
//! line (one per request), written directly when the log is plain text.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

use super::log_writer::{LogWriter, LogWriterGuard, log_writer};
use crate::config::LogFormat;

/// The target of the access line, one per request (`RUST_LOG=access=warn` hides it).
pub const ACCESS_LOG: &str = "access";

/// The log filter's variable, tracing's usual one (read here, not through `config`).
pub const LOG_FILTER: &str = "RUST_LOG";

/// Where access lines go straight to when the log is plain text (not JSON, not
/// coloured): see [`AccessLine::log`].
static PLAIN_ACCESS_LINES: OnceLock<LogWriter> = OnceLock::new();

/// Sets up the global log subscriber: text or JSON lines on stdout, level
/// from `RUST_LOG` (e.g. `info`, or `info,shared::propagation=debug`).
/// Text is coloured only on a terminal (see [`colour`]).
///
/// Lines are written by a thread of their own ([`log_writer`]), in one
/// `write` per batch: a request formats its line and goes on, instead of
/// taking stdout's lock and making a system call each. The returned guard
/// writes what is queued when dropped: keep it until the service ends.
pub fn init_logging(format: LogFormat) -> LogWriterGuard {
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
    let (writer, guard) = log_writer(std::io::stdout());
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(writer.clone());
    let ansi = colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let result = match format {
        // No clock in text lines: formatting the time was a tenth of `/version`'s
        // throughput with the access log on, and a pod's lines get the runtime's
        // (`kubectl logs --timestamps`, Loki). JSON lines keep theirs.
        LogFormat::Text => registry
            .with(layer.without_time().with_ansi(ansi))
            .try_init(),
        LogFormat::Json => registry.with(layer.json().flatten_event(true)).try_init(),
    };
    // Already set (several apps in one test process): keep the first.
    if result.is_ok() && format == LogFormat::Text && !ansi {
        let _ = PLAIN_ACCESS_LINES.set(writer);
    }
    guard
}

/// One request's access line: what the mirroring lab compares
/// (`grep 'request_id="…"'`), Loki and `kubectl logs` show.
pub struct AccessLine<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// Milliseconds, to a tenth.
    pub ms: f64,
    pub request_id: &'a str,
    pub trace_id: &'a str,
}

thread_local! {
    /// The line being written, kept per thread to spare an allocation per request.
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl AccessLine<'_> {
    /// Logs the line at `info`, or at `debug` for a probe (they come every
    /// few seconds), if `RUST_LOG` lets it through.
    ///
    /// A plain text log gets the bytes tracing's text format would write
    /// (` INFO access: method=GET … request_id="…"`), written here directly:
    /// ~110 ns a line instead of ~550 through the subscriber
    /// (`shared/examples/log_lines.rs`), so that a logged `/version` keeps most of a
    /// bare "hello"'s throughput. JSON and colour go through the subscriber.
    pub fn log(&self, probe: bool) {
        let wanted = if probe {
            tracing::enabled!(target: ACCESS_LOG, tracing::Level::DEBUG)
        } else {
            tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO)
        };
        if !wanted {
            return;
        }
        let Some(writer) = PLAIN_ACCESS_LINES.get() else {
            let Self {
                method,
                host,
                path,
                status,
                ms,
                request_id,
                trace_id,
            } = *self;
            if probe {
                tracing::debug!(target: ACCESS_LOG, %method, %host, %path, status, ms, request_id, trace_id);
            } else {
                tracing::info!(target: ACCESS_LOG, %method, %host, %path, status, ms, request_id, trace_id);
            }
            return;
        };
        LINE.with_borrow_mut(|line| {
            line.clear();
            self.write_plain(probe, line);
            // Nowhere to report a failing stdout (see `log_writer`).
            let _ = writer.clone().write_all(line.as_bytes());
        });
    }

    /// The line as tracing's text format writes it without colour or time: `%` fields bare,
    /// strings quoted as `{:?}` quotes them, numbers as tracing records them. Written piece by
    /// piece: `format!`'s general machinery (float and string `Debug`) was a third of its cost.
    fn write_plain(&self, probe: bool, line: &mut String) {
        line.push_str(if probe { "DEBUG " } else { " INFO " });
        line.push_str(ACCESS_LOG);
        for (name, value) in [
            (": method=", self.method),
            (" host=", self.host),
            (" path=", self.path),
        ] {
            line.push_str(name);
            line.push_str(value);
        }
        let _ = write!(line, " status={} ms=", self.status);
        push_tenths(line, self.ms);
        line.push_str(" request_id=");
        push_quoted(line, self.request_id);
        line.push_str(" trace_id=");
        push_quoted(line, self.trace_id);
        line.push('\n');
    }
}

/// `ms` as `{:?}` writes an `f64` holding a whole number of tenths (`2001.0`, `0.3`).
fn push_tenths(line: &mut String, ms: f64) {
    let tenths = (ms * 10.0).round();
    // Beyond this, `{:?}` would switch to an exponent: no request takes 31,000 years.
    if (0.0..1e15).contains(&tenths) {
        let tenths = tenths as u64;
        let _ = write!(line, "{}.{}", tenths / 10, tenths % 10);
    } else {
        let _ = write!(line, "{ms:?}");
    }
}

/// `text` as `{:?}` writes it: quoted as is when nothing in it needs escaping.
fn push_quoted(line: &mut String, text: &str) {
    if text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        line.push('"');
        line.push_str(text);
        line.push('"');
    } else {
        let _ = write!(line, "{text:?}");
    }
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
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }

    /// What a subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut written) = self.0.lock() {
                written.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line tracing's text format (no colour, no time) writes for `line`.
    fn through_tracing(line: &AccessLine, probe: bool) -> String {
        use tracing_subscriber::prelude::*;
        let written = Written::default();
        let sink = written.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || sink.clone())
                .without_time()
                .with_ansi(false)
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        );
        // No plain writer in this process: `log` takes the subscriber's way.
        assert!(PLAIN_ACCESS_LINES.get().is_none());
        tracing::subscriber::with_default(subscriber, || line.log(probe));
        let bytes = written.0.lock().map(|w| w.clone()).unwrap_or_default();
        String::from_utf8(bytes).expect("text")
    }

    #[test]
    fn the_plain_access_line_is_tracings_line() {
        let line = AccessLine {
            method: "GET",
            host: "beth",
            path: "/version",
            status: 200,
            ms: 2001.0,
            request_id: "a\"b",
            trace_id: "-",
        };
        for probe in [false, true] {
            let mut plain = String::new();
            line.write_plain(probe, &mut plain);
            assert_eq!(plain, through_tracing(&line, probe), "probe: {probe}");
        }
        // Times and texts that take each way of writing them.
        for (ms, request_id) in [
            (0.0, ""),
            (0.1, "é"),
            (0.3, "tab\there"),
            (12.5, "back\\slash"),
            (1234567.8, "3f1c-9a 'quoted' ~"),
            (1e300, "\u{7f}\u{0}"),
        ] {
            let line = AccessLine {
                ms,
                request_id,
                ..line
            };
            let mut plain = String::new();
            line.write_plain(false, &mut plain);
            assert_eq!(plain, through_tracing(&line, false), "{ms} {request_id:?}");
        }
        let mut plain = String::new();
        line.write_plain(false, &mut plain);
        assert_eq!(
            plain,
            " INFO access: method=GET host=beth path=/version status=200 ms=2001.0 \
             request_id=\"a\\\"b\" trace_id=\"-\"\n"
        );
    }
}
