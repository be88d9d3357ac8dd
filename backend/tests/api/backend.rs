use std::time::{Duration, Instant};

use crate::helpers::{config_for, get, spawn_backend};

#[tokio::test]
async fn healthz_says_healthy_and_readyz_is_ready_while_serving() {
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &testkit::database("t"))).await;
    assert_eq!(
        get(&format!("{}/healthz", app.address)).await,
        (200, "Healthy".into())
    );
    assert_eq!(get(&format!("{}/readyz", app.address)).await.0, 200);
}

#[tokio::test]
async fn name_and_version_answer_in_plain_text() {
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &testkit::database("t"))).await;
    assert_eq!(
        get(&format!("{}/name", app.address)).await,
        (200, "Otomato Gimel Service".into())
    );
    let response = reqwest::get(format!("{}/version", app.address))
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "9.9");
}

#[tokio::test]
async fn ping_counts_down_from_five_seconds() {
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &testkit::database("t"))).await;
    let url = format!("{}/ping", app.address);
    let started = Instant::now();
    assert_eq!(get(&url).await, (200, "Pong 4".into()));
    let first = started.elapsed();
    assert!(first >= Duration::from_secs(5), "first ping took {first:?}");
    let started = Instant::now();
    assert_eq!(get(&url).await, (200, "Pong 3".into()));
    let second = started.elapsed();
    assert!(
        second >= Duration::from_secs(4) && second < Duration::from_secs(5),
        "second ping took {second:?}"
    );
}

#[tokio::test]
async fn headers_echoes_what_the_service_received() {
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &testkit::database("t"))).await;
    let echoed = reqwest::Client::new()
        .get(format!("{}/headers", app.address))
        .header("x-request-id", "abc-123")
        .header("cookie", "user=developer")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echoed: serde_json::Value = serde_json::from_str(&echoed).unwrap();
    assert_eq!(echoed["x-request-id"], "abc-123");
    assert_eq!(echoed["cookie"], "user=developer");
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_on_the_metrics_port() {
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &testkit::database("t"))).await;
    for _ in 0..3 {
        get(&format!("{}/version", app.address)).await;
    }
    get(&format!("{}/no/such/page", app.address)).await;
    let (status, text) = get(&format!("{}/metrics", app.metrics_address)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/version",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_count{method="GET",route="/version"} 3"#),
        "{text}"
    );
    // Unknown paths share one series instead of one each.
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains("/no/such/page"));
    // The API port does not serve metrics.
    assert_eq!(get(&format!("{}/metrics", app.address)).await.0, 404);
}
