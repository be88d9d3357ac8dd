//! The live traffic view's stream, over real HTTP (the page itself is
//! checked in Chromium, see browser.rs).

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{client, spawn_front};
use testkit::stub::{Behaviour, Stub};

/// Reads `count` tiles from the stream.
async fn tiles(response: &mut reqwest::Response, count: usize) -> Vec<Value> {
    let mut buffer = String::new();
    let mut tiles = Vec::new();
    while tiles.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("a tile within 5 s")
            .unwrap()
            .expect("the stream goes on");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.strip_prefix("data: ") {
                tiles.push(serde_json::from_str(data.trim()).unwrap());
            }
        }
    }
    tiles
}

#[tokio::test]
async fn the_stream_sends_a_tile_per_answer_and_as_the_user_when_asked() {
    let canary = Stub::start(Behaviour::Canary);
    let front = spawn_front(&[&canary.address], Duration::from_secs(2));
    let url = format!(
        "{}/traffic/stream?backend={}",
        front.address, canary.address
    );

    let mut anonymous = client()
        .get(&url)
        .header("cookie", "user=developer")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    assert_eq!(anonymous.headers()["content-type"], "text/event-stream");
    let first = tiles(&mut anonymous, 8).await;
    let labels: Vec<&str> = first.iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "0.1", "0.1", "0.3", "HTTP 500", "0.1", "0.1", "0.3", "HTTP 500"
        ]
    );
    assert_eq!(first[3]["ok"], false);
    assert_eq!(first[3]["status"], 500);
    drop(anonymous);

    // Without as_user the cookie stays home; with it, the dark launch shows.
    let mut developer = client()
        .get(format!("{url}&as_user=1"))
        .header("cookie", "user=developer")
        .send()
        .await
        .unwrap();
    let dark: Vec<Value> = tiles(&mut developer, 5).await;
    assert!(dark.iter().all(|t| t["label"] == "0.3"), "{dark:?}");
}

#[tokio::test]
async fn the_stream_refuses_unknown_backends_and_too_many_viewers() {
    let canary = Stub::start(Behaviour::Canary);
    let front = spawn_front(&[&canary.address], Duration::from_secs(2));
    let unknown = client()
        .get(format!(
            "{}/traffic/stream?backend=evil.example:80",
            front.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("not one of the backends")
    );

    // The test front allows two viewers at once.
    let url = format!(
        "{}/traffic/stream?backend={}",
        front.address, canary.address
    );
    let mut first = client().get(&url).send().await.unwrap();
    let mut second = client().get(&url).send().await.unwrap();
    tiles(&mut first, 1).await;
    tiles(&mut second, 1).await;
    let third = client().get(&url).send().await.unwrap();
    assert_eq!(third.status(), 503);
    assert!(
        third
            .text()
            .await
            .unwrap()
            .contains("Too many live traffic views")
    );
    // A viewer who leaves frees a place.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let response = client().get(&url).send().await.unwrap();
        if response.status() == 200 {
            again = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tiles(again.as_mut().expect("a place frees up"), 1).await;
}

/// Opens a stream of the view; its status and the response.
async fn open(front: &str, backend: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{front}/traffic/stream?backend={backend}"));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_viewer_who_leaves_frees_the_slot_even_when_the_backend_stalls_mid_body() {
    let stalled = Stub::start(Behaviour::StallBody);
    // Two viewers at most (the tests' TRAFFIC_VIEWERS).
    let front = spawn_front(&[&stalled.address], Duration::from_secs(30));
    let first = open(&front.address, &stalled.address, None).await;
    let second = open(&front.address, &stalled.address, None).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!(
        open(&front.address, &stalled.address, None).await.status(),
        503
    );
    drop((first, second));
    let left = std::time::Instant::now();
    let again = loop {
        let answer = open(&front.address, &stalled.address, None).await;
        if answer.status() == 200 || left.elapsed() > Duration::from_secs(12) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(again.status(), 200);
    assert!(
        left.elapsed() <= Duration::from_secs(10),
        "{:?}",
        left.elapsed()
    );
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_share_of_streams() {
    let canary = Stub::start(Behaviour::Canary);
    let mut config = crate::helpers::front_config(&[&canary.address], Duration::from_secs(2));
    config.traffic_viewers = 10;
    config.traffic_viewers_per_client = 2;
    let front = testkit::Running::start(front::build(&config).unwrap());
    let here = "203.0.113.7";
    let _a = open(&front.address, &canary.address, Some(here)).await;
    let _b = open(&front.address, &canary.address, Some(here)).await;
    let refused = open(&front.address, &canary.address, Some(here)).await;
    assert_eq!(refused.status(), 429);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("TRAFFIC_VIEWERS_PER_CLIENT")
    );
    let elsewhere = open(&front.address, &canary.address, Some("203.0.113.8")).await;
    assert_eq!(elsewhere.status(), 200);
}

#[tokio::test]
async fn open_streams_end_when_front_shuts_down() {
    let canary = Stub::start(Behaviour::Canary);
    let front = spawn_front(&[&canary.address], Duration::from_secs(2));
    let mut stream = open(&front.address, &canary.address, None).await;
    tiles(&mut stream, 2).await;
    let started = std::time::Instant::now();
    front.shutdown.trigger();
    // The stream ends (its body completes) soon after SIGTERM...
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream was still open 3 s after SIGTERM");
    // ...so front stops without waiting out SHUTDOWN_GRACE (5 s in tests).
    front.stopped.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
