//! The live traffic view: front keeps calling one backend's `/version`
//! through the mesh and streams each answer to the browser (Server-Sent
//! Events), so a room can watch a canary shift. Bounded: a fixed rate per
//! viewer, at most so many viewers at once and per client address, each
//! backend call in time and size; streams end when the viewer leaves (within
//! one call) and when front shuts down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use shared::answer;
use shared::outgoing::Outgoing;
use shared::propagation::Propagated;
use shared::server::Readiness;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::State;
use crate::backends::BackendAddr;
use crate::errors::FrontError;
use crate::pages::TrafficPage;

/// How long one stream lasts before the page has to start it again.
const STREAM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The longest one backend call of the view may take, headers and body: a
/// viewer who left is noticed at the next event, so this bounds how long
/// their slot stays taken.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest `/version` answer read; a version is a few bytes.
const MAX_ANSWER_BYTES: usize = 1024;

/// The view's limits (`TRAFFIC_RATE` calls per second per viewer,
/// `TRAFFIC_VIEWERS` streams at once, `TRAFFIC_VIEWERS_PER_CLIENT` per
/// client address).
pub struct Traffic {
    pub interval: Duration,
    pub viewers: Arc<Semaphore>,
    per_client: usize,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Traffic {
    pub fn new(rate: u32, viewers: usize, per_client: usize) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            viewers: Arc::new(Semaphore::new(viewers)),
            per_client,
            clients: Arc::default(),
        }
    }

    /// One more stream for `client`, or `None` when it has its share.
    fn admit(&self, client: IpAddr) -> Option<ClientSlot> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let open = clients.entry(client).or_insert(0);
        if *open >= self.per_client {
            return None;
        }
        *open += 1;
        Some(ClientSlot {
            client,
            clients: self.clients.clone(),
        })
    }
}

/// One stream of a client address; counted until dropped.
struct ClientSlot {
    client: IpAddr,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = clients.get_mut(&self.client) {
            *open -= 1;
            if *open == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

/// The viewer's address: the first `X-Forwarded-For` hop that Istio's
/// gateway sets (inside the mesh every connection comes from the sidecar),
/// else the peer.
fn client_address(request: &HttpRequest) -> Option<IpAddr> {
    let info = request.connection_info();
    info.realip_remote_addr().and_then(|addr| {
        addr.parse::<IpAddr>()
            .ok()
            .or_else(|| addr.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
    })
}

pub(crate) async fn page(
    request: HttpRequest,
    state: web::Data<State>,
) -> Result<HttpResponse, FrontError> {
    let user = Propagated::from_request(&request)
        .user()
        .map(|u| u.to_string());
    let page = TrafficPage {
        user,
        here: "/traffic".into(),
        backends: state.backends.iter().map(|b| b.to_string()).collect(),
        traces_url: state.traces_url.clone(),
        version: crate::VERSION,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(page.render()?))
}

#[derive(Deserialize)]
pub struct StreamQuery {
    backend: String,
    #[serde(default)]
    as_user: Option<String>,
}

/// One answer, as the page draws it, with why it went where it went.
#[derive(Serialize)]
struct Tile {
    n: u64,
    /// The version answered, or what went wrong (`HTTP 500`, `too slow`...).
    label: String,
    ok: bool,
    status: Option<u16>,
    ms: u64,
    /// Who made the answer: `app` (it names its pod), `mesh` (an answer no app
    /// made: Envoy's fault, overflow or timeout), `front` (no answer in time, or none).
    by: &'static str,
    /// The pod that answered (`x-served-by`).
    pod: Option<String>,
    /// Which attempt answered, as the caller's Envoy counted (2 and up: retried).
    attempt: Option<u16>,
    /// The call's trace id, as the backend saw it.
    trace: Option<String>,
}

/// What a call brought back.
struct Answered {
    status: u16,
    body: Vec<u8>,
    pod: Option<String>,
    attempt: Option<u16>,
    trace: Option<String>,
}

struct Viewer {
    client: reqwest::Client,
    backend: BackendAddr,
    outgoing: Outgoing,
    timeout: Duration,
    ticks: tokio::time::Interval,
    calls: u64,
    until: Instant,
    readiness: Option<web::Data<Readiness>>,
    _permit: OwnedSemaphorePermit,
    _client: Option<ClientSlot>,
}

impl Viewer {
    /// Whether the stream goes on: not past its lifetime, front not stopping.
    fn goes_on(&self) -> bool {
        Instant::now() < self.until && self.readiness.as_ref().is_none_or(|r| r.is_ready())
    }

    async fn next_tile(&mut self) -> Option<Tile> {
        if !self.goes_on() {
            return None;
        }
        self.ticks.tick().await;
        if !self.goes_on() {
            return None;
        }
        self.calls += 1;
        let started = Instant::now();
        let (label, ok, answered) = match tokio::time::timeout(self.timeout, self.call()).await {
            Err(_) => ("too slow".to_string(), false, None),
            Ok(Err(_)) => ("unreachable".to_string(), false, None),
            Ok(Ok(answered)) => {
                let (status, text) = (answered.status, String::from_utf8_lossy(&answered.body));
                let text = text.trim();
                if (200..300).contains(&status) && !text.is_empty() && text.len() <= 32 {
                    (text.to_string(), true, Some(answered))
                } else {
                    (format!("HTTP {status}"), false, Some(answered))
                }
            }
        };
        let by = match &answered {
            None => "front",
            Some(a) if a.pod.is_some() => "app",
            Some(_) => "mesh",
        };
        let (status, pod, attempt, trace) = match answered {
            Some(a) => (Some(a.status), a.pod, a.attempt, a.trace),
            None => (None, None, None, None),
        };
        Some(Tile {
            n: self.calls,
            label,
            ok,
            status,
            ms: started.elapsed().as_millis() as u64,
            by,
            pod,
            attempt,
            trace,
        })
    }

    /// `GET /version`: its status, at most [`MAX_ANSWER_BYTES`] of its body,
    /// and what it says about itself (`shared::answer`).
    async fn call(&self) -> Result<Answered, reqwest::Error> {
        let request = self.client.get(self.backend.url("/version"));
        let mut response = self
            .outgoing
            .send(&self.backend.host, "GET /version".into(), request)
            .await?;
        // Short, visible text only: a pod name is 64 characters at most, a trace id 32.
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 64)
                .map(str::to_string)
        };
        let (pod, trace) = (header(answer::SERVED_BY), header(answer::TRACE_ID));
        let attempt = header(answer::ATTEMPT).and_then(|a| answer::attempt(&a));
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_ANSWER_BYTES {
                break;
            }
        }
        Ok(Answered {
            status,
            body,
            pod,
            attempt,
            trace,
        })
    }
}

