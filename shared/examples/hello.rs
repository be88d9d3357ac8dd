//! The benchmark's ceiling: a bare actix-web "hello" with nothing of ours in
//! the way (no middleware, no propagation). `bench` (release-checks) runs it beside
//! the services. `PORT` as the services (default 8080).

use actix_web::{App, HttpServer, web};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { "hello" })))
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
