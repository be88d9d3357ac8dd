//! Traces: each [`Tracing`] has its own OpenTelemetry tracer provider named
//! after its service (so several services in one test process still report
//! as themselves), exported to Zipkin's API.

use std::time::Duration;

use actix_web::{Error, HttpMessage, web};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up the Zipkin exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
}

/// One service's tracer: spans named after the service, exported to Zipkin,
/// or nothing at all when no endpoint is configured.
#[derive(Clone, Debug, Default)]
pub struct Tracing {
    inner: Option<(SdkTracerProvider, SdkTracer)>,
}

impl Tracing {
    /// No tracing: trace headers are forwarded verbatim.
    fn disabled() -> Self {
        Self::default()
    }

    pub fn zipkin(service: &'static str, endpoint: &str) -> Result<Self, TelemetryError> {
        let owned = endpoint.to_string();
        // The exporter's blocking HTTP client must be built outside any async
        // runtime; it then lives on the span processor's own thread.
        let exporter = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?;
            opentelemetry_zipkin::ZipkinExporter::builder()
                .with_collector_endpoint(owned)
                .with_http_client(NamingClient {
                    service,
                    inner: client,
                })
                .build()
                .map_err(|e| e.to_string())
        })
        .join()
        .map_err(|_| TelemetryError::Exporter {
            endpoint: endpoint.to_string(),
            reason: "the exporter's set-up panicked".into(),
        })?
        .map_err(|reason| TelemetryError::Exporter {
            endpoint: endpoint.to_string(),
            reason,
        })?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_secs(1))
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let tracer = provider.tracer(service);
        Ok(Self {
            inner: Some((provider, tracer)),
        })
    }

    /// Zipkin export when `endpoint` is set (ZIPKIN_ENDPOINT), else none.
    pub fn for_service(
        service: &'static str,
        endpoint: Option<&str>,
    ) -> Result<Self, TelemetryError> {
        match endpoint {
            Some(endpoint) => Self::zipkin(service, endpoint),
            None => Ok(Self::disabled()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts a span as a child of `parent`; `None` when tracing is off.
    pub fn start(
        &self,
        parent: &Context,
        name: String,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Option<Context> {
        let (_, tracer) = self.inner.as_ref()?;
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(tracer, parent);
        Some(parent.with_span(span))
    }

    /// Exports what is still buffered and stops the exporter. Blocking: call
    /// from a blocking thread.
    pub fn shutdown(&self) {
        if let Some((provider, _)) = &self.inner
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "could not flush the last spans");
        }
    }
}

/// Names the service in every span it posts to Zipkin.
///
/// opentelemetry-zipkin 0.33 leaves `localEndpoint` empty (it dropped the
/// service name when the name moved to the `Resource`), so Jaeger would show
/// `unknown-service-name`. This client adds `localEndpoint.serviceName`, and
/// `remoteEndpoint.serviceName` from `peer.service` so the dependency graph
/// shows front → aleph and front → beth.
#[derive(Debug)]
struct NamingClient {
    service: &'static str,
    inner: reqwest::blocking::Client,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for NamingClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let body = name_spans(&body, self.service).map_or(body, Into::into);
        self.inner
            .send_bytes(opentelemetry_http::Request::from_parts(parts, body))
            .await
    }
}

/// The Zipkin JSON v2 batch with service names filled in.
fn name_spans(batch: &[u8], service: &str) -> Option<Vec<u8>> {
    let mut spans: Vec<serde_json::Value> = serde_json::from_slice(batch).ok()?;
    for span in spans.iter_mut().filter_map(|s| s.as_object_mut()) {
        let peer = span
            .get("tags")
            .and_then(|t| t.get("peer.service"))
            .cloned();
        span.entry("localEndpoint")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()?
            .insert("serviceName".into(), service.into());
        // A root span has no parent: Zipkin's format omits the field.
        if span.get("parentId").and_then(|p| p.as_str()) == Some("0000000000000000") {
            span.remove("parentId");
        }
        if let Some(peer) = peer {
            span.insert(
                "remoteEndpoint".into(),
                serde_json::json!({ "serviceName": peer }),
            );
        }
    }
    serde_json::to_vec(&spans).ok()
}

/// Ends the span in `cx` with an HTTP status (errors for 5xx, as Zipkin marks them).
pub fn end_span(cx: &Context, status: Option<u16>, error: Option<&str>) {
    let span = cx.span();
    if let Some(status) = status {
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(format!("HTTP {status}")));
        }
    }
    if let Some(error) = error {
        span.set_status(Status::error(error.to_string()));
    }
    span.end();
}

/// The server span of the request being handled (request extension).
#[derive(Clone)]
pub(super) struct RequestSpan(pub(super) Context);

/// A handler's view of its request's trace: starts child spans (calls to
/// other services, MongoDB operations) under the request's server span.
#[derive(Clone, Default)]
pub struct RequestTrace {
    tracing: Tracing,
    parent: Option<Context>,
}

impl RequestTrace {
    /// Starts a child span of the request; `None` when tracing is off.
    pub fn child(
        &self,
        name: String,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Option<Context> {
        let parent = self.parent.clone().unwrap_or_default();
        self.tracing.start(&parent, name, kind, attributes)
    }

    /// The id of the request's own (server) span.
    pub fn span_id(&self) -> Option<opentelemetry::trace::SpanId> {
        self.parent
            .as_ref()
            .map(|cx| cx.span().span_context().span_id())
    }
}

impl actix_web::FromRequest for RequestTrace {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Self {
            tracing: req
                .app_data::<web::Data<Tracing>>()
                .map(|t| t.get_ref().clone())
                .unwrap_or_default(),
            parent: req.extensions().get::<RequestSpan>().map(|s| s.0.clone()),
        }))
    }
}
