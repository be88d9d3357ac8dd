//! loader against a real HTTP server on 127.0.0.1 that answers a known mix:
//! `0.1`, `0.1`, `0.3`, then HTTP 500, over and over.

use std::process::Command;

mod serve;

use loader::Options;
use testkit::stub::{Behaviour, Stub};

/// Starts the mixed server; returns its /version URL.
fn mixed_backend() -> String {
    Stub::start(Behaviour::Canary).url("/version")
}

fn options(args: &[&str]) -> Options {
    Options::parse(args.iter().map(|s| s.to_string())).unwrap()
}

#[tokio::test]
async fn shares_and_success_rate_follow_the_answers() {
    let url = mixed_backend();
    let report = loader::run(
        options(&[
            &url,
            "--rate",
            "200",
            "--duration",
            "1s",
            "--concurrency",
            "1",
        ]),
        std::io::sink(),
    )
    .await;
    let total = &report.total;
    assert!(total.requests >= 100, "{total:?}");
    let count = |answer: &str| total.answers.get(answer).map_or(0, |s| s.count) as i64;
    let quarter = total.requests as i64 / 4;
    // One caller in turn: the mix comes back exactly, give or take the last round.
    assert!((count("0.1") - 2 * quarter).abs() <= 2, "{total:?}");
    assert!((count("0.3") - quarter).abs() <= 1, "{total:?}");
    assert!((count("HTTP 500") - quarter).abs() <= 1, "{total:?}");
    assert!((total.success_rate - 0.75).abs() < 0.02, "{total:?}");
    assert_eq!(total.statuses["500"] as i64, count("HTTP 500"));
    assert!(report.passed, "no error budget was set");
}

#[tokio::test]
async fn the_error_budget_decides_the_exit_code() {
    let url = mixed_backend();
    let strict = loader::run(
        options(&[
            &url,
            "--rate",
            "100",
            "--duration",
            "500ms",
            "--max-error-rate",
            "0.1",
        ]),
        std::io::sink(),
    )
    .await;
    assert_eq!(strict.exit_code(), 1, "25% failed, 10% allowed");
    let lenient = loader::run(
        options(&[
            &url,
            "--rate",
            "100",
            "--duration",
            "500ms",
            "--max-error-rate",
            "0.5",
        ]),
        std::io::sink(),
    )
    .await;
    assert_eq!(lenient.exit_code(), 0);
}

#[tokio::test]
async fn a_cookie_shows_the_dark_launch() {
    let url = mixed_backend();
    let report = loader::run(
        options(&[
            &url,
            "--rate",
            "50",
            "--duration",
            "300ms",
            "--cookie",
            "user=developer",
        ]),
        std::io::sink(),
    )
    .await;
    assert_eq!(report.total.answers.keys().collect::<Vec<_>>(), ["0.3"]);
    assert_eq!(report.total.success_rate, 1.0);
}

#[tokio::test]
async fn a_dead_address_counts_as_failures_not_a_crash() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/version");
    let report = loader::run(
        options(&[
            &url,
            "--rate",
            "50",
            "--duration",
            "300ms",
            "--max-error-rate",
            "0",
        ]),
        std::io::sink(),
    )
    .await;
    assert!(report.total.requests > 0);
    assert_eq!(report.total.success_rate, 0.0);
    assert_eq!(report.total.statuses.keys().collect::<Vec<_>>(), ["error"]);
    assert_eq!(report.exit_code(), 1);
}

/// The binary as the labs run it: plain lines when not on a terminal, JSON last.
#[tokio::test]
async fn the_binary_prints_progress_lines_and_json_last() {
    let url = mixed_backend();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loader"))
            .args([
                &url,
                "--rate",
                "40",
                "--duration",
                "2500ms",
                "--interval",
                "1s",
                "--json",
                "--max-error-rate",
                "0.3",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with('[') && l.contains("ok, p50"))
            .count()
            >= 2,
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no terminal codes in logs: {stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(lines.last().unwrap()).expect("JSON on the last line");
    assert!(
        (summary["success_rate"].as_f64().unwrap() - 0.75).abs() < 0.05,
        "{summary}"
    );
    assert!(summary["answers"]["0.3"]["share"].as_f64().unwrap() > 0.2);
    assert_eq!(summary["passed"], true);

    let bad = Command::new(env!("CARGO_BIN_EXE_loader"))
        .args(["--rate", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Usage: loader URL"));
}
