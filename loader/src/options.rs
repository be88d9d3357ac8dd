//! The command line: `loader URL [--rate 20] [--duration 30s] ...`, parsed by
//! clap; every option's help is its doc comment below.

use std::time::Duration;

use clap::{CommandFactory, Parser};

/// The longest run: a week (a workshop's soak at most).
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Calls URL at a steady rate and shows, over the last window and in total,
/// the share of each distinct answer (e.g. the versions), the status codes,
/// the success rate and latency p50/p90/p99.
#[derive(Debug, Parser)]
#[command(
    name = "loader",
    override_usage = "loader URL [options]",
    after_help = "Examples:
  loader http://beth/version --rate 20
  loader http://aleph/version --duration 30s --max-error-rate 0.01
  loader http://beth/version --cookie user=developer --duration 10s --json"
)]
struct Cli {
    /// The URL to call, e.g. http://beth/version (http:// is added if missing)
    url: String,
    /// Requests per second, 0.1 to 10000
    #[arg(long, default_value = "10", value_parser = rate)]
    rate: f64,
    /// Stop after this long (e.g. 30s, 2m; at most 7 days); default: until Ctrl-C
    #[arg(long, value_parser = run_time)]
    duration: Option<Duration>,
    /// Requests in flight at most (1 to 1000); default: enough to keep the
    /// rate while answers take up to --timeout (100 for 20/s and 5s), so a
    /// slow beth does not slow the loader
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    concurrency: Option<u16>,
    /// Add a header, 'Name: value' (repeatable)
    #[arg(long = "header", short = 'H', value_name = "'K: V'", value_parser = header)]
    headers: Vec<(String, String)>,
    /// Send a cookie, e.g. --cookie user=developer (repeatable)
    #[arg(long = "cookie", value_name = "k=v")]
    cookies: Vec<String>,
    /// The recent window shown beside the total
    #[arg(long, default_value = "10s", value_parser = span)]
    window: Duration,
    /// Time allowed per request
    #[arg(long, default_value = "5s", value_parser = span)]
    timeout: Duration,
    /// How often to refresh the display
    #[arg(long, default_value = "1s", value_parser = span)]
    interval: Duration,
    /// Exit 1 if more than this share failed (0.01 = 1%)
    #[arg(long, value_parser = share)]
    max_error_rate: Option<f64>,
    /// Print the summary as one JSON object on the last line
    #[arg(long)]
    json: bool,
}

/// What a run does, checked and with its defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub url: String,
    pub rate: f64,
    pub duration: Option<Duration>,
    pub concurrency: usize,
    pub headers: Vec<(String, String)>,
    pub window: Duration,
    pub timeout: Duration,
    pub interval: Duration,
    pub max_error_rate: Option<f64>,
    pub json: bool,
}

impl Options {
    /// Parses the arguments after the program name. The error is clap's: it
    /// prints itself (the help, or what is wrong and the usage) and knows its
    /// exit code (0 for `--help`, 2 otherwise).
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("loader".to_string()).chain(args))?;
        Ok(Self::from(cli))
    }
}

/// `Usage: loader URL [options]`, shown under a bad command line.
pub fn usage() -> String {
    Cli::command().render_usage().to_string()
}

impl From<Cli> for Options {
    fn from(cli: Cli) -> Self {
        let concurrency = cli.concurrency.map_or_else(
            || ((cli.rate * cli.timeout.as_secs_f64()).ceil() as usize).clamp(4, 1000),
            usize::from,
        );
        let url = full_url(cli.url);
        let mut headers = cli.headers;
        headers.extend(cli.cookies.into_iter().map(|c| ("cookie".to_string(), c)));
        Self {
            url,
            rate: cli.rate,
            duration: cli.duration,
            concurrency,
            headers,
            window: cli.window,
            timeout: cli.timeout,
            interval: cli.interval,
            max_error_rate: cli.max_error_rate,
            json: cli.json,
        }
    }
}

/// `beth/version` as `http://beth/version`: what a learner means.
fn full_url(url: String) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url
    } else {
        format!("http://{url}")
    }
}

/// A URL as the loader calls it (`loader serve --allow`).
pub(crate) fn url(text: &str) -> Result<String, String> {
    Some(text.trim())
        .filter(|t| !t.is_empty() && t.len() <= 2048 && !t.contains(char::is_whitespace))
        .map(|t| full_url(t.to_string()))
        .ok_or_else(|| "a URL such as http://aleph-canary.staging/version".into())
}

pub(crate) fn rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| (0.1..=10_000.0).contains(r))
        .ok_or_else(|| "a number of requests per second from 0.1 to 10000".into())
}

/// A duration above zero, e.g. 30s, 500ms, 2m.
fn span(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "a duration such as 30s, 500ms or 2m".into())
}

pub(crate) fn run_time(text: &str) -> Result<Duration, String> {
    span(text)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| "a duration such as 30s or 2m, at most 7 days (168h)".into())
}

fn header(text: &str) -> Result<(String, String), String> {
    text.split_once(':')
        .filter(|(name, _)| !name.trim().is_empty())
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .ok_or_else(|| "write it as 'Name: value'".into())
}

fn share(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| "a share from 0 to 1, e.g. 0.01 for 1%".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string())).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_labs_command_lines() {
        let o = parse(&["http://beth/version", "--rate", "20"]).unwrap();
        assert_eq!(
            (o.url.as_str(), o.rate, o.duration),
            ("http://beth/version", 20.0, None)
        );
        let o = parse(&[
            "aleph/version",
            "--duration=30s",
            "--max-error-rate",
            "0.01",
            "--json",
            "--cookie",
            "user=developer",
        ])
        .unwrap();
        assert_eq!(o.url, "http://aleph/version");
        assert_eq!(o.duration, Some(Duration::from_secs(30)));
        assert_eq!(o.max_error_rate, Some(0.01));
        assert!(o.json);
        assert_eq!(
            o.headers,
            vec![("cookie".to_string(), "user=developer".to_string())]
        );
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(parse(&[]).unwrap_err().contains("URL"));
        assert!(
            parse(&["u", "--rate", "fast"])
                .unwrap_err()
                .contains("--rate")
        );
        assert!(
            parse(&["u", "--duration", "soon"])
                .unwrap_err()
                .contains("30s")
        );
        assert!(
            parse(&["u", "--max-error-rate", "5"])
                .unwrap_err()
                .contains("0.01")
        );
        assert!(
            parse(&["u", "--header", "nocolon"])
                .unwrap_err()
                .contains("Name: value")
        );
        assert!(parse(&["u", "--bogus"]).unwrap_err().contains("--bogus"));
    }

    #[test]
    fn extreme_values_are_refused_not_a_panic() {
        for args in [
            ["u", "--rate", "1e-300"],
            ["u", "--rate", "0.05"],
            ["u", "--rate", "10001"],
            ["u", "--rate", "NaN"],
            ["u", "--duration", "99999999999h"],
            ["u", "--duration", "8days"],
        ] {
            assert!(parse(&args).is_err(), "{args:?}");
        }
        assert_eq!(
            parse(&["u", "--duration", "7days"]).unwrap().duration,
            Some(MAX_DURATION)
        );
    }

    #[test]
    fn help_is_not_an_error_message() {
        let help = Options::parse(["--help".to_string()]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
        let text = help.to_string();
        for option in [
            "--rate",
            "--duration",
            "--concurrency",
            "--header",
            "--cookie",
            "--window",
            "--timeout",
            "--interval",
            "--max-error-rate",
            "--json",
        ] {
            assert!(text.contains(option), "{option} undocumented");
        }
    }
}
