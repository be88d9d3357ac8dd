//! Fault knobs: make a backend fail or slow down on demand, for the
//! resilience lab (the Gateway API has no fault injection of its own).
//!
//! Set at start from `FAULT_ERROR_RATE`, `FAULT_ERROR_STATUS`, `FAULT_DELAY`
//! and `FAULT_DELAY_RATE`; read and changed while running, per pod, with
//! `GET`/`PUT /faults` on the metrics (admin) port, which no Service exposes.
//! They apply to every route but `/healthz` and `/readyz`. The deliberate bugs
//! stay in plain code: these knobs are not how aleph or beth break.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;
use serde_json::{Map, Value};
use shared::config::{self, ConfigError, Source};
use shared::server::{InjectFaults, Injected};

/// The longest delay a knob takes: longer than any timeout the labs set.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// What the knobs are set to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSettings {
    /// The share of requests answered with `error_status`, 0 to 1.
    pub error_rate: f64,
    /// The status of an injected error, 400 to 599.
    pub error_status: u16,
    /// How long a delayed request waits first; `None`: no delay.
    pub delay: Option<Duration>,
    /// The share of requests delayed, 0 to 1.
    pub delay_rate: f64,
}

impl FaultSettings {
    fn is_on(&self) -> bool {
        self.error_rate > 0.0 || (self.delay.is_some() && self.delay_rate > 0.0)
    }
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            error_status: 503,
            delay: None,
            delay_rate: 1.0,
        }
    }
}

// One rule per knob, for the environment and for `PUT /faults` alike.
const RATE_RULE: &str = "a share from 0 to 1, e.g. 0.5";
const STATUS_RULE: &str = "an HTTP status from 400 to 599, e.g. 503";
const DELAY_RULE: &str = "a duration up to 60s such as 300ms or 2s (0 for none)";

fn rate(value: f64) -> Option<f64> {
    (0.0..=1.0).contains(&value).then_some(value)
}

fn status(value: u64) -> Option<u16> {
    (400..=599)
        .contains(&value)
        .then(|| u16::try_from(value).ok())
        .flatten()
}

fn delay(text: &str) -> Option<Option<Duration>> {
    let delay = config::parse_duration(text).filter(|d| *d <= MAX_DELAY)?;
    Some((!delay.is_zero()).then_some(delay))
}

impl FaultSettings {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            error_rate: config::read(
                source,
                "FAULT_ERROR_RATE",
                default.error_rate,
                RATE_RULE,
                |s| s.parse().ok().and_then(rate),
            )?,
            error_status: config::read(
                source,
                "FAULT_ERROR_STATUS",
                default.error_status,
                STATUS_RULE,
                |s| s.parse().ok().and_then(status),
            )?,
            delay: config::read(source, "FAULT_DELAY", default.delay, DELAY_RULE, delay)?,
            delay_rate: config::read(
                source,
                "FAULT_DELAY_RATE",
                default.delay_rate,
                RATE_RULE,
                |s| s.parse().ok().and_then(rate),
            )?,
        })
    }

    /// These settings with the fields of a `PUT /faults` body changed; the
    /// first bad field refuses the whole change.
    fn changed_by(mut self, body: &Map<String, Value>) -> Result<Self, FaultError> {
        for (field, value) in body {
            let bad = || FaultError::BadField {
                field: field.clone(),
                rule: match field.as_str() {
                    "error_status" => STATUS_RULE,
                    "delay" => DELAY_RULE,
                    _ => RATE_RULE,
                },
            };
            match field.as_str() {
                "error_rate" => self.error_rate = value.as_f64().and_then(rate).ok_or_else(bad)?,
                "delay_rate" => self.delay_rate = value.as_f64().and_then(rate).ok_or_else(bad)?,
                "error_status" => {
                    self.error_status = value.as_u64().and_then(status).ok_or_else(bad)?
                }
                "delay" => {
                    self.delay = match value {
                        Value::Null => None,
                        Value::String(text) => delay(text).ok_or_else(bad)?,
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(FaultError::UnknownField(field.clone())),
            }
        }
        Ok(self)
    }
}

/// The knobs of one running backend, shared by its workers and its admin port.
#[derive(Debug, Default)]
pub struct Faults {
    settings: RwLock<FaultSettings>,
    /// Whether any knob is on: what every request reads, without taking the lock (a read lock
    /// writes its counter, which the workers' cores would pass to each other on every request).
    on: AtomicBool,
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        Self {
            on: AtomicBool::new(settings.is_on()),
            settings: RwLock::new(settings),
        }
    }

    pub fn settings(&self) -> FaultSettings {
        *self
            .settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The knobs, or `None` when all are off.
    fn active(&self) -> Option<FaultSettings> {
        self.on.load(Ordering::Acquire).then(|| self.settings())
    }

    fn set(&self, settings: FaultSettings) {
        *self
            .settings
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
        self.on.store(settings.is_on(), Ordering::Release);
    }
}

/// Why a `PUT /faults` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("the body is larger than {limit} bytes", limit = MAX_BODY)]
    TooLarge,
    #[error("the body must be a JSON object such as {{\"error_rate\": 0.5}}: {0}")]
    NotAnObject(String),
    #[error("`{field}` must be {rule}; nothing was changed")]
    BadField { field: String, rule: &'static str },
    #[error(
        "unknown field `{0}`: the knobs are error_rate, error_status, delay and delay_rate; nothing was changed"
    )]
    UnknownField(String),
}

