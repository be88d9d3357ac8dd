//! loader: steady traffic for the mirroring and canary labs. It replaces the
//! slides' `while true; do curl http://beth/version; done` and shows what the
//! learner is looking for: the share of each version, and whether it fails.

pub mod options;
pub mod serve;
pub mod stats;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

pub use options::Options;
use stats::{Recorder, Sample, Summary};

/// Longest answer kept as a group name (a version is short; an HTML error page is not).
const MAX_ANSWER: usize = 60;

/// What a run ends with: the totals and whether the error budget held.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub seconds: f64,
    #[serde(flatten)]
    pub total: Summary,
    pub max_error_rate: Option<f64>,
    pub passed: bool,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        if self.passed { 0 } else { 1 }
    }
}

fn answer_of(status: u16, body: &str) -> String {
    let text = body.trim();
    if (200..300).contains(&status)
        && !text.is_empty()
        && text.len() <= MAX_ANSWER
        && !text.contains('\n')
    {
        text.to_string()
    } else if (200..300).contains(&status) {
        format!("HTTP {status} (body of {} bytes)", body.len())
    } else {
        format!("HTTP {status}")
    }
}

async fn call(client: &reqwest::Client, options: &Options) -> Sample {
    let started = Instant::now();
    let mut request = client.get(&options.url);
    for (name, value) in &options.headers {
        request = request.header(name, value);
    }
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (Some(status), answer_of(status, &body))
        }
        Err(error) if error.is_timeout() => (None, "error: timed out".into()),
        Err(error) if error.is_connect() => (None, "error: cannot connect".into()),
        Err(_) => (None, "error: no answer".into()),
    };
    Sample {
        at: Instant::now(),
        status,
        answer,
        latency: started.elapsed(),
    }
}

/// Runs until `options.duration` (or Ctrl-C), showing progress on `out`.
///
/// The calls send their samples over a channel to this loop, the one owner
/// of the counts: no call ever waits for the display, and the counts stay a
/// fixed size however long the run (see `stats`).
pub async fn run(options: Options, mut out: impl Write + Send) -> Report {
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .build()
        .unwrap_or_default();
    let mut recorder = Recorder::new(options.window);
    let in_flight = Arc::new(Semaphore::new(options.concurrency));
    let (samples, mut received) = tokio::sync::mpsc::channel::<Sample>(options.concurrency);
    let terminal = std::io::stdout().is_terminal();
    let started = Instant::now();
    let deadline = options.duration.map(|d| started + d);

    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refresh = tokio::time::interval(options.interval);
    refresh.tick().await;
    let mut tasks = tokio::task::JoinSet::new();
    let stop = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(sample) = received.recv() => recorder.record(sample),
            _ = refresh.tick() => {
                let window = recorder.window(Instant::now());
                let total = recorder.total();
                let _ = display(&mut out, &options, started.elapsed(), &window, &total, terminal);
            }
            _ = ticks.tick() => {
                let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                let client = client.clone();
                let options = options.clone();
                let samples = samples.clone();
                tasks.spawn(async move {
                    let sample = call(&client, &options).await;
                    // The slot first: the loop may be waiting for one, not reading.
                    drop(permit);
                    let _ = samples.send(sample).await;
                });
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    // Calls already sent still count; they end within the timeout.
    drop(samples);
    let finishing = async {
        while let Some(sample) = received.recv().await {
            recorder.record(sample);
        }
    };
    finishing.await;
    while tasks.join_next().await.is_some() {}
    let total = recorder.total();
    let passed = options
        .max_error_rate
        .is_none_or(|max| total.error_rate <= max);
    Report {
        url: options.url.clone(),
        seconds: started.elapsed().as_secs_f64(),
        total,
        max_error_rate: options.max_error_rate,
        passed,
    }
}

fn percent(share: f64) -> String {
    format!("{:5.1}%", share * 100.0)
}

/// One block (terminal, redrawn in place) or one line (logs) of progress.
fn display(
    out: &mut impl Write,
    options: &Options,
    elapsed: Duration,
    window: &Summary,
    total: &Summary,
    terminal: bool,
) -> std::io::Result<()> {
    if terminal {
        write!(out, "\x1b[H\x1b[2J")?;
        writeln!(
            out,
            "loader {}  {:.0}s  rate {}/s",
            options.url,
            elapsed.as_secs_f64(),
            options.rate
        )?;
        for (title, summary) in [
            (format!("last {:?}", options.window), window),
            ("total".to_string(), total),
        ] {
            writeln!(
                out,
                "\n{title}: {} requests, {} ok, latency p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms",
                summary.requests,
                percent(summary.success_rate),
                summary.latency_ms.p50,
                summary.latency_ms.p90,
                summary.latency_ms.p99
            )?;
            for (answer, share) in &summary.answers {
                let bar = "#".repeat((share.share * 40.0).round() as usize);
                writeln!(
                    out,
                    "  {} {:>6}  {answer:<24} {bar}",
                    percent(share.share),
                    share.count
                )?;
            }
            let statuses: Vec<String> = summary
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            writeln!(out, "  status {}", statuses.join("  "))?;
        }
    } else {
        let answers: Vec<String> = window
            .answers
            .iter()
            .map(|(a, s)| format!("{a} {}", percent(s.share).trim()))
            .collect();
        writeln!(
            out,
            "[{:>4.0}s] last {:?}: {} req, {} ok, p50 {:.1}ms p90 {:.1}ms p99 {:.1}ms | {} | total {} req, {} ok",
            elapsed.as_secs_f64(),
            options.window,
            window.requests,
            percent(window.success_rate).trim(),
            window.latency_ms.p50,
            window.latency_ms.p90,
            window.latency_ms.p99,
            answers.join(", "),
            total.requests,
            percent(total.success_rate).trim(),
        )?;
    }
    out.flush()
}

/// The final summary, for people.
pub fn print_summary(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    let total = &report.total;
    writeln!(
        out,
        "\n{} in {:.1}s: {} requests, {} ok",
        report.url,
        report.seconds,
        total.requests,
        percent(total.success_rate).trim()
    )?;
    for (answer, share) in &total.answers {
        writeln!(
            out,
            "  {} {:>6}  {answer}",
            percent(share.share),
            share.count
        )?;
    }
    writeln!(
        out,
        "  latency p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms",
        total.latency_ms.p50, total.latency_ms.p90, total.latency_ms.p99
    )?;
    if let Some(max) = report.max_error_rate {
        let verdict = if report.passed { "within" } else { "OVER" };
        writeln!(
            out,
            "  error rate {} {verdict} the allowed {}",
            percent(total.error_rate).trim(),
            percent(max).trim()
        )?;
    }
    Ok(())
}
