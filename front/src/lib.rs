//! front: the page learners open. It asks every backend for its title and
//! version at once and shows what each answered; sign-in sets the `user`
//! cookie that Istio routes on.
//!
//! - [`config`]: settings; [`index`]: the page; [`backends`]: calling them;
//! - [`signin`]: the `user` and `token` cookies; [`token`]: the JWT and its JWKS;
//! - `traffic`: the live traffic view;
//! - [`pages`]: the templates; `assets`: stylesheet and script.

mod assets;
pub mod backends;
pub mod config;
pub mod errors;
mod index;
pub mod pages;
pub mod signin;
pub mod token;
mod traffic;

use std::time::Duration;

use actix_web::{HttpResponse, web};
use shared::server::{Application, get_only, method_not_allowed};
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
    /// `TRACES_URL`, for the traffic view's trace links.
    pub(crate) traces_url: Option<String>,
    pub(crate) token_keys: token::SigningKeys,
    pub(crate) token_issuer: String,
    pub(crate) token_lifetime: Duration,
}

async fn version() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(VERSION)
}

pub fn build(config: &Config) -> Result<Application, StartError> {
    let tracing = Tracing::for_service("front", &config.server.traces)?;
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
        traces_url: config.traces_url.clone(),
        token_keys: config.token_keys.clone(),
        token_issuer: config.token_issuer.clone(),
        token_lifetime: config.token_lifetime,
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
            // Another method on one of these paths: 405 with `Allow` (RFC 9110).
            .service(get_only("/", index::page, method_not_allowed))
            .service(get_only("/backends", index::page, method_not_allowed))
            .service(
                web::resource("/login")
                    .route(web::post().to(signin::sign_in))
                    .default_service(method_not_allowed("POST")),
            )
            .service(
                web::resource("/logout")
                    .route(web::get().to(signin::sign_out))
                    .route(web::post().to(signin::sign_out))
                    .default_service(method_not_allowed("GET, POST")),
            )
            .service(get_only("/version", version, method_not_allowed))
            .service(get_only(
                "/.well-known/jwks.json",
                signin::jwks,
                method_not_allowed,
            ))
            .service(get_only("/traffic", traffic::page, method_not_allowed))
            .service(get_only(
                "/traffic/stream",
                traffic::stream,
                method_not_allowed,
            ))
            .service(get_only(
                "/static/style.css",
                assets::style,
                method_not_allowed,
            ))
            .service(get_only(
                "/static/traffic.js",
                assets::traffic_script,
                method_not_allowed,
            ));
    })
}
