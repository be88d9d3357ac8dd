use std::time::Duration;

use shared::propagation::FORWARDED_HEADERS;

use crate::helpers::{client, spawn_front};
use testkit::stub::{Behaviour, Stub};

const INCOMING: &[(&str, &str)] = &[
    ("x-request-id", "6b3e1c5e-7c1e-4a8e-9d3f-000000000001"),
    ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
    ("x-b3-spanid", "a2fb4a1d1a96d312"),
    ("x-b3-parentspanid", "0020000000000001"),
    ("x-b3-sampled", "1"),
    ("x-b3-flags", "1"),
    ("b3", "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1"),
    (
        "x-ot-span-context",
        "463ac35c9f6413ad;a2fb4a1d1a96d312;0020000000000001;cs",
    ),
    (
        "traceparent",
        "00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01",
    ),
    ("tracestate", "rojo=00f067aa0ba902b7"),
    ("end-user", "jason"),
];

#[tokio::test]
async fn every_call_to_a_backend_carries_the_propagated_headers_and_the_user_cookie() {
    let backend = Stub::start(Behaviour::Fine {
        title: "Otomato Fine Service",
        version: "1.0",
    });
    let front = spawn_front(&[&backend.address], Duration::from_secs(2));
    let mut request = client()
        .get(format!("{}/", front.address))
        .header("cookie", "theme=dark; user=developer");
    for (name, value) in INCOMING {
        request = request.header(*name, *value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);

    let received = backend.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "one /version and one /name call");
    for call in &received {
        let get = |name: &str| {
            call.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        // Tracing is off here: every header goes on verbatim.
        for (name, value) in INCOMING {
            assert_eq!(get(name), Some(*value), "{name}");
        }
        assert_eq!(
            get("cookie"),
            Some("user=developer"),
            "only the user cookie is forwarded"
        );
    }
    assert_eq!(
        INCOMING.len(),
        FORWARDED_HEADERS.len(),
        "the test covers the whole list"
    );
}

#[tokio::test]
async fn malformed_headers_are_dropped_and_the_page_still_renders() {
    let backend = Stub::start(Behaviour::Fine {
        title: "Otomato Fine Service",
        version: "1.0",
    });
    let front = spawn_front(&[&backend.address], Duration::from_secs(2));
    let response = client()
        .get(format!("{}/", front.address))
        .header("x-b3-traceid", "not-a-trace-id")
        .header("traceparent", "garbage")
        .header("x-request-id", "ok-123")
        .header("cookie", "user=not valid!")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(backend.last_header("x-b3-traceid"), None);
    assert_eq!(backend.last_header("traceparent"), None);
    assert_eq!(backend.last_header("cookie"), None);
    assert_eq!(
        backend.last_header("x-request-id").as_deref(),
        Some("ok-123")
    );
}
