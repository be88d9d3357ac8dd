use std::time::{Duration, Instant};

use crate::helpers::{config_for, get, spawn_backend};

#[tokio::test]
async fn shutdown_turns_readyz_503_and_lets_in_flight_requests_finish() {
    let mut config = config_for(testkit::mongodb_uri(), &testkit::database("t"));
    config.server.shutdown_delay = Duration::from_millis(800);
    let app = spawn_backend(config).await;

    // A slow request in flight: the first /ping waits 5 s.
    let in_flight = tokio::spawn(get(format!("{}/ping", app.address).leak()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    app.shutdown.trigger();
    assert_eq!(get(&format!("{}/readyz", app.address)).await.0, 503);
    // Still alive (liveness must not fail while draining).
    assert_eq!(get(&format!("{}/healthz", app.address)).await.0, 200);

    assert_eq!(in_flight.await.unwrap(), (200, "Pong 4".into()));
    app.stopped.await.unwrap().expect("a clean stop");
    assert!(started.elapsed() < Duration::from_secs(8));
    // Nothing listens any more.
    assert!(
        reqwest::get(format!("{}/healthz", app.address))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn in_flight_requests_are_cut_after_the_grace_period() {
    let mut config = config_for(testkit::mongodb_uri(), &testkit::database("t"));
    config.server.shutdown_grace = Duration::from_secs(1);
    let app = spawn_backend(config).await;
    let in_flight = tokio::spawn(reqwest::get(format!("{}/ping", app.address)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    app.shutdown.trigger();
    app.stopped.await.unwrap().expect("a clean stop");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "stopping took {took:?}");
    assert!(in_flight.await.unwrap().is_err(), "the 5 s ping was cut");
}
