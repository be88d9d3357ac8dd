//! The fault knobs over real HTTP: `FAULT_*` at start, `PUT /faults` on the
//! admin port while running.

use std::time::{Duration, Instant};

use backend::faults::FaultSettings;
use serde_json::json;

use crate::helpers::{config_for, get, spawn_backend};

async fn spawn_with_faults(faults: FaultSettings) -> testkit::Running {
    let mut config = config_for(testkit::mongodb_uri(), &testkit::database("faults"));
    config.faults = faults;
    spawn_backend(config).await
}

async fn put_faults(admin: &str, body: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .put(format!("{admin}/faults"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the admin port answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).expect("a JSON body"))
}

#[tokio::test]
async fn an_error_rate_of_one_half_fails_about_half_the_calls_with_503() {
    let app = spawn_with_faults(FaultSettings {
        error_rate: 0.5,
        ..Default::default()
    })
    .await;
    let mut failed = 0;
    for _ in 0..400 {
        let (status, body) = get(&format!("{}/version", app.address)).await;
        match status {
            503 => {
                assert!(body.contains("fault injected"), "{body}");
                failed += 1;
            }
            200 => assert_eq!(body, "9.9"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!((140..=260).contains(&failed), "{failed} of 400 failed");
    // Counted with their real status.
    let (_, metrics) = get(&format!("{}/metrics", app.metrics_address)).await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains("route=\"/version\"")
                && l.contains("status=\"503\"")
        })
        .expect("the injected 503s are in the metrics");
    assert!(line.ends_with(&format!(" {failed}")), "{line}");
}

#[tokio::test]
async fn a_delay_holds_every_call_that_long_first() {
    let app = spawn_with_faults(FaultSettings {
        delay: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let (status, body) = get(&format!("{}/name", app.address)).await;
    assert_eq!((status, body.as_str()), (200, "Otomato Gimel Service"));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn health_and_readiness_are_never_faulted() {
    let app = spawn_with_faults(FaultSettings {
        error_rate: 1.0,
        delay: Some(Duration::from_secs(5)),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    for path in ["/healthz", "/readyz"] {
        for _ in 0..20 {
            assert_eq!(get(&format!("{}{path}", app.address)).await.0, 200);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        get(&format!("{}/metrics", app.metrics_address)).await.0,
        200
    );
}

#[tokio::test]
async fn put_faults_takes_effect_on_the_next_request_and_bad_values_change_nothing() {
    let app = spawn_with_faults(FaultSettings::default()).await;
    let admin = &app.metrics_address;
    let (status, shown) = get(&format!("{admin}/faults")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
        json!({"error_rate": 0.0, "error_status": 503, "delay": null, "delay_rate": 1.0})
    );

    let (status, now) = put_faults(admin, r#"{"error_rate": 1, "error_status": 500}"#).await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["error_rate"], 1.0);
    assert_eq!(get(&format!("{}/version", app.address)).await.0, 500);

    for bad in [
        r#"{"error_rate": 0, "error_status": 200}"#,
        r#"{"error_rate": 0, "delay": "soon"}"#,
        r#"{"error_rate": 0, "delay_rate": 2}"#,
        r#"{"error_rate": 0, "wieght": 1}"#,
        r#"[1, 2]"#,
        "not json",
    ] {
        let (status, answer) = put_faults(admin, bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].as_str().is_some(), "{answer}");
    }
    // Nothing changed: still failing every call with 500.
    assert_eq!(get(&format!("{}/version", app.address)).await.0, 500);

    let (status, _) = put_faults(admin, r#"{"error_rate": 0, "delay": "200ms"}"#).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    assert_eq!(get(&format!("{}/version", app.address)).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Not on the API port: no Service exposes the knobs.
    assert_eq!(get(&format!("{}/faults", app.address)).await.0, 404);
}
