//! A Zipkin collector stand-in on 127.0.0.1: records every span POSTed to
//! `/api/v2/spans` (JSON v2, as the services send them).

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
                        let batch: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
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
