//! The headers that travel with a request from service to service.
//!
//! Envoy and Istio cannot join an incoming request to the calls an app makes
//! because of it: the app has to copy these headers itself. This module is the
//! one place that lists them. On the way in, [`Propagated::from_headers`] keeps
//! the well-formed ones; on the way out, [`Propagated::outgoing`] gives the
//! headers to send, with the trace headers pointing at the app's own client
//! span when tracing is on.

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_zipkin::{B3Encoding, Propagator as B3Propagator};
use std::collections::HashMap;

use crate::user::UserName;

/// Every header forwarded on outgoing calls, grouped by who needs it.
pub const FORWARDED_HEADERS: &[&str] = &[
    // Request correlation: Envoy sets it on entry; access logs and traces join on it.
    "x-request-id",
    // Zipkin B3 (Istio's default tracer in Envoy, read by Jaeger and Zipkin).
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    // OpenTracing/Lightstep span context, still sent by older Envoy set-ups.
    "x-ot-span-context",
    // W3C Trace Context.
    "traceparent",
    "tracestate",
    // Istio routing by identity (RequestAuthentication sets it from a JWT).
    "end-user",
];

/// The cookie that carries the signed-in user; Istio routes on `user=<name>`.
pub const USER_COOKIE: &str = "user";

/// Headers that name a span: rewritten to the app's client span when tracing is on.
const SPAN_HEADERS: &[&str] = &[
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "traceparent",
];

/// The well-formed forwarded headers of one incoming request, and its user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Propagated {
    headers: Vec<(&'static str, String)>,
    user: Option<UserName>,
}

impl Propagated {
    pub fn from_request(request: &HttpRequest) -> Self {
        let user = request.cookie(USER_COOKIE).and_then(|cookie| {
            let user = UserName::parse(cookie.value());
            if user.is_none() {
                tracing::debug!(value = cookie.value(), "dropping malformed user cookie");
            }
            user
        });
        Self {
            user,
            ..Self::from_headers(request.headers())
        }
    }

    /// Keeps the forwarded headers that are well-formed; drops the others.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut kept = Vec::new();
        for &name in FORWARDED_HEADERS {
            let Some(value) = headers.get(name) else {
                continue;
            };
            match value.to_str().ok().filter(|v| well_formed(name, v)) {
                Some(v) => kept.push((name, v.to_string())),
                None => tracing::debug!(header = name, ?value, "dropping malformed header"),
            }
        }
        Self {
            headers: kept,
            user: None,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn user(&self) -> Option<&UserName> {
        self.user.as_ref()
    }

    /// Only the user cookie (or nothing): for calls that are not part of
    /// the request's trace, such as front's live traffic view.
    pub fn only_user(user: Option<UserName>) -> Self {
        Self {
            headers: Vec::new(),
            user,
        }
    }

    /// The headers to send on an outgoing call.
    ///
    /// `client_span` is the app's own span for that call when tracing is on:
    /// the trace headers then carry its ids (same trace, new span). Without
    /// it, they are forwarded verbatim.
    pub fn outgoing(&self, client_span: Option<&ClientSpanIds>) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = match client_span {
            None => self.headers.clone(),
            Some(ids) => {
                let mut out: Vec<_> = self
                    .headers
                    .iter()
                    .filter(|(name, _)| !SPAN_HEADERS.contains(name))
                    .cloned()
                    .collect();
                out.extend(ids.headers(self.get("b3").is_some()));
                out
            }
        };
        if let Some(user) = &self.user {
            out.push(("cookie", format!("{USER_COOKIE}={user}")));
        }
        out
    }
}

/// The span context of a client span and the id of its parent (the server span).
pub struct ClientSpanIds {
    pub context: opentelemetry::Context,
    pub parent_span_id: Option<opentelemetry::trace::SpanId>,
}

