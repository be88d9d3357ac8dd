//! A stub backend: a real HTTP server on 127.0.0.1 that answers every path
//! as its [`Behaviour`] says and records the headers it receives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// How a stub answers `/version` and `/name`.
#[derive(Clone, Debug)]
pub enum Behaviour {
    Fine {
        title: &'static str,
        version: &'static str,
    },
    Status(u16),
    Slow(Duration),
    /// Headers and the start of a body, then nothing, for ever.
    StallBody,
    /// A canary in progress: `/version` cycles `0.1\n`, `0.1\n`, `0.3`,
    /// HTTP 500; a request with `Cookie: user=developer` always gets `0.3`.
    /// The versions' answers say which pod made them (`shared::answer`), every
    /// eighth call as a retry's second attempt, with a trace id; the 500s do
    /// not, as an abort that Envoy injects, which no app made.
    Canary,
}

/// The headers of one request, in order.
pub type Headers = Vec<(String, String)>;

pub struct Stub {
    /// `127.0.0.1:<port>`
    pub address: String,
    pub received: Arc<Mutex<Vec<Headers>>>,
}

impl Stub {
    /// Starts one (needs a Tokio runtime).
    pub fn start(behaviour: Behaviour) -> Self {
        let calls = Arc::new(AtomicU64::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("an address").to_string();
        let server = HttpServer::new(move || {
            let behaviour = behaviour.clone();
            let recorder = recorder.clone();
            let calls = calls.clone();
            App::new().default_service(web::to(move |request: HttpRequest| {
                recorder.lock().expect("not poisoned").push(
                    request
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect(),
                );
                answer(behaviour.clone(), request, calls.clone())
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listens")
        .run();
        tokio::spawn(server);
        Self { address, received }
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The headers of the last request it received, by name.
    pub fn last_header(&self, name: &str) -> Option<String> {
        let received = self.received.lock().expect("not poisoned");
        let last = received.last()?;
        last.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

async fn answer(behaviour: Behaviour, request: HttpRequest, calls: Arc<AtomicU64>) -> HttpResponse {
    match behaviour {
        Behaviour::Fine { title, version } => {
            HttpResponse::Ok().body(if request.path() == "/name" {
                title
            } else {
                version
            })
        }
        Behaviour::Status(code) => {
            HttpResponse::build(StatusCode::from_u16(code).expect("a valid status")).body("broken")
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            HttpResponse::Ok().body("late")
        }
        Behaviour::StallBody => {
            let start = futures_util::stream::once(async {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(b"0."))
            });
            let never = futures_util::stream::pending();
            HttpResponse::Ok().streaming(futures_util::StreamExt::chain(start, never))
        }
        Behaviour::Canary if request.path() == "/name" => {
            HttpResponse::Ok().body("Otomato Canary Service")
        }
        Behaviour::Canary => {
            let developer = request
                .headers()
                .get("cookie")
                .is_some_and(|c| c == "user=developer");
            use shared::answer::{ATTEMPT, SERVED_BY, TRACE_ID};
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let app = |pod: &str| {
                let mut answer = HttpResponse::Ok();
                answer
                    .insert_header((SERVED_BY, pod))
                    .insert_header((TRACE_ID, format!("{call:032x}")));
                if call.is_multiple_of(8) {
                    answer.insert_header((ATTEMPT, "2"));
                }
                answer
            };
            match (developer, call % 4) {
                (true, _) | (false, 2) => app("canary-v03-5c9b7-x2k8p").body("0.3"),
                (false, 3) => HttpResponse::InternalServerError().body("fault filter abort"),
                _ => app("canary-v01-7d4f9-q7m2z").body("0.1\n"),
            }
        }
    }
}

/// An address where nothing listens.
pub fn down() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("an address").to_string()
}
