//! The command line: `loader URL [--rate 20] [--duration 30s] ...`.

use std::time::Duration;

use shared::config::parse_duration;

pub const USAGE: &str = "\
usage: loader URL [options]

Calls URL at a steady rate and shows, over the last window and in total, the
share of each distinct answer (e.g. the versions), the status codes, the
success rate and latency p50/p90/p99.

  --rate N             requests per second (default 10)
  --duration D         stop after D (e.g. 30s, 2m); default: until Ctrl-C
  --concurrency N      requests in flight at most (default: enough to keep the
                       rate while answers take up to --timeout, e.g. 100 for
                       20/s and 5s, so a slow beth does not slow the loader)
  --header 'K: V'      add a header (repeatable)
  --cookie 'k=v'       send a cookie, e.g. --cookie user=developer
  --window D           the recent window shown beside the total (default 10s)
  --timeout D          per request (default 5s)
  --interval D         how often to refresh the display (default 1s)
  --max-error-rate F   exit 1 if more than this share failed (0.01 = 1%)
  --json               print the summary as one JSON object on the last line

Examples:
  loader http://beth/version --rate 20
  loader http://aleph/version --duration 30s --max-error-rate 0.01
  loader http://beth/version --cookie user=developer --duration 10s --json";

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
    /// Parses the arguments after the program name.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut options = Options {
            url: String::new(),
            rate: 10.0,
            duration: None,
            concurrency: 0,
            headers: Vec::new(),
            window: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            max_error_rate: None,
            json: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if arg.starts_with("--") => {
                    (flag.to_string(), Some(value.to_string()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            let duration = |text: String, flag: &str| {
                parse_duration(&text)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        format!("{flag} {text:?}: write a duration such as 30s, 500ms or 2m")
                    })
            };
            match flag.as_str() {
                "--rate" => {
                    let text = value()?;
                    options.rate = text
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite() && *r > 0.0 && *r <= 10_000.0)
                        .ok_or_else(|| format!("--rate {text:?}: a number of requests per second, above 0 and at most 10000"))?;
                }
                "--duration" => options.duration = Some(duration(value()?, "--duration")?),
                "--window" => options.window = duration(value()?, "--window")?,
                "--timeout" => options.timeout = duration(value()?, "--timeout")?,
                "--interval" => options.interval = duration(value()?, "--interval")?,
                "--concurrency" => {
                    let text = value()?;
                    options.concurrency = text
                        .parse::<usize>()
                        .ok()
                        .filter(|c| (1..=1000).contains(c))
                        .ok_or_else(|| {
                            format!("--concurrency {text:?}: a whole number from 1 to 1000")
                        })?;
                }
                "--header" | "-H" => {
                    let text = value()?;
                    let (name, value) = text
                        .split_once(':')
                        .filter(|(n, _)| !n.trim().is_empty())
                        .ok_or_else(|| format!("--header {text:?}: write it as 'Name: value'"))?;
                    options
                        .headers
                        .push((name.trim().to_string(), value.trim().to_string()));
                }
                "--cookie" => options.headers.push(("cookie".into(), value()?)),
                "--max-error-rate" => {
                    let text = value()?;
                    options.max_error_rate = Some(
                        text.parse::<f64>()
                            .ok()
                            .filter(|r| (0.0..=1.0).contains(r))
                            .ok_or_else(|| format!("--max-error-rate {text:?}: a share from 0 to 1, e.g. 0.01 for 1%"))?,
                    );
                }
                "--json" => options.json = true,
                "--help" | "-h" => return Err(String::new()),
                _ if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
                _ if options.url.is_empty() => options.url = arg,
                _ => return Err(format!("one URL only (got {:?} and {arg:?})", options.url)),
            }
        }
        if options.url.is_empty() {
            return Err("which URL? e.g. loader http://beth/version".into());
        }
        if options.concurrency == 0 {
            let needed = (options.rate * options.timeout.as_secs_f64()).ceil() as usize;
            options.concurrency = needed.clamp(4, 1000);
        }
        if !(options.url.starts_with("http://") || options.url.starts_with("https://")) {
            // `loader beth/version` means what a learner thinks it means.
            options.url = format!("http://{}", options.url);
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
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
}
