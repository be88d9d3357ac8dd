//! The one request-observing middleware: a server span, an access-log line
//! and the request metrics, from one preamble.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt};

use super::logs::AccessLine;
use super::traces::{RequestSpan, Tracing, end_span};
use crate::answer::{self, ATTEMPT, ENVOY_ATTEMPT_COUNT, SERVED_BY, TRACE_ID};
use crate::propagation::{REQUEST_ID, incoming_context};
use crate::server::{InjectFaults, Injected, PROBES};

/// This pod's name, as the value of every answer's `x-served-by` (app data, set by `server`).
#[derive(Clone)]
pub struct ServedBy(pub Option<HeaderValue>);

/// Middleware: for every request, one server span (joined to the incoming
/// trace), one access-log line, and its count and time in the metrics; on
/// every answer, the headers of [`answer`] (pod, attempt, trace id). A service's
/// fault knobs ([`InjectFaults`]) act here too, after the span starts: one middleware
/// and no scope of its own for them (each cost a boxed call and a router per request).
///
/// What the line, the metrics and the answer need is read after the handler, from the request
/// the response still holds: the router has matched the route by then (naming it costs an index
/// walk, where before the handler it costs matching the path again), and nothing is copied.
pub async fn observe_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let injected = req
        .app_data::<web::Data<dyn InjectFaults>>()
        .filter(|_| !PROBES.contains(&req.path()))
        .and_then(|faults| faults.faults_for(req.path()));
    let started = Instant::now();
    let method = method_label(req.method());
    // With tracing on, the span starts before the handler, whose calls are its children.
    let span = req
        .app_data::<web::Data<Tracing>>()
        .filter(|t| t.is_enabled())
        .and_then(|t| {
            let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.into());
            t.start(
                &incoming_context(req.headers()),
                format!("{method} {route}"),
                SpanKind::Server,
                vec![
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("http.route", route),
                    KeyValue::new("url.path", clip(req.path()).to_string()),
                ],
            )
        });
    if let Some(cx) = &span {
        req.extensions_mut().insert(RequestSpan(cx.clone()));
    }
    let mut result = match injected {
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Some(Injected { delay, answer }) => {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            match answer {
                Some(answer) => Ok(req.into_response(answer).map_into_right_body()),
                None => next
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let (status, request) = match &result {
        Ok(response) => (response.status().as_u16(), Some(response.request().clone())),
        // An error no handler turned into a response (rare): logged without the request.
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    if let Some(cx) = &span {
        end_span(cx, Some(status), None);
    }
    let header = |name: &HeaderName| {
        request
            .as_ref()
            .and_then(|r| r.headers().get(name))
            .and_then(|v| v.to_str().ok())
    };
    let route = request
        .as_ref()
        .and_then(|r| r.match_pattern())
        .unwrap_or_else(|| UNMATCHED.into());
    // The trace id: the span's, else the trace the request came in (W3C or B3), if any.
    let trace_id = match &span {
        Some(cx) => Some(cx.span().span_context().trace_id().to_string()),
        None => request.as_ref().and_then(|r| {
            Some(incoming_context(r.headers()).span().span_context().clone())
                .filter(|c| c.is_valid())
                .map(|c| c.trace_id().to_string())
        }),
    };
    if let (Ok(response), Some(request)) = (&mut result, &request) {
        let headers = response.headers_mut();
        if let Some(pod) = request
            .app_data::<web::Data<ServedBy>>()
            .and_then(|s| s.0.clone())
        {
            headers.insert(SERVED_BY_HEADER, pod);
        }
        if let Some(attempt) = header(&ENVOY_ATTEMPT_COUNT_HEADER).and_then(answer::attempt) {
            headers.insert(ATTEMPT_HEADER, attempt.into());
        }
        if let Some(id) = trace_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            headers.insert(TRACE_ID_HEADER, id);
        }
    }
    if let Some(metrics) = request
        .as_ref()
        .and_then(|r| r.app_data::<web::Data<crate::metrics::MetricsShard>>())
    {
        metrics.observe(method, &route, status, elapsed);
    }
    AccessLine {
        method,
        // A mirrored copy keeps its Host (`beth`) on Istio >= 1.28: its request id is what
        // ties it to the request the other version served.
        host: header(&actix_web::http::header::HOST).map_or("-", clip),
        path: request.as_ref().map_or("-", |r| clip(r.path())),
        status,
        ms: (elapsed * 10_000.0).round() / 10.0,
        request_id: header(&REQUEST_ID_HEADER).map_or("-", clip),
        trace_id: trace_id.as_deref().unwrap_or("-"),
    }
    // Probes come every few seconds: keep them out of the default log.
    .log(PROBES.contains(&route.as_str()));
    result
}

// The names parsed at compile time: a `&str` is parsed (and allocated) on every lookup.
const SERVED_BY_HEADER: HeaderName = HeaderName::from_static(SERVED_BY);
const ATTEMPT_HEADER: HeaderName = HeaderName::from_static(ATTEMPT);
const TRACE_ID_HEADER: HeaderName = HeaderName::from_static(TRACE_ID);
const ENVOY_ATTEMPT_COUNT_HEADER: HeaderName = HeaderName::from_static(ENVOY_ATTEMPT_COUNT);
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The longest text from a request that a span attribute or a log line keeps.
const MAX_ATTRIBUTE_BYTES: usize = 1024;

/// `text`, cut to [`MAX_ATTRIBUTE_BYTES`] at a character boundary.
pub fn clip(text: &str) -> &str {
    if text.len() <= MAX_ATTRIBUTE_BYTES {
        return text;
    }
    let mut end = MAX_ATTRIBUTE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The method as a label: one of HTTP's standard methods, or `OTHER` for an
/// invented one (a client must not add series or bytes to `/metrics`).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(standard, _)| standard == method)
        .map_or("OTHER", |(_, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipped_text_keeps_whole_characters() {
        let long = "é".repeat(MAX_ATTRIBUTE_BYTES);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_ATTRIBUTE_BYTES && clipped.len() >= MAX_ATTRIBUTE_BYTES - 1);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn invented_methods_are_other() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}
