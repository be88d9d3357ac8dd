//! aleph: one of the two backends front shows. Everything but its identity and
//! its bugs lives in the `backend` crate; this file is where the labs' edits happen.

use actix_web::{HttpResponse, web};
use backend::{Config, Identity, StartError, plain};
use shared::server::Application;

/// The version `/version` reports. Bump it when you release aleph.
pub const VERSION: &str = "0.1";

pub const IDENTITY: Identity = Identity {
    name: "aleph",
    title: "Otomato Aleph Service",
    version: VERSION,
};

async fn version() -> HttpResponse {
    plain(VERSION)
}

pub fn build(config: &Config) -> Result<Application, StartError> {
    backend::build(IDENTITY, config, |routes| {
        routes.route("/version", web::get().to(version));
    })
}
