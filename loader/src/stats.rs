//! What the loader counts: answers, statuses, successes and latencies, in
//! total and over a sliding window.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One call's outcome.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    /// The HTTP status, or `None` when no answer came (refused, timed out).
    pub status: Option<u16>,
    /// What to group by: the body for a success (e.g. `0.3`), else the error.
    pub answer: String,
    pub latency: Duration,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Counts over some set of samples.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub requests: u64,
    pub succeeded: u64,
    pub success_rate: f64,
    pub error_rate: f64,
    /// Answer → count and share of all requests.
    pub answers: BTreeMap<String, Share>,
    /// Status code (or `error`) → count.
    pub statuses: BTreeMap<String, u64>,
    pub latency_ms: Latency,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Share {
    pub count: u64,
    pub share: f64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Summary {
    pub fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Self {
        let mut summary = Summary::default();
        let mut latencies = Vec::new();
        for sample in samples {
            summary.requests += 1;
            if sample.ok() {
                summary.succeeded += 1;
            }
            summary
                .answers
                .entry(sample.answer.clone())
                .or_default()
                .count += 1;
            let status = sample.status.map_or("error".to_string(), |s| s.to_string());
            *summary.statuses.entry(status).or_default() += 1;
            latencies.push(sample.latency.as_secs_f64() * 1000.0);
        }
        if summary.requests > 0 {
            let total = summary.requests as f64;
            summary.success_rate = summary.succeeded as f64 / total;
            summary.error_rate = 1.0 - summary.success_rate;
            for share in summary.answers.values_mut() {
                share.share = share.count as f64 / total;
            }
            latencies.sort_by(f64::total_cmp);
            let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
            summary.latency_ms = Latency {
                p50: at(0.50),
                p90: at(0.90),
                p99: at(0.99),
            };
        }
        summary
    }
}

/// Every sample so far, and the recent ones.
pub struct Recorder {
    window: Duration,
    recent: VecDeque<Sample>,
    all: Vec<Sample>,
}

impl Recorder {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            recent: VecDeque::new(),
            all: Vec::new(),
        }
    }

    pub fn record(&mut self, sample: Sample) {
        self.recent.push_back(sample.clone());
        self.all.push(sample);
    }

    pub fn window(&mut self, now: Instant) -> Summary {
        while self
            .recent
            .front()
            .is_some_and(|s| now.duration_since(s.at) > self.window)
        {
            self.recent.pop_front();
        }
        Summary::of(self.recent.iter())
    }

    pub fn total(&self) -> Summary {
        Summary::of(self.all.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(status: Option<u16>, answer: &str, ms: u64) -> Sample {
        Sample {
            at: Instant::now(),
            status,
            answer: answer.into(),
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn shares_rates_and_percentiles() {
        let samples = [
            sample(Some(200), "0.1", 10),
            sample(Some(200), "0.1", 20),
            sample(Some(200), "0.3", 30),
            sample(Some(500), "HTTP 500", 40),
            sample(None, "error: connection refused", 50),
        ];
        let summary = Summary::of(samples.iter());
        assert_eq!(summary.requests, 5);
        assert_eq!(summary.success_rate, 0.6);
        assert_eq!(
            summary.answers["0.1"],
            Share {
                count: 2,
                share: 0.4
            }
        );
        assert_eq!(summary.statuses["500"], 1);
        assert_eq!(summary.statuses["error"], 1);
        assert_eq!(summary.latency_ms.p50, 30.0);
        assert_eq!(summary.latency_ms.p99, 50.0);
    }
}
