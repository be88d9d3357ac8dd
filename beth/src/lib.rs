//! beth: one of the two backends front shows. Everything but its identity and
//! its bugs lives in the `backend` crate; this file is where the labs' edits happen.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use backend::{Config, Identity, StartError, plain};
use shared::server::Application;

/// The version `/version` reports. Bump it when you release beth.
pub const VERSION: &str = "0.1";

pub const IDENTITY: Identity = Identity {
    name: "beth",
    title: "Otomato Beth Service",
    version: VERSION,
};

async fn version() -> HttpResponse {
    // Adding delay to test DB slowness. TODO: remove before production!
    tokio::time::sleep(Duration::from_secs(2)).await;
    plain(VERSION)
}

pub fn build(config: &Config) -> Result<Application, StartError> {
    backend::build(IDENTITY, config, |routes| {
        routes.route("/version", web::get().to(version));
    })
}