pub(crate) async fn stream(
    request: HttpRequest,
    query: web::Query<StreamQuery>,
    state: web::Data<State>,
    traffic: web::Data<Traffic>,
) -> Result<HttpResponse, FrontError> {
    let backend = state
        .backends
        .iter()
        .find(|b| b.to_string() == query.backend)
        .cloned()
        .ok_or_else(|| FrontError::UnknownBackend(query.backend.clone()))?;
    let permit = traffic
        .viewers
        .clone()
        .try_acquire_owned()
        .map_err(|_| FrontError::TooManyViewers)?;
    let client_slot = match client_address(&request) {
        Some(address) => Some(
            traffic
                .admit(address)
                .ok_or(FrontError::TooManyViewersHere(traffic.per_client))?,
        ),
        None => None,
    };
    let as_user = query
        .as_user
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true");
    // "As me": the user cookie and the token, as a page load sends them.
    let (user, token) = if as_user {
        let propagated = Propagated::from_request(&request);
        (
            propagated.user().cloned(),
            propagated.token().map(str::to_string),
        )
    } else {
        (None, None)
    };
    let mut ticks = tokio::time::interval(traffic.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let viewer = Viewer {
        client: state.client.clone(),
        backend,
        outgoing: Outgoing::detached(Propagated::only_user(user, token)),
        timeout: state.timeout.min(CALL_TIMEOUT),
        ticks,
        calls: 0,
        until: Instant::now() + STREAM_LIFETIME,
        readiness: request.app_data::<web::Data<Readiness>>().cloned(),
        _permit: permit,
        _client: client_slot,
    };
    // The first event at once, so the browser sees the stream open.
    let opening = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(web::Bytes::from_static(b": streaming\n\n"))
    });
    let tiles = futures_util::stream::unfold(viewer, |mut viewer| async move {
        let tile = viewer.next_tile().await?;
        let event = format!(
            "data: {}\n\n",
            serde_json::to_string(&tile).unwrap_or_default()
        );
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(event)), viewer))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures_util::StreamExt::chain(opening, tiles)))
}
