//! Prometheus metrics: what Grafana's Istio dashboards cannot see from the
//! sidecar alone, labelled by route pattern (never by raw path, which would
//! give a series per device id).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{HttpResponse, web};
use prometheus::core::Collector;
use prometheus::proto::{Counter, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, TextEncoder};

/// One service's metrics, served on its metrics port.
///
/// Each server worker counts into a [`MetricsShard`] of its own, added up when `/metrics` is
/// read: with one set for all, every request's atomics passed their cache lines between the
/// workers' cores.
#[derive(Clone, Default)]
pub struct Metrics {
    shards: Arc<Mutex<Vec<MetricsShard>>>,
}

/// One worker's counts (see [`Metrics`]).
#[derive(Clone)]
pub struct MetricsShard {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new shard, counted in from now on: for one worker (actix builds each worker's app
    /// with the server's factory, once per worker).
    pub fn shard(&self) -> MetricsShard {
        let shard = MetricsShard::new();
        self.shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(shard.clone());
        shard
    }

    /// The Prometheus text exposition of every metric, the shards added up.
    pub fn render(&self) -> String {
        let shards = self
            .shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let families: Vec<MetricFamily> = [
            merge(shards.iter().map(|s| s.requests.collect())),
            merge(shards.iter().map(|s| s.duration.collect())),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&families, &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl MetricsShard {
    fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by route pattern",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by route pattern",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric definition");
        Self { requests, duration }
    }

    /// Counts and times one request (see `telemetry::observe_requests`).
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status_label(status)])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }
}

/// One family from the shards' copies of it, each series' counts (and a histogram's sum and
/// buckets) added up; series in label order. `None` while no series has been counted.
fn merge(copies: impl Iterator<Item = Vec<MetricFamily>>) -> Option<MetricFamily> {
    let mut family: Option<MetricFamily> = None;
    let mut series: BTreeMap<Vec<String>, Metric> = BTreeMap::new();
    for mut copy in copies.flatten() {
        let kind = copy.get_field_type();
        for metric in copy.take_metric() {
            let labels = metric
                .get_label()
                .iter()
                .map(|l| l.value().to_owned())
                .collect();
            match series.entry(labels) {
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(metric);
                }
                std::collections::btree_map::Entry::Occupied(mut entry) => {
                    add(kind, entry.get_mut(), &metric)
                }
            }
        }
        family.get_or_insert(copy);
    }
    let mut family = family.filter(|_| !series.is_empty())?;
    family.set_metric(series.into_values().collect());
    Some(family)
}

/// Adds `other`'s counts into `sum`, both one series of a family of this kind.
fn add(kind: MetricType, sum: &mut Metric, other: &Metric) {
    match kind {
        MetricType::COUNTER => {
            let mut counter = Counter::default();
            counter.set_value(sum.get_counter().get_value() + other.get_counter().get_value());
            sum.set_counter(counter);
        }
        MetricType::HISTOGRAM => {
            let (mine, theirs) = (sum.get_histogram(), other.get_histogram());
            let mut histogram = mine.clone();
            histogram.set_sample_count(mine.get_sample_count() + theirs.get_sample_count());
            histogram.set_sample_sum(mine.get_sample_sum() + theirs.get_sample_sum());
            let mut buckets = mine.get_bucket().to_vec();
            for (bucket, more) in buckets.iter_mut().zip(theirs.get_bucket()) {
                bucket.set_cumulative_count(bucket.cumulative_count() + more.cumulative_count());
            }
            histogram.set_bucket(buckets);
            sum.set_histogram(histogram);
        }
        // Only counters and histograms are kept here.
        _ => {}
    }
}

/// A status code as a label, without an allocation per request: HTTP status
/// codes have three digits.
fn status_label(status: u16) -> &'static str {
    static LABELS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (0..1000).map(|code| code.to_string()).collect());
    LABELS
        .get(usize::from(status))
        .map_or("other", String::as_str)
}

/// `GET /metrics` on the metrics port.
pub async fn serve(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTS: [(&str, &str, u16, f64); 6] = [
        ("GET", "/version", 200, 0.001),
        ("GET", "/version", 200, 0.5),
        ("GET", "/device/{id}", 404, 0.0625),
        ("POST", "/device", 201, 3.0),
        ("GET", "/version", 500, 0.25),
        ("GET", "/device/{id}", 200, 12.0),
    ];

    #[test]
    fn the_shards_add_up_to_what_one_set_would_count() {
        let one = Metrics::new();
        let shard = one.shard();
        for (method, route, status, seconds) in REQUESTS {
            shard.observe(method, route, status, seconds);
        }
        let two = Metrics::new();
        let shards = [two.shard(), two.shard()];
        for (i, (method, route, status, seconds)) in REQUESTS.into_iter().enumerate() {
            shards[i % 2].observe(method, route, status, seconds);
        }
        let text = two.render();
        assert_eq!(text, one.render());
        for line in [
            r#"http_requests_total{method="GET",route="/version",status="200"} 2"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/version",le="0.25"} 2"#,
            r#"http_request_duration_seconds_sum{method="GET",route="/version"} 0.751"#,
            r#"http_request_duration_seconds_count{method="GET",route="/device/{id}"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }

    #[test]
    fn nothing_counted_renders_nothing() {
        let metrics = Metrics::new();
        let _shard = metrics.shard();
        assert_eq!(metrics.render(), "");
    }
}
