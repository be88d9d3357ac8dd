//! front: the page learners open. It asks every backend for its title and
//! version at once and shows what each answered; sign-in sets the `user`
//! cookie that Istio routes on.

pub mod backends;
pub mod errors;
pub mod pages;
pub mod signin;
mod traffic;

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use shared::config::{self, ConfigError, ServerConfig, Source};
use shared::outgoing::Outgoing;
use shared::server::Application;
use shared::telemetry::Tracing;

use crate::backends::{Answer, BackendAddr};
use crate::errors::FrontError;
use crate::pages::{BackendView, IndexPage};

/// front's own version (`GET /version`).
pub const VERSION: &str = "0.1";

const STYLE: &str = include_str!("../static/style.css");

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `BACKENDS`: the services to show, `host[:port]`, comma-separated.
    pub backends: Vec<BackendAddr>,
    /// `BACKEND_TIMEOUT`: how long one backend may take for both its calls.
    pub backend_timeout: Duration,
    /// `TRAFFIC_RATE`: calls per second the live traffic view makes per viewer.
    pub traffic_rate: u32,
    /// `TRAFFIC_VIEWERS`: how many live traffic views may stream at once.
    pub traffic_viewers: usize,
}

impl Config {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            server: ServerConfig::from_source(source)?,
            backends: config::read(
                source,
                "BACKENDS",
                BackendAddr::parse_list("aleph,beth").unwrap_or_default(),
                "a comma-separated list of host[:port], such as aleph,beth or 127.0.0.1:8081",
                BackendAddr::parse_list,
            )?,
            backend_timeout: config::duration(source, "BACKEND_TIMEOUT", Duration::from_secs(10))?,
            traffic_rate: config::read(
                source,
                "TRAFFIC_RATE",
                5,
                "calls per second, 1 to 20",
                |s| s.parse().ok().filter(|r| (1..=20).contains(r)),
            )?,
            traffic_viewers: config::read(
                source,
                "TRAFFIC_VIEWERS",
                20,
                "a number of viewers, 1 to 200",
                |s| s.parse().ok().filter(|v| (1..=200).contains(v)),
            )?,
        })
    }
}

pub use shared::server::StartError;

pub(crate) struct State {
    pub(crate) client: reqwest::Client,
    pub(crate) backends: Vec<BackendAddr>,
    pub(crate) timeout: Duration,
}

async fn index(
    request: HttpRequest,
    outgoing: Outgoing,
    state: web::Data<State>,
) -> Result<HttpResponse, FrontError> {
    let answers = backends::ask_all(&state.client, &outgoing, &state.backends, state.timeout).await;
    let backends = state
        .backends
        .iter()
        .zip(answers)
        .map(|(address, answer)| {
            let problem = answer.problem();
            let (title, version) = match answer {
                Answer::Ready { title, version } => (Some(title), Some(version)),
                _ => (None, None),
            };
            BackendView {
                address: address.to_string(),
                title,
                version,
                problem,
            }
        })
        .collect();
    let page = IndexPage {
        user: outgoing.propagated().user().map(|u| u.to_string()),
        here: signin::local_path(Some(request.path())).to_string(),
        backends,
        version: VERSION,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(page.render()?))
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=300"))
        .body(STYLE)
}

const TRAFFIC_SCRIPT: &str = include_str!("../static/traffic.js");

async fn traffic_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=300"))
        .body(TRAFFIC_SCRIPT)
}

async fn version() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(VERSION)
}

pub fn build(config: &Config) -> Result<Application, StartError> {
    let tracing = Tracing::for_service("front", config.server.zipkin_endpoint.as_deref())?;
    let client = reqwest::Client::builder()
        .connect_timeout(config.backend_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    let state = web::Data::new(State {
        client,
        backends: config.backends.clone(),
        timeout: config.backend_timeout,
    });
    let traffic = web::Data::new(traffic::Traffic::new(
        config.traffic_rate,
        config.traffic_viewers,
    ));
    let app = Application::build(&config.server, tracing, move |routes| {
        routes
            .app_data(state.clone())
            .app_data(traffic.clone())
            .app_data(
                web::FormConfig::default()
                    .limit(16 * 1024)
                    .error_handler(|error, _| FrontError::BadForm(error.to_string()).into()),
            )
            .route("/", web::get().to(index))
            .route("/backends", web::get().to(index))
            .route("/login", web::post().to(signin::sign_in))
            .route("/logout", web::get().to(signin::sign_out))
            .route("/logout", web::post().to(signin::sign_out))
            .route("/version", web::get().to(version))
            .route("/traffic", web::get().to(traffic::page))
            .route("/traffic/stream", web::get().to(traffic::stream))
            .route("/static/style.css", web::get().to(style))
            .route("/static/traffic.js", web::get().to(traffic_script));
    })?;
    tracing::info!(address = %app.address(), backends = ?config.backends, "front listening");
    Ok(app)
}
