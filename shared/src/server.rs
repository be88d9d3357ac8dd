//! Binding, health, graceful shutdown and the metrics listener: how every
//! service runs.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{
    App, FromRequest, Handler, HttpResponse, HttpServer, Resource, Responder, Route, web,
};
use tokio::sync::Notify;

use crate::config::ServerConfig;
use crate::metrics::{self, Metrics};
use crate::telemetry::{self, Tracing};

/// The probes' paths: served by every service before its own routes, never faulted, and logged
/// at `debug` (they come every few seconds).
pub const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// What a service's fault knobs do to one request before its route (a backend's `Faults`), set
/// as app data `web::Data<dyn InjectFaults>`. The request middleware asks it for every request
/// but the probes, so a faulted request is timed, logged, counted and traced like any other.
pub trait InjectFaults: Send + Sync + 'static {
    /// `None` (the knobs are off): straight on to the route.
    fn faults_for(&self, path: &str) -> Option<Injected>;
}

/// What happens to a faulted request: a wait first, then the route's answer or this one.
pub struct Injected {
    pub delay: Option<Duration>,
    pub answer: Option<HttpResponse>,
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error("cannot listen: {0}")]
    Bind(#[from] io::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Whether the service takes new work; `/readyz` answers from it.
#[derive(Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Starts the same graceful shutdown as SIGTERM (tests use it).
#[derive(Clone)]
pub struct Shutdown {
    readiness: Readiness,
    requested: Arc<Notify>,
}

impl Shutdown {
    pub fn trigger(&self) {
        self.readiness.0.store(false, Ordering::SeqCst);
        self.requested.notify_one();
    }
}

/// A resource that answers `GET` only; any other method gets what
/// `not_allowed("GET")` answers: a 405 with the `Allow` header (RFC 9110).
pub fn get_only<F, Args>(path: &str, handler: F, not_allowed: fn(&'static str) -> Route) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(not_allowed("GET"))
}

/// A plain-text 405 naming the methods a resource allows.
pub fn method_not_allowed(allow: &'static str) -> Route {
    web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow))
            .content_type("text/plain")
            .body("Method Not Allowed")
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body("Healthy")
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready() {
        HttpResponse::Ok().content_type("text/plain").body("Ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("Shutting down")
    }
}

/// A bound, not yet running service: its API server and its metrics server.
pub struct Application {
    address: SocketAddr,
    metrics_address: SocketAddr,
    server: Server,
    metrics_server: Server,
    shutdown: Shutdown,
    shutdown_delay: Duration,
    tracing: Tracing,
}

impl Application {
    /// Binds both ports and builds the servers. `routes` adds the service's
    /// own routes; `/healthz`, `/readyz`, metrics and tracing come with it.
    pub fn build<F>(config: &ServerConfig, tracing: Tracing, routes: F) -> io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        Self::build_with_admin(config, tracing, routes, |_| {})
    }

    /// As [`Application::build`], with `admin` adding routes to the metrics
    /// port (which no Kubernetes Service exposes: reached by port-forward).
    pub fn build_with_admin<F, A>(
        config: &ServerConfig,
        tracing: Tracing,
        routes: F,
        admin: A,
    ) -> io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
        A: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let listener = TcpListener::bind((config.bind, config.port))?;
        let metrics_listener = TcpListener::bind((config.bind, config.metrics_port))?;
        let address = listener.local_addr()?;
        let metrics_address = metrics_listener.local_addr()?;
        let readiness = Readiness(Arc::new(AtomicBool::new(true)));
        let metrics = web::Data::new(Metrics::new());
        let tracing_data = web::Data::new(tracing.clone());
        let readiness_data = web::Data::new(readiness.clone());
        // A machine name that is no header value (never a pod's) leaves the header out.
        let served_by = web::Data::new(telemetry::requests::ServedBy(
            header::HeaderValue::from_str(&config.pod_name).ok(),
        ));
        // actix counts its drain timeout in whole seconds.
        let grace = config.shutdown_grace.as_secs_f64().ceil() as u64;

        let app_metrics = metrics.clone();
        let server = HttpServer::new(move || {
            App::new()
                // This worker's own counts (the factory runs once per worker).
                .app_data(web::Data::new(app_metrics.shard()))
                .app_data(tracing_data.clone())
                .app_data(readiness_data.clone())
                .app_data(served_by.clone())
                .wrap(from_fn(telemetry::observe_requests))
                .service(get_only(PROBES[0], healthz, method_not_allowed))
                .service(get_only(PROBES[1], readyz, method_not_allowed))
                .configure(routes.clone())
        })
        .disable_signals()
        .shutdown_timeout(grace)
        .listen(listener)?
        .run();

        let metrics_server = HttpServer::new(move || {
            App::new()
                .app_data(metrics.clone())
                .route("/metrics", web::get().to(metrics::serve))
                .configure(admin.clone())
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(metrics_listener)?
        .run();

        Ok(Self {
            address,
            metrics_address,
            server,
            metrics_server,
            shutdown: Shutdown {
                readiness,
                requested: Arc::new(Notify::new()),
            },
            shutdown_delay: config.shutdown_delay,
            tracing,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_address.port()
    }

    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until SIGTERM, SIGINT or [`Shutdown::trigger`], then drains:
    /// `/readyz` turns 503, the service keeps answering for `SHUTDOWN_DELAY`
    /// (so Kubernetes stops sending it traffic; skipped on Ctrl-C), in-flight
    /// requests finish within `SHUTDOWN_GRACE`, the last spans are flushed.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let handle: ServerHandle = self.server.handle();
        let metrics_handle = self.metrics_server.handle();
        let server = tokio::spawn(self.server);
        let metrics_server = tokio::spawn(self.metrics_server);

        let delay = tokio::select! {
            _ = self.shutdown.requested.notified() => self.shutdown_delay,
            _ = terminate() => self.shutdown_delay,
            _ = tokio::signal::ctrl_c() => Duration::ZERO,
        };
        self.shutdown.readiness.0.store(false, Ordering::SeqCst);
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "shutting down: /readyz now answers 503"
        );
        tokio::time::sleep(delay).await;
        handle.stop(true).await;
        metrics_handle.stop(true).await;
        let _ = server.await;
        let _ = metrics_server.await;
        let tracing = self.tracing;
        let _ = tokio::task::spawn_blocking(move || tracing.shutdown()).await;
        tracing::info!("stopped");
        Ok(())
    }
}

#[cfg(unix)]
async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending().await
}
