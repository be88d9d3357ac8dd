//! aleph's identity over real HTTP: it has no delay.

mod readme;

use std::time::{Duration, Instant};

async fn spawn_aleph() -> String {
    let app = aleph::build(&backend::Config::with_database(
        testkit::server_config(),
        testkit::mongodb_uri(),
        &testkit::database("t"),
    ))
    .expect("aleph starts");
    testkit::Running::start(app).address
}

#[tokio::test]
async fn version_answers_0_1_at_once() {
    let address = spawn_aleph().await;
    let started = Instant::now();
    let response = reqwest::get(format!("{address}/version")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "0.1");
    assert!(took < Duration::from_millis(500), "/version took {took:?}");
}

#[tokio::test]
async fn name_is_the_aleph_service() {
    let address = spawn_aleph().await;
    let response = reqwest::get(format!("{address}/name")).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Otomato Aleph Service");
}

/// front's traffic view reads who answered, which attempt, and the trace, from every answer
/// (`shared::answer`); an answer without `x-served-by` is taken for Envoy's own.
#[tokio::test]
async fn every_answer_names_its_pod_attempt_and_trace() {
    let mut server = testkit::server_config();
    server.pod_name = "aleph-v01-7d4f9-q7m2z".into();
    let app = aleph::build(&backend::Config::with_database(
        server,
        testkit::mongodb_uri(),
        &testkit::database("t"),
    ))
    .expect("aleph starts");
    let address = testkit::Running::start(app).address;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client = reqwest::Client::new();
    for path in ["/version", "/nowhere"] {
        let response = client
            .get(format!("{address}{path}"))
            .header("x-envoy-attempt-count", "2")
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            header("x-served-by"),
            Some("aleph-v01-7d4f9-q7m2z"),
            "{path}"
        );
        assert_eq!(header("x-attempt"), Some("2"), "{path}");
        assert_eq!(header("x-trace-id"), Some(trace), "{path}");
    }
    // A B3 trace id, and an attempt count that is none: no attempt said.
    let response = client
        .get(format!("{address}/version"))
        .header("x-envoy-attempt-count", "many")
        .header("x-b3-traceid", trace)
        .header("x-b3-spanid", "00f067aa0ba902b7")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("x-attempt").is_none());
    assert_eq!(response.headers()["x-trace-id"], trace);
}