impl ClientSpanIds {
    fn headers(&self, with_single_b3: bool) -> Vec<(&'static str, String)> {
        let mut injected = HashMap::new();
        let encoding = if with_single_b3 {
            B3Encoding::SingleAndMultiHeader
        } else {
            B3Encoding::MultipleHeader
        };
        B3Propagator::with_encoding(encoding).inject_context(&self.context, &mut injected);
        TraceContextPropagator::new()
            .inject_context(&self.context, &mut Only("traceparent", &mut injected));
        let mut out: Vec<(&'static str, String)> = SPAN_HEADERS
            .iter()
            .filter_map(|&name| injected.remove(name).map(|v| (name, v)))
            .collect();
        if let Some(parent) = self
            .parent_span_id
            .filter(|_| self.context.span().span_context().is_valid())
        {
            out.push(("x-b3-parentspanid", parent.to_string()));
        }
        out
    }
}

/// Lets through only one key (W3C's `tracestate` is forwarded verbatim instead).
struct Only<'a>(&'static str, &'a mut HashMap<String, String>);

impl Injector for Only<'_> {
    fn set(&mut self, key: &str, value: String) {
        if key == self.0 {
            self.1.insert(key.to_string(), value);
        }
    }
}

fn is_hex(s: &str, lengths: &[usize]) -> bool {
    lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Visible ASCII (and spaces inside), bounded: safe to log and to forward.
fn is_token_text(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Whether a forwarded header's value has its format; others are dropped.
fn well_formed(name: &str, value: &str) -> bool {
    match name {
        "x-b3-traceid" => is_hex(value, &[16, 32]),
        "x-b3-spanid" | "x-b3-parentspanid" => is_hex(value, &[16]),
        "x-b3-sampled" => matches!(value, "0" | "1" | "true" | "false"),
        "x-b3-flags" => matches!(value, "0" | "1"),
        "b3" => well_formed_b3(value),
        "traceparent" => well_formed_traceparent(value),
        "tracestate" => is_token_text(value, 512),
        _ => is_token_text(value, 256),
    }
}

/// `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or only a sampling state.
fn well_formed_b3(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let sampling = |s: &str| matches!(s, "0" | "1" | "d");
    match parts.as_slice() {
        [state] => sampling(state),
        [trace, span] => is_hex(trace, &[16, 32]) && is_hex(span, &[16]),
        [trace, span, state] => is_hex(trace, &[16, 32]) && is_hex(span, &[16]) && sampling(state),
        [trace, span, state, parent] => {
            is_hex(trace, &[16, 32])
                && is_hex(span, &[16])
                && sampling(state)
                && is_hex(parent, &[16])
        }
        _ => false,
    }
}

/// `traceparent: 00-{32 hex}-{16 hex}-{2 hex}`.
fn well_formed_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    matches!(parts.as_slice(), [version, trace, span, flags]
        if is_hex(version, &[2]) && *version != "ff"
            && is_hex(trace, &[32]) && is_hex(span, &[16]) && is_hex(flags, &[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn keeps_every_well_formed_header_verbatim_without_tracing() {
        let incoming = [
            ("x-request-id", "4f1c2b7e-1d2a-4c1e-9f00-0123456789ab"),
            ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-parentspanid", "0020000000000001"),
            ("x-b3-sampled", "1"),
            ("x-b3-flags", "1"),
            ("b3", "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1"),
            ("x-ot-span-context", "abc;def;ghi"),
            (
                "traceparent",
                "00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01",
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("end-user", "jason"),
        ];
        let propagated = Propagated::from_headers(&headers(&incoming));
        let out = propagated.outgoing(None);
        assert_eq!(out.len(), FORWARDED_HEADERS.len());
        for (name, value) in incoming {
            assert!(out.contains(&(name, value.to_string())), "{name} missing");
        }
    }

    #[test]
    fn drops_malformed_values_without_failing() {
        let propagated = Propagated::from_headers(&headers(&[
            ("x-b3-traceid", "not-hex"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("traceparent", "00-zz-a2fb4a1d1a96d312-01"),
            ("b3", "1-2-3-4-5"),
            ("x-b3-sampled", "maybe"),
            ("x-request-id", "abc"),
        ]));
        assert_eq!(
            propagated.outgoing(None),
            vec![
                ("x-request-id", "abc".to_string()),
                ("x-b3-spanid", "a2fb4a1d1a96d312".to_string())
            ]
        );
    }

    #[test]
    fn b3_single_header_formats() {
        assert!(well_formed_b3("0"));
        assert!(well_formed_b3(
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"
        ));
        assert!(!well_formed_b3("80f198ee56343ba8-e457b5a2e4d86bd1-x"));
    }
}
