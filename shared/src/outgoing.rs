//! Calls to other services, carrying the request's propagated headers and,
//! when tracing is on, a client span of their own.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use crate::propagation::{ClientSpanIds, Propagated};
use crate::telemetry::{RequestTrace, end_span};

/// What a handler needs to call another service on behalf of its request.
#[derive(Clone)]
pub struct Outgoing {
    propagated: Propagated,
    trace: RequestTrace,
}

impl Outgoing {
    /// Calls that carry `propagated` and belong to no request's trace.
    pub fn detached(propagated: Propagated) -> Self {
        Self {
            propagated,
            trace: RequestTrace::default(),
        }
    }

    pub fn propagated(&self) -> &Propagated {
        &self.propagated
    }

    /// Sends `request` with the propagated headers, inside a client span
    /// named `name` (e.g. `GET /version`) towards `peer` when tracing is on.
    pub async fn send(
        &self,
        peer: &str,
        name: String,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let span = self.trace.child(
            name,
            SpanKind::Client,
            vec![KeyValue::new("peer.service", peer.to_string())],
        );
        let ids = span.as_ref().map(|cx| ClientSpanIds {
            context: cx.clone(),
            parent_span_id: self.trace.span_id(),
        });
        let mut request = request;
        for (name, value) in self.propagated.outgoing(ids.as_ref()) {
            request = request.header(name, value);
        }
        let result = request.send().await;
        if let Some(cx) = &span {
            match &result {
                Ok(response) => end_span(cx, Some(response.status().as_u16()), None),
                Err(error) => end_span(cx, None, Some(&error.to_string())),
            }
        }
        result
    }
}

impl FromRequest for Outgoing {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let trace = match RequestTrace::from_request(req, payload).into_inner() {
            Ok(trace) => trace,
            Err(error) => return ready(Err(error)),
        };
        ready(Ok(Self {
            propagated: Propagated::from_request(req),
            trace,
        }))
    }
}
