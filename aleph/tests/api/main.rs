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
