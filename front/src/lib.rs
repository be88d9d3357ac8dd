//! front: the page learners open. It asks every backend for its title and
//! version at once and shows what each answered; sign-in sets the `user`
//! cookie that Istio routes on.
//!
//! - [`config`]: settings; [`index`]: the page; [`backends`]: calling them;
//! - [`signin`]: the `user` cookie; `traffic`: the live traffic view;
//! - [`pages`]: the templates; `assets`: stylesheet and script.

mod assets;
pub mod backends;
pub mod config;
pub mod errors;
mod index;
pub mod pages;
pub mod signin;
mod traffic;

use std::time::Duration;

use actix_web::{HttpResponse, web};
use shared::server::Application;
use shared::telemetry::Tracing;

pub use config::Config;
pub use shared::server::StartError;

use crate::backends::BackendAddr;
use crate::errors::FrontError;

/// front's own version (`GET /version`).
pub const VERSION: &str = "0.1";

pub(crate) struct State {
    pub(crate) client: reqwest::Client,
    pub(crate) backends: Vec<BackendAddr>,
    pub(crate) timeout: Duration,
}

async fn version() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(VERSION)
}

pub fn build(config: &Config) -> Result<Application, StartError> {
    let tracing = Tracing::for_service("front", config.server.zipkin_endpoint.as_deref())?;
    let app = Application::build(&config.server, tracing, routes(config)?)?;
    tracing::info!(address = %app.address(), backends = ?config.backends, "front listening");
    Ok(app)
}

/// front's route table, to mount: `build` serves it on its port; handler
/// tests mount it in-process (`actix_web::test::init_service`), no port needed.
pub fn routes(
    config: &Config,
) -> Result<impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static, StartError> {
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
        config.traffic_viewers_per_client,
    ));
    Ok(move |routes: &mut web::ServiceConfig| {
        routes
            .app_data(state.clone())
            .app_data(traffic.clone())
            .app_data(
                web::FormConfig::default()
                    .limit(16 * 1024)
                    .error_handler(|error, _| FrontError::BadForm(error.to_string()).into()),
            )
            .route("/", web::get().to(index::page))
            .route("/backends", web::get().to(index::page))
            .route("/login", web::post().to(signin::sign_in))
            .route("/logout", web::get().to(signin::sign_out))
            .route("/logout", web::post().to(signin::sign_out))
            .route("/version", web::get().to(version))
            .route("/traffic", web::get().to(traffic::page))
            .route("/traffic/stream", web::get().to(traffic::stream))
            .route("/static/style.css", web::get().to(assets::style))
            .route("/static/traffic.js", web::get().to(assets::traffic_script));
    })
}
