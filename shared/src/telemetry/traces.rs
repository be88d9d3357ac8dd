//! Traces: each [`Tracing`] has its own OpenTelemetry tracer provider named
//! after its service (so several services in one test process still report
//! as themselves), exported over OTLP, to Zipkin's API, or both.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{Error, HttpMessage, web};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanExporter,
};

use crate::config::{TraceConfig, TraceRoot, TraceSampler};

/// How long one export may take; the span processor's thread waits, never a request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Spans waiting for export at most (per exporter); past it new spans are dropped, so a
/// collector that is down or slow costs memory up to this and no latency.
const MAX_QUEUED_SPANS: usize = 2048;
/// Spans in one export.
const MAX_SPANS_PER_EXPORT: usize = 512;
/// How often queued spans are sent.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up the {protocol} exporter for {endpoint}: {reason}")]
    Exporter {
        protocol: &'static str,
        endpoint: String,
        reason: String,
    },
}

/// One service's tracer: spans named after the service, exported where
/// [`TraceConfig`] says, or nothing at all when it names no endpoint.
#[derive(Clone, Debug, Default)]
pub struct Tracing {
    inner: Option<(SdkTracerProvider, SdkTracer)>,
}

impl Tracing {
    /// Export as `config` says; none (trace headers forwarded verbatim) when it names no endpoint.
    pub fn for_service(
        service: &'static str,
        config: &TraceConfig,
    ) -> Result<Self, TelemetryError> {
        if !config.exports() {
            return Ok(Self::default());
        }
        let name: Arc<str> = config.service_name.as_deref().unwrap_or(service).into();
        let mut provider = SdkTracerProvider::builder()
            .with_sampler(sampler(config.sampler))
            .with_resource(
                Resource::builder()
                    .with_service_name(name.to_string())
                    .build(),
            );
        // The exporters' blocking HTTP clients must be built outside any async
        // runtime; they then live on the span processors' own threads.
        let (zipkin, otlp) = (config.zipkin_endpoint.clone(), config.otlp_endpoint.clone());
        let exporters = std::thread::spawn(move || {
            let zipkin = zipkin.map(|endpoint| zipkin_exporter(name.clone(), endpoint));
            let otlp = otlp.map(otlp_exporter);
            (zipkin, otlp)
        })
        .join()
        .map_err(|_| TelemetryError::Exporter {
            protocol: "trace",
            endpoint: String::new(),
            reason: "the exporters' set-up panicked".into(),
        })?;
        if let Some(zipkin) = exporters.0 {
            provider = provider.with_span_processor(batched(zipkin?));
        }
        if let Some(otlp) = exporters.1 {
            provider = provider.with_span_processor(batched(otlp?));
        }
        let provider = provider.build();
        let tracer = provider.tracer(service);
        Ok(Self {
            inner: Some((provider, tracer)),
        })
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

/// Spans sent in batches from a thread of their own, bounded (see the constants).
fn batched(exporter: impl SpanExporter + 'static) -> BatchSpanProcessor {
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(MAX_QUEUED_SPANS)
                .with_max_export_batch_size(MAX_SPANS_PER_EXPORT)
                .with_scheduled_delay(EXPORT_EVERY)
                .build(),
        )
        .build()
}

fn http_client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

fn zipkin_exporter(
    service: Arc<str>,
    endpoint: String,
) -> Result<opentelemetry_zipkin::ZipkinExporter, TelemetryError> {
    let error = |reason: String| TelemetryError::Exporter {
        protocol: "Zipkin",
        endpoint: endpoint.clone(),
        reason,
    };
    opentelemetry_zipkin::ZipkinExporter::builder()
        .with_collector_endpoint(endpoint.clone())
        .with_http_client(NamingClient {
            service: service.clone(),
            inner: http_client().map_err(error)?,
        })
        .build()
        .map_err(|e| error(e.to_string()))
}

/// OTLP over HTTP/protobuf to `endpoint` (the traces URL, `…/v1/traces`).
fn otlp_exporter(endpoint: String) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let error = |reason: String| TelemetryError::Exporter {
        protocol: "OTLP",
        endpoint: endpoint.clone(),
        reason,
    };
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(http_client().map_err(error)?)
        .build()
        .map_err(|e| error(e.to_string()))
}

/// The OpenTelemetry sampler for OTEL_TRACES_SAMPLER's value.
fn sampler(sampler: TraceSampler) -> Sampler {
    let root = |root| match root {
        TraceRoot::AlwaysOn => Sampler::AlwaysOn,
        TraceRoot::AlwaysOff => Sampler::AlwaysOff,
        TraceRoot::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
    };
    match sampler {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        TraceSampler::ParentBased(first) => Sampler::ParentBased(Box::new(root(first))),
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
    service: Arc<str>,
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
        let body = name_spans(&body, &self.service).map_or(body, Into::into);
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
