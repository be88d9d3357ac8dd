//! Typed settings read from environment variables.
//!
//! Every service reads its settings through a [`Source`] so tests can hand in
//! a map instead of mutating the process environment. Defaults are the values
//! that work inside the cluster; a bad value stops the service at start with a
//! message naming the variable.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// Where settings come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct Env;

impl Source for Env {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| v.to_string())
    }
}

/// A setting that could not be used, with the variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: expected {expected}")]
pub struct ConfigError {
    pub variable: String,
    pub value: String,
    pub expected: String,
}

/// Reads `key`, parsing it with `parse`; unset or empty gives `default`.
pub fn read<T>(
    source: &dyn Source,
    key: &str,
    default: T,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ConfigError> {
    match source.get(key) {
        None => Ok(default),
        Some(raw) if raw.trim().is_empty() => Ok(default),
        Some(raw) => parse(raw.trim()).ok_or_else(|| ConfigError {
            variable: key.to_string(),
            value: raw.clone(),
            expected: expected.to_string(),
        }),
    }
}

pub fn port(source: &dyn Source, key: &str, default: u16) -> Result<u16, ConfigError> {
    read(source, key, default, "a port number (0-65535)", |s| {
        u16::from_str(s).ok()
    })
}

pub fn duration(
    source: &dyn Source,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    read(
        source,
        key,
        default,
        "a duration such as 10s, 500ms, 2m or plain seconds (10)",
        parse_duration,
    )
}

pub fn string(source: &dyn Source, key: &str, default: &str) -> String {
    source
        .get(key)
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Parses `10s`, `500ms`, `2m`, `1h` (humantime's forms, as the loader's
/// options) or plain seconds (`10`, `1.5`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds).ok(),
        Err(_) => humantime::parse_duration(text).ok(),
    }
}

/// How a service logs: human-readable text, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What every service needs to serve HTTP, report and stop.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (`BIND`, default all interfaces).
    pub bind: IpAddr,
    /// The API port (`PORT`, default 8080: unprivileged; Services map 80 to it).
    pub port: u16,
    /// Prometheus `/metrics` (`METRICS_PORT`, default 8000).
    pub metrics_port: u16,
    /// How long in-flight requests may take to finish after SIGTERM (`SHUTDOWN_GRACE`).
    pub shutdown_grace: Duration,
    /// How long to keep serving with `/readyz` at 503 after SIGTERM, so that
    /// Kubernetes takes the pod out of its endpoints first (`SHUTDOWN_DELAY`).
    pub shutdown_delay: Duration,
    /// Where spans go, if anywhere, and which are kept.
    pub traces: TraceConfig,
    /// `HOSTNAME`: the pod's name (Kubernetes sets it), sent on every answer
    /// (`answer::SERVED_BY`); the machine's name when unset.
    pub pod_name: String,
}

/// Span export: to Zipkin's API, over OTLP, both, or (neither set) nowhere.
/// The OTEL_* variables are the OpenTelemetry specification's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceConfig {
    /// `ZIPKIN_ENDPOINT`: Zipkin's JSON API, e.g. http://zipkin.istio-system:9411/api/v2/spans.
    pub zipkin_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, or `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `/v1/traces` added: OTLP over HTTP/protobuf.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`: the name spans report (default: the service's own).
    pub service_name: Option<String>,
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: TraceSampler,
}

/// Which traces are recorded (OTEL_TRACES_SAMPLER's values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TraceSampler {
    AlwaysOn,
    AlwaysOff,
    /// This share of trace ids (0 to 1).
    Ratio(f64),
    /// As the caller decided (its `sampled` flag); a trace that starts here by `root`.
    ParentBased(TraceRoot),
}

/// How a [`TraceSampler::ParentBased`] decides for a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TraceRoot {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

impl Default for TraceSampler {
    /// The specification's default: `parentbased_always_on`.
    fn default() -> Self {
        Self::ParentBased(TraceRoot::AlwaysOn)
    }
}

