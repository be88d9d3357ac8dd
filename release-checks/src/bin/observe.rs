//! The services' traces and metrics, read back from the real things (`scripts/test observe`):
//!
//!     cargo build --release -p front -p aleph -p beth -p loader -p release-checks
//!     target/release/observe
//!
//! - **Traces.** Jaeger v2 (built from `observe/go.mod` into `.local/bin/jaeger`, run with
//!   `observe/jaeger.yaml`) receives one page load of front, aleph and beth, first over OTLP
//!   (the request comes in with a W3C `traceparent`), then over Zipkin's API (B3 headers). Its
//!   query API must return that one trace: front's server span, its four client spans, aleph's
//!   and beth's server spans each under the client span that called it, beth's 2 s on its
//!   `/version`.
//! - **Metrics.** Prometheus (Debian's `prometheus`, `observe/prometheus.yaml`: Istio's
//!   add-on's relabelling) scrapes the services while the loader drives front (aleph failing a
//!   fifth of its calls), and every query of `cluster/alephbeth-dashboard.json` must return a
//!   finite value for each service.
//!
//! Prints what it saw; exits 1 on the first thing missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use release_checks::jaeger::{Jaeger, ready, spawn};
use release_checks::{Service, root};
use serde_json::Value;

/// Services and the labels their pods carry (deployments/<app>.yaml).
const SERVICES: [&str; 3] = ["front", "aleph", "beth"];
/// What Grafana puts for the dashboard's variables: the namespace, every app, and a rate
/// window that the check's load (scraped every second) fills.
const DASHBOARD_VARIABLES: [(&str, &str); 3] = [
    ("$namespace", "staging"),
    ("$app", ".+"),
    ("$__rate_interval", "15s"),
];
/// How long the loader drives front before the dashboard's queries.
const LOAD: Duration = Duration::from_secs(20);

type Check<T> = Result<T, String>;

async fn get_json(client: &reqwest::Client, url: &str) -> Check<Value> {
    let answer = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let text = answer.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}: {text:.200}"))
}

/// A fresh id of `digits` hex digits (time and process: unique enough for one check).
fn hex_id(digits: usize, salt: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = format!(
        "{:032x}",
        nanos ^ (u128::from(std::process::id()) << 64) ^ u128::from(salt)
    );
    mixed[32 - digits..].to_string()
}

/// front, aleph and beth, front showing the other two, all with `env`.
async fn start_services(bin_dir: &Path, env: &[(&str, &str)]) -> Check<Vec<Service>> {
    let aleph = Service::start(bin_dir, "aleph", env)?;
    let beth = Service::start(bin_dir, "beth", env)?;
    let backends = format!("{},{}", aleph.address, beth.address);
    let mut front_env = env.to_vec();
    front_env.push(("BACKENDS", &backends));
    let front = Service::start(bin_dir, "front", &front_env)?;
    for service in [&front, &aleph, &beth] {
        service.ready("/readyz").await?;
    }
    Ok(vec![front, aleph, beth])
}

/// One span of a Jaeger trace, as the check reads it.
#[derive(Debug)]
struct Span {
    service: String,
    operation: String,
    kind: String,
    id: String,
    parent: Option<String>,
    micros: u64,
}

