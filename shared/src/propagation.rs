//! The headers that travel with a request from service to service, and the
//! trace context they carry: read, validated and written here.
//!
//! Envoy and Istio cannot join an incoming request to the calls an app makes
//! because of it: the app has to copy these headers itself. This module is the
//! one place that lists them ([`FORWARDED_HEADERS`], each with its role and
//! format). On the way in, [`Propagated::from_headers`] keeps the well-formed
//! ones and [`incoming_context`] reads the trace context for the server span;
//! on the way out, [`Propagated::outgoing`] gives the headers to send, with
//! the span headers pointing at the app's own client span when tracing is on.

use std::sync::LazyLock;

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_zipkin::{B3Encoding, Propagator as B3Propagator};
use std::collections::HashMap;

use crate::user::UserName;

/// Why a header travels, which decides what the app does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Joins access logs and traces of one request (Envoy sets it on entry).
    Correlation,
    /// Names a span: rewritten to the app's own client span when tracing is on,
    /// forwarded verbatim when it is off.
    Span,
    /// Travels with the trace unchanged (vendor state, older tracers).
    TraceState,
    /// Who is calling: Istio can route on it.
    Identity,
}

/// What a header's value must look like to be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A trace id: 16 or 32 hex digits.
    TraceId,
    /// A span id: 16 hex digits.
    SpanId,
    /// B3's sampling decision: `0`, `1`, `true`, `false`.
    Sampled,
    /// B3's debug flag: `0` or `1`.
    Flags,
    /// `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or only a sampling state.
    B3Single,
    /// `traceparent: 00-{32 hex}-{16 hex}-{2 hex}`.
    TraceParent,
    /// Visible ASCII (and spaces inside), at most this many bytes.
    Text(usize),
}

/// One forwarded header: its name, why it travels, what it looks like.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub name: &'static str,
    pub role: Role,
    pub format: Format,
}

const fn header(name: &'static str, role: Role, format: Format) -> Header {
    Header { name, role, format }
}

/// The request id (also read by the access log).
pub const REQUEST_ID: &str = "x-request-id";
/// B3's parent span id: written by [`ClientSpanIds`] from the server span.
const B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// B3's trace id, the header that starts a B3 trace context in its multi-header form.
const B3_TRACE_ID: &str = "x-b3-traceid";
/// B3's single-header form: sent on only when it came in.
const B3_SINGLE: &str = "b3";
/// W3C Trace Context: the only key the W3C propagator may write here
/// (`tracestate` is forwarded verbatim instead).
const TRACEPARENT: &str = "traceparent";

/// Every header forwarded on outgoing calls, grouped by who needs it.
pub const FORWARDED_HEADERS: &[Header] = &[
    // Request correlation: Envoy sets it on entry; access logs and traces join on it.
    header(REQUEST_ID, Role::Correlation, Format::Text(256)),
    // Zipkin B3 (Istio's default tracer in Envoy, read by Jaeger and Zipkin).
    header(B3_TRACE_ID, Role::Span, Format::TraceId),
    header("x-b3-spanid", Role::Span, Format::SpanId),
    header(B3_PARENT_SPAN_ID, Role::Span, Format::SpanId),
    header("x-b3-sampled", Role::Span, Format::Sampled),
    header("x-b3-flags", Role::Span, Format::Flags),
    header(B3_SINGLE, Role::Span, Format::B3Single),
    // OpenTracing/Lightstep span context, still sent by older Envoy set-ups.
    header("x-ot-span-context", Role::TraceState, Format::Text(256)),
    // W3C Trace Context.
    header(TRACEPARENT, Role::Span, Format::TraceParent),
    header("tracestate", Role::TraceState, Format::Text(512)),
    // Istio routing by identity (RequestAuthentication sets it from a JWT).
    header("end-user", Role::Identity, Format::Text(256)),
];

/// The cookie that carries the signed-in user; Istio routes on `user=<name>`.
pub const USER_COOKIE: &str = "user";
/// The cookie that carries the signed-in user's token (a JWT front issued), sent on as
/// `Authorization: Bearer`: Istio verifies it, the services never read it.
pub const TOKEN_COOKIE: &str = "token";
/// The longest token sent on; Istio's own limit on a JWT's header is larger.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A JWS compact form's shape: three base64url parts, bounded. Its signature is Istio's to check.
fn looks_like_token(value: &str) -> bool {
    value.len() <= MAX_TOKEN_BYTES
        && value.split('.').count() == 3
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn is_span_header(name: &str) -> bool {
    FORWARDED_HEADERS
        .iter()
        .any(|h| h.name == name && h.role == Role::Span)
}

/// The trace context that arrived with a request, in B3 or W3C headers:
/// the parent of the request's server span.
pub fn incoming_context(headers: &HeaderMap) -> Context {
    // Most requests outside the mesh carry no trace: skip the propagators' seven lookups.
    if !TRACE_HEADERS.iter().any(|name| headers.contains_key(name)) {
        return Context::new();
    }
    let propagators: [&dyn TextMapPropagator; 2] = [
        &TraceContextPropagator::new(),
        &B3Propagator::with_encoding(B3Encoding::SingleAndMultiHeader),
    ];
    let reader = HeaderReader(headers);
    let mut context = Context::new();
    for propagator in propagators {
        context = propagator.extract_with_context(&context, &reader);
    }
    context
}

/// The headers that start a trace context (W3C's, B3's two forms): without one, there is none.
const TRACE_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static(TRACEPARENT),
    HeaderName::from_static(B3_TRACE_ID),
    HeaderName::from_static(B3_SINGLE),
];

