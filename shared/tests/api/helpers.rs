use shared::backend::{self, Config, Identity};
use shared::server::Shutdown;

pub const TEST_IDENTITY: Identity = Identity {
    name: "gimel",
    title: "Otomato Gimel Service",
};

pub struct TestApp {
    pub address: String,
    pub metrics_address: String,
    pub shutdown: Shutdown,
    pub stopped: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the common backend app with a `/version` of its own.
pub async fn spawn_backend(config: Config) -> TestApp {
    let app = backend::build(TEST_IDENTITY, "9.9", &config, |routes| {
        routes.route(
            "/version",
            actix_web::web::get().to(|| async { backend::plain("9.9") }),
        );
    })
    .expect("the backend starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let shutdown = app.shutdown_handle();
    let stopped = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        shutdown,
        stopped,
    }
}

pub async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}
