//! `loader serve`: the load generator of an automated canary. Flagger calls it as a webhook
//! during each analysis step (`POST /` with `{"name", "namespace", "phase", "metadata"}`), and
//! it runs the load the metadata asks for, in the background, so that the canary has traffic
//! to be judged on. Unlike Flagger's own `flagger-loadtester` it never runs a command: the
//! metadata names a URL (one of the allow-list given at start), a rate and a duration, each
//! bounded, and one run at a time per URL.
//!
//! ```text
//! loader serve --allow http://aleph-canary.staging/version [--listen 0.0.0.0:8080]
//!              [--max-rate 100] [--max-duration 1m]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use clap::Parser;
use serde::Deserialize;

use crate::Options;

/// A webhook's body, at most (Flagger's are a few hundred bytes).
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Metadata keys a webhook may set, and nothing else (Flagger's loadtester took `cmd`).
const METADATA_KEYS: [&str; 3] = ["url", "rate", "duration"];

/// `loader serve`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "loader serve",
    override_usage = "loader serve --allow URL [options]"
)]
pub struct ServeOptions {
    /// A URL a webhook may ask to load (repeatable, or comma-separated); nothing else is called
    #[arg(long = "allow", required = true, value_delimiter = ',', value_parser = crate::options::url)]
    allow: Vec<String>,
    /// Where to listen
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The highest rate a webhook may ask for (requests per second)
    #[arg(long, default_value = "100", value_parser = crate::options::rate)]
    max_rate: f64,
    /// The longest run a webhook may ask for
    #[arg(long, default_value = "1m", value_parser = crate::options::run_time)]
    max_duration: Duration,
}

impl ServeOptions {
    /// Parses the arguments after `serve`.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, clap::Error> {
        Self::try_parse_from(std::iter::once("loader serve".to_string()).chain(args))
    }
}

/// Flagger's webhook payload (CanaryWebhookPayload).
#[derive(Debug, Deserialize)]
struct Webhook {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Why a webhook's run did not start.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("unreadable webhook body: {0}")]
    Body(#[from] serde_json::Error),
    #[error("metadata key {0:?} is not one of url, rate, duration (no commands are run)")]
    Key(String),
    #[error("metadata.url is missing: one of {0:?}")]
    NoUrl(Vec<String>),
    #[error("{0} is not in the allow-list given at start: {1:?}")]
    NotAllowed(String, Vec<String>),
    #[error("{0}")]
    Bad(String),
    #[error("a run against {0} is going on: one at a time per URL")]
    Busy(String),
}

impl ResponseError for Refused {
    fn status_code(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            Refused::NotAllowed(..) => StatusCode::FORBIDDEN,
            Refused::Busy(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The allow-list and limits, and the runs going on.
pub struct State {
    options: ServeOptions,
    /// URLs being loaded now.
    running: Mutex<BTreeSet<String>>,
}

/// The run a webhook asks for, checked against the limits given at start.
fn requested(state: &State, webhook: &Webhook) -> Result<Options, Refused> {
    if let Some(key) = webhook
        .metadata
        .keys()
        .find(|k| !METADATA_KEYS.contains(&k.as_str()))
    {
        return Err(Refused::Key(key.clone()));
    }
    let allow = &state.options.allow;
    let url = webhook
        .metadata
        .get("url")
        .ok_or_else(|| Refused::NoUrl(allow.clone()))?;
    if !allow.contains(url) {
        return Err(Refused::NotAllowed(url.clone(), allow.clone()));
    }
    let rate = webhook.metadata.get("rate").map_or("10", String::as_str);
    let duration = webhook
        .metadata
        .get("duration")
        .map_or("30s", String::as_str);
    // The command line's own checks, then the server's limits.
    let options =
        Options::parse([url, "--rate", rate, "--duration", duration].map(String::from))
            .map_err(|e| Refused::Bad(e.kind().to_string() + ": " + &first_line(&e.to_string())))?;
    if options.rate > state.options.max_rate {
        return Err(Refused::Bad(format!(
            "rate {rate} is above --max-rate {}",
            state.options.max_rate
        )));
    }
    if options
        .duration
        .is_none_or(|d| d > state.options.max_duration)
    {
        return Err(Refused::Bad(format!(
            "duration {duration} is above --max-duration {}",
            humantime::format_duration(state.options.max_duration)
        )));
    }
    Ok(options)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

/// `POST /`: starts the run (202), or says why not (4xx).
async fn webhook(body: web::Bytes, state: web::Data<State>) -> Result<HttpResponse, Refused> {
    let webhook: Webhook = serde_json::from_slice(&body)?;
    let options = requested(&state, &webhook)?;
    let url = options.url.clone();
    if !state
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(url.clone())
    {
        return Err(Refused::Busy(url));
    }
    println!(
        "{}/{} {}: {} at {}/s for {}",
        webhook.namespace,
        webhook.name,
        webhook.phase,
        url,
        options.rate,
        options
            .duration
            .map_or("?".into(), |d| humantime::format_duration(d).to_string())
    );
    let answer = serde_json::json!({
        "url": url,
        "rate": options.rate,
        "seconds": options.duration.map_or(0.0, |d| d.as_secs_f64()),
    });
    let state = state.into_inner();
    tokio::spawn(async move {
        let report = crate::run(options, std::io::sink()).await;
        println!(
            "{url}: {} requests, success {:.1}%",
            report.total.requests,
            report.total.success_rate * 100.0
        );
        state
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&url);
    });
    Ok(HttpResponse::Accepted().json(answer))
}

/// Serves until SIGINT or SIGTERM (actix-web's own handling).
pub async fn serve(options: ServeOptions) -> std::io::Result<()> {
    let listen = options.listen;
    println!(
        "loader serve on {listen}: allowed {:?}, at most {}/s for {}",
        options.allow,
        options.max_rate,
        humantime::format_duration(options.max_duration)
    );
    server(state(options), std::net::TcpListener::bind(listen)?)?.await
}

/// The server on `listener` (port 0 in tests).
pub fn server(
    state: web::Data<State>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route("/", web::post().to(webhook))
            .route("/healthz", web::get().to(HttpResponse::Ok))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

/// The state a server runs with.
pub fn state(options: ServeOptions) -> web::Data<State> {
    web::Data::new(State {
        options,
        running: Mutex::new(BTreeSet::new()),
    })
}
