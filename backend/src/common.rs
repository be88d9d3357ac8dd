//! The routes aleph and beth answer alike: `/name`, `/ping`, `/headers`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::Identity;

/// `GET /name`: the service's title.
pub async fn name(identity: web::Data<Identity>) -> HttpResponse {
    plain(identity.title)
}

/// `/ping`'s countdown, as the original had it: the first call waits 5 s and
/// answers `Pong 4`, each later call one second less, down to `Pong 0`.
#[derive(Default)]
pub struct PingCountdown(AtomicU64);

impl PingCountdown {
    const START: u64 = 5;

    /// How long this call waits, and the number it answers.
    fn next(&self) -> (Duration, u64) {
        let call = self.0.fetch_add(1, Ordering::SeqCst);
        let wait = Self::START.saturating_sub(call);
        (Duration::from_secs(wait), wait.saturating_sub(1))
    }
}

pub async fn ping(countdown: web::Data<PingCountdown>) -> HttpResponse {
    let (wait, pong) = countdown.next();
    tokio::time::sleep(wait).await;
    plain(format!("Pong {pong}"))
}

/// Every request header, as received (to watch propagation arrive).
pub async fn headers(request: HttpRequest) -> HttpResponse {
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        all.entry(name.to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let joined: BTreeMap<String, String> =
        all.into_iter().map(|(k, v)| (k, v.join(", "))).collect();
    HttpResponse::Ok().json(joined)
}

/// A plain-text answer, as the original's endpoints gave. A `&'static str` (a version, a
/// title) is sent as it is, not copied: `/version` is the labs' busiest route.
pub fn plain(body: impl MessageBody + 'static) -> HttpResponse {
    const PLAIN_TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, PLAIN_TEXT))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_counts_down_from_five_seconds_to_zero() {
        let countdown = PingCountdown::default();
        let calls: Vec<_> = (0..7).map(|_| countdown.next()).collect();
        let seconds: Vec<_> = calls.iter().map(|(d, n)| (d.as_secs(), *n)).collect();
        assert_eq!(
            seconds,
            [(5, 4), (4, 3), (3, 2), (2, 1), (1, 0), (0, 0), (0, 0)]
        );
    }
}
