//! Zipkin export, checked against a real HTTP receiver that records spans.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use testkit::zipkin::Receiver;

use crate::helpers::{backend_config, client, front_config};
use testkit::Running;
use testkit::stub::{Behaviour, Stub};

fn traced(endpoint: &str) -> backend::Config {
    let mut config = backend_config("t");
    config.server.traces.zipkin_endpoint = Some(endpoint.to_string());
    config
}

#[tokio::test]
async fn one_page_load_is_one_trace_across_front_aleph_and_beth() {
    let zipkin = Receiver::start();
    let endpoint = zipkin.endpoint.clone();
    let aleph = Running::start(aleph::build(&traced(&endpoint)).unwrap());
    let beth = Running::start(beth::build(&traced(&endpoint)).unwrap());
    let mut config = front_config(
        &[&aleph.host_port(), &beth.host_port()],
        Duration::from_secs(5),
    );
    config.server.traces.zipkin_endpoint = Some(endpoint.clone());
    let front = Running::start(front::build(&config).unwrap());

    let body = client()
        .get(format!("{}/", front.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Otomato Aleph Service") && body.contains("Otomato Beth Service"));

    // Stopping flushes what each service still buffers.
    for service in [front, aleph, beth] {
        service.stop().await;
    }
    let spans = zipkin.spans();
    let front_spans = zipkin.of_service("front");
    let aleph_spans = zipkin.of_service("aleph");
    let beth_spans = zipkin.of_service("beth");
    assert!(
        !front_spans.is_empty() && !aleph_spans.is_empty() && !beth_spans.is_empty(),
        "{spans:#?}"
    );

    let trace_ids: HashSet<&Value> = spans.iter().map(|s| &s["traceId"]).collect();
    assert_eq!(trace_ids.len(), 1, "one trace per page load: {spans:#?}");

    // front server → front client ×4 → aleph/beth servers.
    let server = front_spans
        .iter()
        .find(|s| s["kind"] == "SERVER")
        .expect("front's server span");
    let clients: Vec<_> = front_spans
        .iter()
        .filter(|s| s["kind"] == "CLIENT")
        .collect();
    assert_eq!(
        clients.len(),
        4,
        "/version and /name of two backends: {front_spans:#?}"
    );
    assert!(server.get("parentId").is_none(), "a root span: {server:#?}");
    for client in &clients {
        assert_eq!(client["parentId"], server["id"]);
        assert_eq!(
            client["remoteEndpoint"]["serviceName"], "127.0.0.1",
            "{client:#?}"
        );
    }
    let client_ids: HashSet<&Value> = clients.iter().map(|s| &s["id"]).collect();
    for backend_server in aleph_spans.iter().chain(&beth_spans) {
        assert_eq!(backend_server["kind"], "SERVER");
        assert!(
            client_ids.contains(&backend_server["parentId"]),
            "{backend_server:#?}"
        );
    }
}

#[tokio::test]
async fn with_tracing_on_the_trace_id_is_kept_and_the_span_is_fronts_own() {
    let zipkin = Receiver::start();
    let endpoint = zipkin.endpoint.clone();
    let backend = Stub::start(Behaviour::Fine {
        title: "Otomato Fine Service",
        version: "1.0",
    });
    let mut config = front_config(&[&backend.address], Duration::from_secs(2));
    config.server.traces.zipkin_endpoint = Some(endpoint);
    let front = Running::start(front::build(&config).unwrap());

    let trace_id = "463ac35c9f6413ad48485a3953bb6124";
    let span_id = "a2fb4a1d1a96d312";
    client()
        .get(format!("{}/", front.address))
        .header("x-b3-traceid", trace_id)
        .header("x-b3-spanid", span_id)
        .header("x-b3-sampled", "1")
        .header("traceparent", format!("00-{trace_id}-{span_id}-01"))
        .header("x-request-id", "req-1")
        .send()
        .await
        .unwrap();

    assert_eq!(
        backend.last_header("x-b3-traceid").as_deref(),
        Some(trace_id)
    );
    let sent_span = backend.last_header("x-b3-spanid").unwrap();
    assert_eq!(sent_span.len(), 16);
    assert_ne!(
        sent_span, span_id,
        "the backend's parent is front's client span"
    );
    let parent = backend.last_header("x-b3-parentspanid").unwrap();
    assert_ne!(parent, span_id, "front's server span sits between");
    let traceparent = backend.last_header("traceparent").unwrap();
    assert_eq!(traceparent, format!("00-{trace_id}-{sent_span}-01"));
    assert_eq!(
        backend.last_header("x-request-id").as_deref(),
        Some("req-1")
    );
}