impl ResponseError for FaultError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest().json(serde_json::json!({"error": self.to_string()}))
    }
}

/// The knobs as `GET /faults` shows them.
#[derive(Serialize)]
struct FaultsOut {
    error_rate: f64,
    error_status: u16,
    /// `300ms`, or null for none.
    delay: Option<String>,
    delay_rate: f64,
}

impl From<FaultSettings> for FaultsOut {
    fn from(settings: FaultSettings) -> Self {
        Self {
            error_rate: settings.error_rate,
            error_status: settings.error_status,
            delay: settings.delay.map(|d| format!("{}ms", d.as_millis())),
            delay_rate: settings.delay_rate,
        }
    }
}

/// `GET /faults` (admin port).
pub async fn show(faults: web::Data<Faults>) -> HttpResponse {
    HttpResponse::Ok().json(FaultsOut::from(faults.settings()))
}

/// The largest `PUT /faults` body: four small fields.
const MAX_BODY: usize = 1024;

/// `PUT /faults` (admin port): changes only the fields given.
pub async fn change(
    faults: web::Data<Faults>,
    body: web::Bytes,
) -> Result<HttpResponse, FaultError> {
    if body.len() > MAX_BODY {
        return Err(FaultError::TooLarge);
    }
    let fields = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => return Err(FaultError::NotAnObject(format!("got {other}"))),
        Err(error) => return Err(FaultError::NotAnObject(error.to_string())),
    };
    let settings = faults.settings().changed_by(&fields)?;
    faults.set(settings);
    tracing::info!(?settings, "fault knobs changed");
    Ok(HttpResponse::Ok().json(FaultsOut::from(settings)))
}

/// The knobs at work: the request middleware (shared's) delays and fails requests as they say.
impl InjectFaults for Faults {
    fn faults_for(&self, path: &str) -> Option<Injected> {
        let settings = self.active()?;
        let delay = settings.delay.filter(|_| happens(settings.delay_rate));
        if let Some(delay) = delay {
            tracing::debug!(path, ?delay, "injected delay");
        }
        let answer = happens(settings.error_rate).then(|| {
            tracing::debug!(path, status = settings.error_status, "injected error");
            let status = StatusCode::from_u16(settings.error_status)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "fault injected by FAULT_ERROR_RATE: HTTP {}\n",
                    status.as_u16()
                ))
        });
        Some(Injected { delay, answer })
    }
}

/// True for this share of calls.
fn happens(share: f64) -> bool {
    share > 0.0 && rand::random::<f64>() < share
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_environment_sets_the_knobs_and_bad_values_name_their_variable() {
        let settings = FaultSettings::from_source(&env(&[
            ("FAULT_ERROR_RATE", "0.5"),
            ("FAULT_DELAY", "300ms"),
        ]))
        .unwrap();
        assert_eq!(settings.error_rate, 0.5);
        assert_eq!(settings.error_status, 503);
        assert_eq!(settings.delay, Some(Duration::from_millis(300)));
        assert_eq!(settings.delay_rate, 1.0);
        for (variable, value) in [
            ("FAULT_ERROR_RATE", "2"),
            ("FAULT_ERROR_STATUS", "200"),
            ("FAULT_DELAY", "2h"),
            ("FAULT_DELAY_RATE", "-0.1"),
        ] {
            let error = FaultSettings::from_source(&env(&[(variable, value)])).unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }

    #[test]
    fn a_change_takes_only_its_fields_or_nothing() {
        let base = FaultSettings::default();
        let changed = base
            .changed_by(
                json!({"delay": "2s", "error_status": 500})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(changed.delay, Some(Duration::from_secs(2)));
        assert_eq!(changed.error_status, 500);
        assert_eq!(changed.error_rate, 0.0);
        for bad in [
            json!({"error_rate": 0.5, "delay_rate": 3}),
            json!({"error_status": "503"}),
            json!({"delay": 5}),
            json!({"wieght": 1}),
        ] {
            assert!(base.changed_by(bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }
}
