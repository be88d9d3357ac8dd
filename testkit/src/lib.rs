//! What the integration tests share: a real MongoDB wire server.
//!
//! `MONGODB_URI` if set; otherwise `../shared/tools/mongo-test-server`
//! (a `mongod` on PATH, else SecantusDB) started once on [`TEST_PORT`] and
//! left running for the next test binary. Each test takes a database of its
//! own from [`database`].

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The port tests use, away from a local run's 27017.
pub const TEST_PORT: u16 = 27217;

/// The team's kit beside the checkout.
pub fn kit_tool(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tools")
        .join(name)
}

/// Starts `mongo-test-server` on `port` (waits until it answers) and returns its URI.
pub fn start_server(port: u16, data: Option<&std::path::Path>) -> String {
    let mut command = Command::new(kit_tool("mongo-test-server"));
    command.args(["start", "--port", &port.to_string()]);
    if let Some(dir) = data {
        command.arg("--data").arg(dir);
    }
    let output = command
        .output()
        .expect("../shared/tools/mongo-test-server runs (is ../shared beside the checkout?)");
    assert!(
        output.status.success(),
        "mongo-test-server start failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a URI")
        .trim()
        .to_string()
}

pub fn stop_server(port: u16) {
    let _ = Command::new(kit_tool("mongo-test-server"))
        .args(["stop", "--port", &port.to_string()])
        .status();
}

/// The MongoDB every test shares (each in its own database).
pub fn mongodb_uri() -> &'static str {
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => start_server(TEST_PORT, None),
    })
}

/// A database name no other test uses: `<prefix>_<pid>_<n>`.
pub fn database(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A Zipkin collector stand-in on 127.0.0.1: records every span POSTed to
/// `/api/v2/spans` (JSON v2, as the services send them).
pub mod zipkin {
    use std::sync::{Arc, Mutex};

    use actix_web::{App, HttpResponse, HttpServer, web};
    use serde_json::Value;

    pub struct Receiver {
        pub endpoint: String,
        spans: Arc<Mutex<Vec<Value>>>,
    }

    impl Receiver {
        /// Starts one on a port of its own (needs a Tokio runtime).
        pub fn start() -> Self {
            let spans = Arc::new(Mutex::new(Vec::new()));
            let store = spans.clone();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
            let endpoint = format!(
                "http://{}/api/v2/spans",
                listener.local_addr().expect("an address")
            );
            let server = HttpServer::new(move || {
                let store = store.clone();
                App::new().route(
                    "/api/v2/spans",
                    web::post().to(move |body: web::Bytes| {
                        let store = store.clone();
                        async move {
                            let batch: Vec<Value> =
                                serde_json::from_slice(&body).unwrap_or_default();
                            store.lock().expect("not poisoned").extend(batch);
                            HttpResponse::Accepted().finish()
                        }
                    }),
                )
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listens")
            .run();
            tokio::spawn(server);
            Self { endpoint, spans }
        }

        pub fn spans(&self) -> Vec<Value> {
            self.spans.lock().expect("not poisoned").clone()
        }

        /// The spans a service reported (by `localEndpoint.serviceName`).
        pub fn of_service(&self, service: &str) -> Vec<Value> {
            self.spans()
                .into_iter()
                .filter(|s| s["localEndpoint"]["serviceName"] == service)
                .collect()
        }
    }
}