impl TraceConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let http_url = |s: &str| {
            (s.starts_with("http://") && s.len() > "http://".len()).then(|| Some(s.to_string()))
        };
        let zipkin_endpoint = read(
            source,
            "ZIPKIN_ENDPOINT",
            None,
            "an http:// URL such as http://zipkin.istio-system:9411/api/v2/spans",
            http_url,
        )?;
        let otlp_endpoint = match read(
            source,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            None,
            "an http:// URL such as http://jaeger-collector.istio-system:4318/v1/traces \
             (HTTP/protobuf; no TLS: the sidecar encrypts)",
            http_url,
        )? {
            Some(endpoint) => Some(endpoint),
            // The specification: the signal's path is added to the general endpoint.
            None => read(
                source,
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                None,
                "an http:// URL such as http://jaeger-collector.istio-system:4318 \
                 (HTTP/protobuf; no TLS: the sidecar encrypts)",
                http_url,
            )?
            .map(|base| format!("{}/v1/traces", base.trim_end_matches('/'))),
        };
        read(
            source,
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            (),
            "http/protobuf (the only OTLP transport built in)",
            |s| (s == "http/protobuf").then_some(()),
        )?;
        read(
            source,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            (),
            "http/protobuf (the only OTLP transport built in)",
            |s| (s == "http/protobuf").then_some(()),
        )?;
        let service_name = read(
            source,
            "OTEL_SERVICE_NAME",
            None,
            "a name of 1 to 256 visible characters",
            |s| {
                (s.len() <= 256 && s.chars().all(|c| c.is_ascii_graphic()))
                    .then(|| Some(s.to_string()))
            },
        )?;
        let ratio = read(
            source,
            "OTEL_TRACES_SAMPLER_ARG",
            1.0,
            "a ratio from 0 to 1, such as 0.25",
            |s| s.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)),
        )?;
        let sampler = read(
            source,
            "OTEL_TRACES_SAMPLER",
            TraceSampler::default(),
            "always_on, always_off, traceidratio, parentbased_always_on, \
             parentbased_always_off or parentbased_traceidratio",
            |s| {
                Some(match s {
                    "always_on" => TraceSampler::AlwaysOn,
                    "always_off" => TraceSampler::AlwaysOff,
                    "traceidratio" => TraceSampler::Ratio(ratio),
                    "parentbased_always_on" => TraceSampler::ParentBased(TraceRoot::AlwaysOn),
                    "parentbased_always_off" => TraceSampler::ParentBased(TraceRoot::AlwaysOff),
                    "parentbased_traceidratio" => {
                        TraceSampler::ParentBased(TraceRoot::Ratio(ratio))
                    }
                    _ => return None,
                })
            },
        )?;
        Ok(Self {
            zipkin_endpoint,
            otlp_endpoint,
            service_name,
            sampler,
        })
    }

    /// Whether any span leaves the service.
    pub fn exports(&self) -> bool {
        self.zipkin_endpoint.is_some() || self.otlp_endpoint.is_some()
    }
}

impl ServerConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            bind: read(
                source,
                "BIND",
                IpAddr::from([0, 0, 0, 0]),
                "an IP address such as 0.0.0.0 or 127.0.0.1",
                |s| s.parse().ok(),
            )?,
            port: port(source, "PORT", 8080)?,
            metrics_port: port(source, "METRICS_PORT", 8000)?,
            shutdown_grace: duration(source, "SHUTDOWN_GRACE", Duration::from_secs(10))?,
            shutdown_delay: duration(source, "SHUTDOWN_DELAY", Duration::from_secs(2))?,
            traces: TraceConfig::from_source(source)?,
            pod_name: read(
                source,
                "HOSTNAME",
                machine_name(),
                "1 to 64 letters, digits, dots and dashes (a pod's name)",
                |s| {
                    (s.len() <= 64
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                    .then(|| s.to_string())
                },
            )?,
        })
    }
}

/// The kernel's name for this machine (a shell's HOSTNAME), or `local`.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().chars().take(64).collect::<String>())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "local".into())
}

/// `LOG_FORMAT`: `text` (default) or `json`.
pub fn log_format(source: &dyn Source) -> Result<LogFormat, ConfigError> {
    read(
        source,
        "LOG_FORMAT",
        LogFormat::Text,
        "text or json",
        |s| match s.to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn durations_accept_seconds_milliseconds_and_plain_numbers() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn defaults_work_in_the_cluster() {
        let config = ServerConfig::from_source(&source(&[])).unwrap();
        assert_eq!(config.port, 8080);
        assert_eq!(config.metrics_port, 8000);
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.traces, TraceConfig::default());
        assert!(!config.traces.exports());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let error = ServerConfig::from_source(&source(&[("PORT", "eighty")])).unwrap_err();
        assert_eq!(error.variable, "PORT");
        assert!(error.to_string().contains("PORT=\"eighty\""), "{error}");
        let error = ServerConfig::from_source(&source(&[("SHUTDOWN_GRACE", "soon")])).unwrap_err();
        assert_eq!(error.variable, "SHUTDOWN_GRACE");
        let error =
            ServerConfig::from_source(&source(&[("ZIPKIN_ENDPOINT", "zipkin:9411")])).unwrap_err();
        assert_eq!(error.variable, "ZIPKIN_ENDPOINT");
        for (variable, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://jaeger:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_SERVICE_NAME", "two words"),
        ] {
            let error = TraceConfig::from_source(&source(&[(variable, value)])).unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }

    #[test]
    fn otlp_endpoints_as_the_specification_reads_them() {
        let read = |pairs| TraceConfig::from_source(&source(pairs)).unwrap();
        let general = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318/")]);
        assert_eq!(
            general.otlp_endpoint.as_deref(),
            Some("http://jaeger:4318/v1/traces")
        );
        assert!(general.exports());
        // The signal's own variable is taken as it is, and wins.
        let both = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4318/spans",
            ),
        ]);
        assert_eq!(
            both.otlp_endpoint.as_deref(),
            Some("http://collector:4318/spans")
        );
        let sampled = read(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_SERVICE_NAME", "aleph-canary"),
        ]);
        assert_eq!(
            sampled.sampler,
            TraceSampler::ParentBased(TraceRoot::Ratio(0.25))
        );
        assert_eq!(sampled.service_name.as_deref(), Some("aleph-canary"));
    }
}
