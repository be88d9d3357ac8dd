//! What aleph and beth share: their common routes, the Eve-compatible device
//! API on MongoDB, and the app both build. Each service brings its identity
//! and its own `/version` handler (where its lessons live).
//!
//! - [`common`]: `/name`, `/ping`, `/headers`;
//! - [`devices`]: the `device` resource and its OpenAPI document;
//! - [`faults`]: the fault knobs (`FAULT_*`, `GET`/`PUT /faults`);
//! - [`config`]: a backend's settings.

pub mod common;
pub mod config;
pub mod devices;
pub mod faults;

use std::sync::Arc;

use actix_web::web;
use shared::server::{Application, InjectFaults};
use shared::telemetry::Tracing;

pub use common::plain;
pub use config::Config;
pub use shared::server::StartError;

use common::PingCountdown;
use devices::openapi::{self, ApiDocs};
use devices::{Store, routes as device};
use faults::Faults;

/// `GET path` only; other methods get Eve's JSON 405 with `Allow: GET`.
pub fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    shared::server::get_only(path, handler, device::method_not_allowed)
}

/// Who a backend is.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// Short name: logs, metrics, the Zipkin service name (`aleph`).
    pub name: &'static str,
    /// What `/name` answers (`Otomato Aleph Service`).
    pub title: &'static str,
    /// What `/api-docs` says; the service's own `/version` answers for itself.
    pub version: &'static str,
}

/// Builds a backend: every route of it is listed here; `own_routes` adds the
/// service's own (`/version`). The fault knobs apply to all of them, not to
/// `/healthz` and `/readyz` (which `Application` serves before these): shared's
/// request middleware applies them (`InjectFaults`).
///
/// `own_routes` is a plain function, not a generic closure: the whole app is
/// then compiled once, here, and a change to aleph or beth recompiles only
/// their few lines (a learner's image rebuild is quicker for it).
pub fn build(
    identity: Identity,
    config: &Config,
    own_routes: fn(&mut web::ServiceConfig),
) -> Result<Application, StartError> {
    let tracing = Tracing::for_service(identity.name, &config.server.traces)?;
    let (routes, admin) = routes(identity, config, own_routes);
    let app = Application::build_with_admin(&config.server, tracing, routes, admin)?;
    tracing::info!(
        service = identity.name,
        address = %app.address(),
        metrics_port = app.metrics_port(),
        mongodb = %config.mongodb_uri,
        database = config.mongo_dbname.as_deref().unwrap_or(identity.name),
        "listening"
    );
    Ok(app)
}

/// A backend's route table and its admin port's (`/faults`), to mount: `build`
/// serves them on their ports; handler tests mount them in-process
/// (`actix_web::test::init_service`), with no port and no MongoDB until a
/// device route is called.
pub fn routes(
    identity: Identity,
    config: &Config,
    own_routes: fn(&mut web::ServiceConfig),
) -> (
    impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) {
    let database = config.mongo_dbname.as_deref().unwrap_or(identity.name);
    let store = web::Data::new(Store::new(&config.mongodb_uri, database));
    let countdown = web::Data::new(PingCountdown::default());
    let docs = web::Data::new(ApiDocs::new(identity.title, identity.version));
    let identity_data = web::Data::new(identity);
    let faults = Arc::new(Faults::new(config.faults));
    let admin_faults = web::Data::from(faults.clone());
    let faults: web::Data<dyn InjectFaults> = web::Data::from(faults as Arc<dyn InjectFaults>);
    let routes = move |routes: &mut web::ServiceConfig| {
        routes
            .app_data(store.clone())
            .app_data(countdown.clone())
            .app_data(docs.clone())
            .app_data(identity_data.clone())
            .app_data(faults.clone());
        routes
            // First: the labs call `/version` most, and actix tries routes in order.
            .configure(own_routes)
            .service(web::resource("/version").default_service(device::method_not_allowed("GET")))
            .service(get("/name", common::name))
            .service(get("/ping", common::ping))
            .service(get("/headers", common::headers))
            .service(get("/api-docs", openapi::serve))
            .service(get("/", device::home))
            .service(
                web::resource("/device")
                    .route(web::get().to(device::list))
                    .route(web::post().to(device::create))
                    .route(web::delete().to(device::delete_all))
                    .default_service(device::method_not_allowed("GET, POST, DELETE")),
            )
            .service(
                web::resource("/device/{id}")
                    .route(web::get().to(device::get))
                    .route(web::patch().to(device::patch))
                    .route(web::delete().to(device::delete))
                    .default_service(device::method_not_allowed("GET, PATCH, DELETE")),
            )
            // Any other path: Eve's JSON 404.
            .default_service(web::to(device::not_found));
    };
    let admin = move |admin: &mut web::ServiceConfig| {
        admin
            .app_data(admin_faults.clone())
            .route("/faults", web::get().to(faults::show))
            .route("/faults", web::put().to(faults::change));
    };
    (routes, admin)
}

/// A backend's `main`: config from the environment, then `build`.
pub async fn main(
    name: &str,
    build: fn(&Config) -> Result<Application, StartError>,
) -> std::process::ExitCode {
    shared::cli::run(name, |env| {
        let config = Config::from_source(env).map_err(|e| e.to_string())?;
        build(&config).map_err(|e| e.to_string())
    })
    .await
}
