//! The live traffic view: front keeps calling one backend's `/version`
//! through the mesh and streams each answer to the browser (Server-Sent
//! Events), so a room can watch a canary shift. Bounded: a fixed rate per
//! viewer, and at most so many viewers at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use shared::outgoing::Outgoing;
use shared::propagation::Propagated;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::State;
use crate::backends::BackendAddr;
use crate::errors::FrontError;
use crate::pages::TrafficPage;

/// How long one stream lasts before the page has to start it again.
const STREAM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The view's limits (`TRAFFIC_RATE` calls per second per viewer,
/// `TRAFFIC_VIEWERS` streams at once).
pub struct Traffic {
    pub interval: Duration,
    pub viewers: Arc<Semaphore>,
}

impl Traffic {
    pub fn new(rate: u32, viewers: usize) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            viewers: Arc::new(Semaphore::new(viewers)),
        }
    }
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

/// One answer, as the page draws it.
#[derive(Serialize)]
struct Tile {
    n: u64,
    /// The version answered, or what went wrong (`HTTP 500`, `too slow`...).
    label: String,
    ok: bool,
    status: Option<u16>,
    ms: u64,
}

struct Viewer {
    client: reqwest::Client,
    backend: BackendAddr,
    outgoing: Outgoing,
    timeout: Duration,
    ticks: tokio::time::Interval,
    calls: u64,
    until: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Viewer {
    async fn next_tile(&mut self) -> Option<Tile> {
        if Instant::now() >= self.until {
            return None;
        }
        self.ticks.tick().await;
        self.calls += 1;
        let started = Instant::now();
        let request = self.client.get(self.backend.url("/version"));
        let call = self
            .outgoing
            .send(&self.backend.host, "GET /version".into(), request);
        let (label, ok, status) = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => ("too slow".to_string(), false, None),
            Ok(Err(_)) => ("unreachable".to_string(), false, None),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                let text = body.trim();
                if (200..300).contains(&status) && !text.is_empty() && text.len() <= 32 {
                    (text.to_string(), true, Some(status))
                } else {
                    (format!("HTTP {status}"), false, Some(status))
                }
            }
        };
        Some(Tile {
            n: self.calls,
            label,
            ok,
            status,
            ms: started.elapsed().as_millis() as u64,
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
    let as_user = query
        .as_user
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true");
    let user = as_user
        .then(|| Propagated::from_request(&request).user().cloned())
        .flatten();
    let mut ticks = tokio::time::interval(traffic.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let viewer = Viewer {
        client: state.client.clone(),
        backend,
        outgoing: Outgoing::detached(Propagated::only_user(user)),
        timeout: state.timeout.min(Duration::from_secs(5)),
        ticks,
        calls: 0,
        until: Instant::now() + STREAM_LIFETIME,
        _permit: permit,
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
