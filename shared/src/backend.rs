//! The common backend app: everything aleph and beth share. Each service
//! brings its identity and its own `/version` handler (where its lessons live).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::{self, ConfigError, ServerConfig, Source};
use crate::devices::{self, Store};
use crate::server::Application;
use crate::telemetry::Tracing;

/// Who a backend is.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// Short name: logs, metrics, the Zipkin service name (`aleph`).
    pub name: &'static str,
    /// What `/name` answers (`Otomato Aleph Service`).
    pub title: &'static str,
}

/// A backend's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `MONGODB_URI`: where the `device` collection lives.
    pub mongodb_uri: String,
    /// `MONGO_DBNAME`: the database; by default the service's name, so aleph
    /// and beth (and every version of one service) keep their own data.
    pub mongo_dbname: Option<String>,
}

impl Config {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            server: ServerConfig::from_source(source)?,
            mongodb_uri: config::read(
                source,
                "MONGODB_URI",
                "mongodb://mongo:27017".to_string(),
                "a mongodb:// URI such as mongodb://mongo:27017",
                |s| {
                    mongodb::options::ConnectionString::parse(s)
                        .is_ok()
                        .then(|| s.to_string())
                },
            )?,
            mongo_dbname: config::read(
                source,
                "MONGO_DBNAME",
                None,
                "a database name: letters, digits, '_' or '-', at most 63",
                |s| {
                    let valid = s.len() <= 63
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    valid.then(|| Some(s.to_string()))
                },
            )?,
        })
    }

    /// Loopback, ports chosen by the system, MongoDB at `mongodb_uri`.
    pub fn for_tests(mongodb_uri: &str, database: &str) -> Self {
        Self {
            server: ServerConfig::for_tests(),
            mongodb_uri: mongodb_uri.to_string(),
            mongo_dbname: Some(database.to_string()),
        }
    }
}

pub use crate::server::StartError;

/// `/ping`'s countdown, as the original had it: the first call waits 5 s and
/// answers `Pong 4`, each later call one second less, down to `Pong 0`.
#[derive(Default)]
struct PingCountdown(AtomicU64);

impl PingCountdown {
    const START: u64 = 5;

    /// How long this call waits, and the number it answers.
    fn next(&self) -> (Duration, u64) {
        let call = self.0.fetch_add(1, Ordering::SeqCst);
        let wait = Self::START.saturating_sub(call);
        (Duration::from_secs(wait), wait.saturating_sub(1))
    }
}

async fn ping(countdown: web::Data<PingCountdown>) -> HttpResponse {
    let (wait, pong) = countdown.next();
    tokio::time::sleep(wait).await;
    plain(format!("Pong {pong}"))
}

/// Every request header, as received (to watch propagation arrive).
async fn headers(request: HttpRequest) -> HttpResponse {
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        all.entry(name.to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let joined: BTreeMap<String, String> =
        all.into_iter().map(|(k, v)| (k, v.join(", "))).collect();
    HttpResponse::Ok().json(joined)
}

/// A plain-text answer, as the original's endpoints gave.
pub fn plain(body: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body.into())
}

/// Builds a backend: the shared routes plus the service's own (`/version`).
/// `version` is what `/api-docs` says; the service's `/version` is its own.
pub fn build<F>(
    identity: Identity,
    version: &'static str,
    config: &Config,
    own_routes: F,
) -> Result<Application, StartError>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let tracing = Tracing::for_service(identity.name, config.server.zipkin_endpoint.as_deref())?;
    let countdown = web::Data::new(PingCountdown::default());
    let database = config.mongo_dbname.as_deref().unwrap_or(identity.name);
    let store = Store::new(&config.mongodb_uri, database);
    let app = Application::build(&config.server, tracing, move |cfg| {
        devices::configure(cfg, store.clone());
        devices::openapi::configure(cfg, identity.title, version);
        cfg.app_data(countdown.clone())
            .route(
                "/name",
                web::get().to(move || async move { plain(identity.title) }),
            )
            .route("/ping", web::get().to(ping))
            .route("/headers", web::get().to(headers));
        own_routes(cfg);
    })?;
    tracing::info!(
        service = identity.name,
        address = %app.address(),
        metrics_port = app.metrics_port(),
        mongodb = %config.mongodb_uri,
        database,
        "listening"
    );
    Ok(app)
}

/// A backend's `main`: config from the environment, then `build`.
pub async fn main(
    name: &str,
    build: fn(&Config) -> Result<Application, StartError>,
) -> std::process::ExitCode {
    crate::cli::run(name, |env| {
        let config = Config::from_source(env).map_err(|e| e.to_string())?;
        build(&config).map_err(|e| e.to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_counts_down_from_five_seconds_to_zero() {
        let countdown = PingCountdown::default();
        let calls: Vec<_> = (0..7).map(|_| countdown.next()).collect();
        let seconds: Vec<_> = calls.iter().map(|(d, n)| (d.as_secs(), *n)).collect();
        assert_eq!(
            seconds,
            [(5, 4), (4, 3), (3, 2), (2, 1), (1, 0), (0, 0), (0, 0)]
        );
    }
}
