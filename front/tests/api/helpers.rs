use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use front::backends::BackendAddr;
use shared::config::ServerConfig;
use shared::server::{Application, Shutdown};

/// How a test backend answers `/version` and `/name`.
#[derive(Clone)]
pub enum Behaviour {
    Fine {
        title: &'static str,
        version: &'static str,
    },
    Status(u16),
    Slow(Duration),
    /// A canary in progress: `/version` cycles 0.1, 0.1, 0.3, HTTP 500;
    /// a request with `Cookie: user=developer` always gets 0.3.
    Canary,
}

/// The headers of one request, in order.
pub type Headers = Vec<(String, String)>;

/// A real HTTP server on 127.0.0.1 that records the headers it receives.
pub struct TestBackend {
    pub address: String,
    pub received: Arc<Mutex<Vec<Headers>>>,
}

impl TestBackend {
    /// The headers of the last request it received, by name.
    pub fn last_header(&self, name: &str) -> Option<String> {
        let received = self.received.lock().unwrap();
        let last = received.last()?;
        last.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

pub async fn test_backend(behaviour: Behaviour) -> TestBackend {
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let received = Arc::new(Mutex::new(Vec::new()));
    let recorder = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = HttpServer::new(move || {
        let behaviour = behaviour.clone();
        let recorder = recorder.clone();
        let calls = calls.clone();
        App::new().default_service(web::to(move |request: HttpRequest| {
            let behaviour = behaviour.clone();
            let recorder = recorder.clone();
            let calls = calls.clone();
            async move {
                recorder.lock().unwrap().push(
                    request
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect(),
                );
                match behaviour {
                    Behaviour::Fine { title, version } => {
                        HttpResponse::Ok().body(if request.path() == "/name" {
                            title
                        } else {
                            version
                        })
                    }
                    Behaviour::Status(code) => {
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                            .body("broken")
                    }
                    Behaviour::Slow(delay) => {
                        tokio::time::sleep(delay).await;
                        HttpResponse::Ok().body("late")
                    }
                    Behaviour::Canary if request.path() == "/name" => {
                        HttpResponse::Ok().body("Otomato Canary Service")
                    }
                    Behaviour::Canary => {
                        let developer = request
                            .headers()
                            .get("cookie")
                            .is_some_and(|c| c == "user=developer");
                        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        match (developer, n % 4) {
                            (true, _) | (false, 2) => HttpResponse::Ok().body("0.3"),
                            (false, 3) => HttpResponse::InternalServerError().body("boom"),
                            _ => HttpResponse::Ok().body("0.1"),
                        }
                    }
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    TestBackend { address, received }
}

/// An address where nothing listens.
pub fn down_backend() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

pub struct Running {
    pub address: String,
    pub shutdown: Shutdown,
    pub stopped: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn start(app: Application) -> Self {
        let address = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_handle();
        let stopped = tokio::spawn(app.run_until_stopped());
        Self {
            address,
            shutdown,
            stopped,
        }
    }

    /// Stops the service as SIGTERM would, flushing its spans.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.stopped.await.unwrap().unwrap();
    }

    pub fn host_port(&self) -> String {
        self.address.trim_start_matches("http://").to_string()
    }
}

pub fn front_config(backends: &[&str], timeout: Duration) -> front::Config {
    front::Config {
        server: ServerConfig::for_tests(),
        backends: backends
            .iter()
            .map(|b| BackendAddr::parse(b).expect("a host:port"))
            .collect(),
        backend_timeout: timeout,
        traffic_rate: 20,
        traffic_viewers: 2,
    }
}

pub fn spawn_front(backends: &[&str], timeout: Duration) -> Running {
    Running::start(front::build(&front_config(backends, timeout)).expect("front starts"))
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn page(address: &str, cookie: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("{address}/"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}