fn spans(trace: &Value) -> Vec<Span> {
    let services: BTreeMap<&str, &str> = trace["processes"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(id, process)| (id.as_str(), process["serviceName"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    trace["spans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|span| Span {
            service: services
                .get(span["processID"].as_str().unwrap_or(""))
                .unwrap_or(&"")
                .to_string(),
            operation: span["operationName"].as_str().unwrap_or("").to_string(),
            kind: span["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|tag| tag["key"] == "span.kind")
                .and_then(|tag| tag["value"].as_str())
                .unwrap_or("")
                .to_string(),
            id: span["spanID"].as_str().unwrap_or("").to_string(),
            parent: span["references"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["refType"] == "CHILD_OF")
                .and_then(|r| r["spanID"].as_str())
                .map(str::to_string),
            micros: span["duration"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// One page load with `headers` (carrying trace `trace_id`, parent `parent`), exported as
/// `env` says; then Jaeger must hold it whole.
async fn one_trace(
    client: &reqwest::Client,
    jaeger: &Jaeger,
    label: &str,
    env: &[(&str, &str)],
    headers: &[(&str, String)],
    trace_id: &str,
    parent: &str,
) -> Check<()> {
    let bin_dir = root().join("target/release");
    let services = start_services(&bin_dir, env).await?;
    let mut page = client.get(format!("http://{}/", services[0].address));
    for (name, value) in headers {
        page = page.header(*name, value);
    }
    let started = Instant::now();
    let status = page
        .send()
        .await
        .map_err(|e| format!("{label}: front's page: {e}"))?
        .status();
    let page_ms = started.elapsed().as_millis();
    if !status.is_success() {
        return Err(format!("{label}: front's page answered {status}"));
    }
    // Front, aleph, beth: 1 + 4 client spans, 2 + 2 server spans.
    let url = format!("{}/api/traces/{trace_id}", jaeger.query);
    let mut found = Vec::new();
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(20) {
        let answer = get_json(client, &url).await.unwrap_or(Value::Null);
        found = answer["data"].get(0).map(spans).unwrap_or_default();
        if found.len() >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(services);
    let of = |service: &str, kind: &str| -> Vec<&Span> {
        found
            .iter()
            .filter(|s| s.service == service && s.kind == kind)
            .collect()
    };
    let (front_server, front_clients) = (of("front", "server"), of("front", "client"));
    let (aleph, beth) = (of("aleph", "server"), of("beth", "server"));
    let problem = |what: String| Err(format!("{label}: {what}; Jaeger has {found:#?}"));
    let [server] = front_server.as_slice() else {
        return problem(format!(
            "not one front server span but {}",
            front_server.len()
        ));
    };
    if server.parent.as_deref() != Some(parent) {
        return problem(format!(
            "front's server span is not under the caller's span {parent}"
        ));
    }
    if front_clients.len() != 4
        || front_clients
            .iter()
            .any(|c| c.parent.as_ref() != Some(&server.id))
    {
        return problem("front's 4 client spans are not all under its server span".into());
    }
    let client_ids: BTreeSet<&str> = front_clients.iter().map(|c| c.id.as_str()).collect();
    let callee_parents: BTreeSet<&str> = aleph
        .iter()
        .chain(&beth)
        .filter_map(|s| s.parent.as_deref())
        .collect();
    if aleph.len() != 2 || beth.len() != 2 || callee_parents != client_ids {
        return problem(
            "aleph's and beth's 2 server spans each are not one under each front client span"
                .into(),
        );
    }
    let slow = beth
        .iter()
        .find(|s| s.operation == "GET /version")
        .map_or(0, |s| s.micros);
    if slow < 1_900_000 {
        return problem(format!("beth's GET /version took {slow} µs, not its 2 s"));
    }
    println!(
        "{label}: trace {trace_id}: page in {page_ms} ms; front {} under the caller, 4 client spans \
         under it; aleph 2 and beth 2 server spans, one under each client span; beth's GET /version \
         {:.2} s",
        server.operation,
        slow as f64 / 1e6
    );
    Ok(())
}

async fn traces(client: &reqwest::Client) -> Check<()> {
    let jaeger = Jaeger::start(client).await?;
    let (trace_id, parent) = (hex_id(32, 1), hex_id(16, 2));
    one_trace(
        client,
        &jaeger,
        "OTLP, W3C traceparent in",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &jaeger.otlp)],
        &[("traceparent", format!("00-{trace_id}-{parent}-01"))],
        &trace_id,
        &parent,
    )
    .await?;
    let (trace_id, parent) = (hex_id(32, 3), hex_id(16, 4));
    one_trace(
        client,
        &jaeger,
        "Zipkin, B3 in",
        &[("ZIPKIN_ENDPOINT", &jaeger.zipkin)],
        &[
            ("x-b3-traceid", trace_id.clone()),
            ("x-b3-spanid", parent.clone()),
            ("x-b3-sampled", "1".into()),
        ],
        &trace_id,
        &parent,
    )
    .await
}

/// targets.json for Prometheus: each service as Kubernetes' pod discovery would describe it.
fn targets(services: &[Service]) -> Value {
    let targets: Vec<Value> = services
        .iter()
        .map(|service| {
            let port = service.metrics.rsplit(':').next().unwrap_or("");
            serde_json::json!({
                "targets": [service.metrics],
                "labels": {
                    "__meta_kubernetes_namespace": "staging",
                    "__meta_kubernetes_pod_name": format!("{}-v01-0", service.name),
                    "__meta_kubernetes_pod_ip": "127.0.0.1",
                    "__meta_kubernetes_pod_label_app": service.name,
                    "__meta_kubernetes_pod_label_version": "v01",
                    "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
                    "__meta_kubernetes_pod_annotation_prometheus_io_port": port,
                    "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
                }
            })
        })
        .collect();
    Value::Array(targets)
}

async fn dashboard(client: &reqwest::Client) -> Check<()> {
    let bin_dir = root().join("target/release");
    let services = start_services(&bin_dir, &[("FAULT_ERROR_RATE", "0.2")]).await?;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("alephbeth-observe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "prometheus.yaml",
        std::fs::read_to_string(root().join("observe/prometheus.yaml"))
            .map_err(|e| e.to_string())?,
    )?;
    write("targets.json", targets(&services).to_string())?;
    let port = testkit::free_port();
    let prometheus = spawn(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yaml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        "prometheus (apt-get install prometheus)",
    )?;
    let api = format!("http://127.0.0.1:{port}/api/v1");
    ready(
        client,
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30),
    )
    .await?;
    let loader = Command::new(bin_dir.join("loader"))
        .arg(format!("http://{}/", services[0].address))
        .args(["--rate", "20", "--duration"])
        .arg(format!("{}s", LOAD.as_secs()))
        .stdout(Stdio::null())
        .status();
    let loader = tokio::task::spawn_blocking(move || loader);
    let _ = loader.await;
    let text = std::fs::read_to_string(root().join("cluster/alephbeth-dashboard.json"))
        .map_err(|e| format!("cluster/alephbeth-dashboard.json: {e}"))?;
    let board: Value = serde_json::from_str(&text).map_err(|e| format!("dashboard: {e}"))?;
    let mut failures = Vec::new();
    let mut queries = 0;
    for panel in board["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            queries += 1;
            let query = DASHBOARD_VARIABLES
                .iter()
                .fold(expr.to_string(), |q, (name, value)| q.replace(name, value));
            let url = reqwest::Url::parse_with_params(&format!("{api}/query"), [("query", &query)])
                .map_err(|e| e.to_string())?;
            let answer = get_json(client, url.as_str()).await?;
            let results = answer["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let apps: BTreeSet<&str> = results
                .iter()
                .filter(|r| {
                    r["value"][1]
                        .as_str()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(f64::is_finite)
                })
                .filter_map(|r| r["metric"]["app"].as_str())
                .collect();
            let title = panel["title"].as_str().unwrap_or("?");
            let missing: Vec<&str> = SERVICES
                .iter()
                .copied()
                .filter(|s| !apps.contains(s))
                .collect();
            if missing.is_empty() {
                println!(
                    "dashboard: {title}: {} series, a value for each of {SERVICES:?}",
                    results.len()
                );
            } else {
                failures.push(format!(
                    "{title}: no value for {missing:?} ({} series: {}; query {query})",
                    results.len(),
                    answer["data"]["result"]
                ));
            }
        }
    }
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
    if queries == 0 {
        failures.push("the dashboard has no queries".into());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "dashboard queries without data:\n  {}",
            failures.join("\n  ")
        ))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let result = async {
        traces(&client).await?;
        dashboard(&client).await
    }
    .await;
    match result {
        Ok(()) => {
            println!("observe: passed");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("observe: {error}");
            ExitCode::FAILURE
        }
    }
}
