//! beth's identity and its deliberate bug, over real HTTP.

use std::time::{Duration, Instant};

async fn spawn_beth() -> String {
    let app = beth::build(&testkit::backend_config("t")).expect("beth starts");
    testkit::Running::start(app).address
}

#[tokio::test]
async fn version_answers_0_1_after_the_deliberate_two_second_delay() {
    let address = spawn_beth().await;
    let started = Instant::now();
    let response = reqwest::get(format!("{address}/version")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), beth::VERSION);
    assert_eq!(beth::VERSION, "0.1");
    assert!(
        took >= Duration::from_secs(2),
        "/version took {took:?}: the tracing lab needs its delay"
    );
}

#[tokio::test]
async fn name_is_the_beth_service() {
    let address = spawn_beth().await;
    let response = reqwest::get(format!("{address}/name")).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Otomato Beth Service");
}