/// [`FORWARDED_HEADERS`]' names, parsed once: actix's map parses a `&str` name on every lookup,
/// and allocates for each name HTTP does not define (all of these but none).
static FORWARDED_NAMES: LazyLock<Vec<HeaderName>> = LazyLock::new(|| {
    FORWARDED_HEADERS
        .iter()
        .map(|h| HeaderName::from_static(h.name))
        .collect()
});

/// `name`'s value in `headers`, without parsing `name` when it is a forwarded header's.
fn forwarded_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h HeaderValue> {
    match FORWARDED_NAMES.iter().find(|n| n.as_str() == name) {
        Some(parsed) => headers.get(parsed),
        None => headers.get(name),
    }
}

/// Lets the propagators read actix's header map without copying it.
struct HeaderReader<'a>(&'a HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        forwarded_header(self.0, key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The well-formed forwarded headers of one incoming request, and its user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Propagated {
    headers: Vec<(&'static str, String)>,
    user: Option<UserName>,
    token: Option<String>,
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
        let token = request.cookie(TOKEN_COOKIE).and_then(|cookie| {
            let token = looks_like_token(cookie.value()).then(|| cookie.value().to_string());
            if token.is_none() {
                tracing::debug!("dropping malformed token cookie");
            }
            token
        });
        Self {
            user,
            token,
            ..Self::from_headers(request.headers())
        }
    }

    /// Keeps the forwarded headers that are well-formed; drops the others.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut kept = Vec::new();
        for forwarded in FORWARDED_HEADERS {
            let Some(value) = forwarded_header(headers, forwarded.name) else {
                continue;
            };
            match value
                .to_str()
                .ok()
                .filter(|v| well_formed(forwarded.format, v))
            {
                Some(v) => kept.push((forwarded.name, v.to_string())),
                None => {
                    tracing::debug!(header = forwarded.name, ?value, "dropping malformed header")
                }
            }
        }
        Self {
            headers: kept,
            user: None,
            token: None,
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

    /// The signed-in user's token, as sent on.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Only the user cookie and token (or nothing): for calls that are not part
    /// of the request's trace, such as front's live traffic view.
    pub fn only_user(user: Option<UserName>, token: Option<String>) -> Self {
        Self {
            headers: Vec::new(),
            user,
            token,
        }
    }

    /// The headers to send on an outgoing call.
    ///
    /// `client_span` is the app's own span for that call when tracing is on:
    /// the span headers then carry its ids (same trace, new span). Without
    /// it, they are forwarded verbatim.
    pub fn outgoing(&self, client_span: Option<&ClientSpanIds>) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = match client_span {
            None => self.headers.clone(),
            Some(ids) => {
                let mut out: Vec<_> = self
                    .headers
                    .iter()
                    .filter(|(name, _)| !is_span_header(name))
                    .cloned()
                    .collect();
                out.extend(ids.headers(self.get(B3_SINGLE).is_some()));
                out
            }
        };
        if let Some(user) = &self.user {
            out.push(("cookie", format!("{USER_COOKIE}={user}")));
        }
        if let Some(token) = &self.token {
            out.push(("authorization", format!("Bearer {token}")));
        }
        out
    }
}

/// The span context of a client span and the id of its parent (the server span).
pub struct ClientSpanIds {
    pub context: Context,
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
            .inject_context(&self.context, &mut Only(TRACEPARENT, &mut injected));
        let mut out: Vec<(&'static str, String)> = FORWARDED_HEADERS
            .iter()
            .filter(|h| h.role == Role::Span)
            .filter_map(|h| injected.remove(h.name).map(|v| (h.name, v)))
            .collect();
        if let Some(parent) = self
            .parent_span_id
            .filter(|_| self.context.span().span_context().is_valid())
        {
            out.push((B3_PARENT_SPAN_ID, parent.to_string()));
        }
        out
    }
}

/// Lets through only one key.
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

/// Whether a forwarded header's value has its format; others are dropped.
fn well_formed(format: Format, value: &str) -> bool {
    match format {
        Format::TraceId => is_hex(value, &[16, 32]),
        Format::SpanId => is_hex(value, &[16]),
        Format::Sampled => matches!(value, "0" | "1" | "true" | "false"),
        Format::Flags => matches!(value, "0" | "1"),
        Format::B3Single => well_formed_b3(value),
        Format::TraceParent => well_formed_traceparent(value),
        // Visible ASCII (and spaces inside), bounded: safe to log and to forward.
        Format::Text(max) => {
            !value.is_empty()
                && value.len() <= max
                && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        }
    }
}

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
