//! What the loader counts: answers, statuses, successes and latencies, in
//! total and over a sliding window.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
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

/// The most distinct answers counted by name; more are counted together, so
/// a backend that answers something new every time cannot grow the loader.
const MAX_ANSWERS: usize = 32;
/// Where the answers beyond [`MAX_ANSWERS`] are counted.
const OTHER_ANSWERS: &str = "(other answers)";

/// Latencies from 1 µs to 10 minutes, to 2 significant digits: a fixed few
/// kilobytes however long the run.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds")
}

/// Counts over some set of samples, in fixed memory.
#[derive(Clone)]
pub struct Tally {
    requests: u64,
    succeeded: u64,
    answers: BTreeMap<String, u64>,
    statuses: BTreeMap<String, u64>,
    latency_us: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            requests: 0,
            succeeded: 0,
            answers: BTreeMap::new(),
            statuses: BTreeMap::new(),
            latency_us: latency_histogram(),
        }
    }
}

impl Tally {
    pub fn add(&mut self, sample: &Sample) {
        self.requests += 1;
        if sample.ok() {
            self.succeeded += 1;
        }
        let answer =
            if self.answers.contains_key(&sample.answer) || self.answers.len() < MAX_ANSWERS {
                sample.answer.as_str()
            } else {
                OTHER_ANSWERS
            };
        *self.answers.entry(answer.to_string()).or_default() += 1;
        let status = sample.status.map_or("error".to_string(), |s| s.to_string());
        *self.statuses.entry(status).or_default() += 1;
        self.latency_us
            .saturating_record(sample.latency.as_micros().try_into().unwrap_or(u64::MAX));
    }

    fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.succeeded += other.succeeded;
        for (answer, count) in &other.answers {
            *self.answers.entry(answer.clone()).or_default() += count;
        }
        for (status, count) in &other.statuses {
            *self.statuses.entry(status.clone()).or_default() += count;
        }
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            requests: self.requests,
            succeeded: self.succeeded,
            statuses: self.statuses.clone(),
            ..Summary::default()
        };
        if self.requests > 0 {
            let total = self.requests as f64;
            summary.success_rate = self.succeeded as f64 / total;
            summary.error_rate = 1.0 - summary.success_rate;
            summary.answers = self
                .answers
                .iter()
                .map(|(answer, &count)| {
                    let share = count as f64 / total;
                    (answer.clone(), Share { count, share })
                })
                .collect();
            let at = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1000.0;
            summary.latency_ms = Latency {
                p50: at(0.50),
                p90: at(0.90),
                p99: at(0.99),
            };
        }
        summary
    }
}

impl Summary {
    pub fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Self {
        let mut tally = Tally::default();
        for sample in samples {
            tally.add(sample);
        }
        tally.summary()
    }
}

/// The total so far, and the recent window in one-second buckets: memory
/// does not grow with the run's length or rate.
pub struct Recorder {
    bucket: Duration,
    started: Instant,
    /// (second since start, its tally), oldest first, at most the window's seconds.
    recent: VecDeque<(u64, Tally)>,
    buckets: usize,
    total: Tally,
}

impl Recorder {
    pub fn new(window: Duration) -> Self {
        let bucket = Duration::from_secs(1);
        Self {
            bucket,
            started: Instant::now(),
            recent: VecDeque::new(),
            // The window in whole seconds, at least one, at most an hour.
            buckets: (window.as_secs_f64() / bucket.as_secs_f64())
                .ceil()
                .clamp(1.0, 3600.0) as usize,
            total: Tally::default(),
        }
    }

    fn second(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_secs() / self.bucket.as_secs().max(1)
    }

    pub fn record(&mut self, sample: Sample) {
        self.total.add(&sample);
        let second = self.second(sample.at);
        match self.recent.back_mut() {
            Some((last, tally)) if *last == second => tally.add(&sample),
            _ => {
                let mut tally = Tally::default();
                tally.add(&sample);
                self.recent.push_back((second, tally));
            }
        }
        self.forget_before(second);
    }

    fn forget_before(&mut self, now_second: u64) {
        let oldest = now_second.saturating_sub(self.buckets as u64 - 1);
        while self.recent.front().is_some_and(|(s, _)| *s < oldest) {
            self.recent.pop_front();
        }
    }

    pub fn window(&mut self, now: Instant) -> Summary {
        self.forget_before(self.second(now));
        let mut tally = Tally::default();
        for (_, bucket) in &self.recent {
            tally.merge(bucket);
        }
        tally.summary()
    }

    pub fn total(&self) -> Summary {
        self.total.summary()
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
        assert!((summary.latency_ms.p50 - 30.0).abs() < 0.5, "{summary:?}");
        assert!((summary.latency_ms.p99 - 50.0).abs() < 0.5, "{summary:?}");
    }

    #[test]
    fn memory_is_bounded_however_many_answers_and_seconds() {
        let mut recorder = Recorder::new(Duration::from_secs(10));
        let start = recorder.started;
        for n in 0..10_000u64 {
            recorder.record(Sample {
                at: start + Duration::from_millis(n * 10),
                status: Some(200),
                answer: format!("answer {n}"),
                latency: Duration::from_millis(n % 100),
            });
        }
        assert!(recorder.recent.len() <= 10);
        let total = recorder.total();
        assert_eq!(total.requests, 10_000);
        assert_eq!(total.answers.len(), MAX_ANSWERS + 1);
        assert_eq!(
            total.answers[OTHER_ANSWERS].count,
            10_000 - MAX_ANSWERS as u64
        );
    }
}
