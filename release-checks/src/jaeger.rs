//! Jaeger v2 on loopback, as `.local/bin/jaeger` (scripts/test observe builds it from
//! observe/go.mod) runs with observe/jaeger.yaml: what observe reads traces back from, and
//! what bench's OTLP rows export to.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::root;

type Check<T> = Result<T, String>;

/// A child process that is stopped when dropped.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(command: &mut Command, what: &str) -> Check<Running> {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .map_err(|e| format!("{what}: {e}"))
}

/// Polls `url` until it answers 200, for `within` at most.
pub async fn ready(client: &reqwest::Client, url: &str, within: Duration) -> Check<()> {
    let started = Instant::now();
    while started.elapsed() < within {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|a| a.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{url} did not answer 200 within {within:?}"))
}

/// Jaeger on free loopback ports.
pub struct Jaeger {
    _process: Running,
    /// The query API (`/api/traces/{id}`).
    pub query: String,
    /// The OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT).
    pub otlp: String,
    /// Zipkin's span API (ZIPKIN_ENDPOINT).
    pub zipkin: String,
}

impl Jaeger {
    pub async fn start(client: &reqwest::Client) -> Check<Self> {
        let binary = root().join(".local/bin/jaeger");
        let ports: BTreeMap<&str, u16> = [
            "JAEGER_QUERY_PORT",
            "JAEGER_QUERY_GRPC_PORT",
            "JAEGER_HEALTH_PORT",
            "JAEGER_OTLP_HTTP_PORT",
            "JAEGER_ZIPKIN_PORT",
        ]
        .into_iter()
        .map(|name| (name, testkit::free_port()))
        .collect();
        let process = spawn(
            Command::new(&binary)
                .arg("--config")
                .arg(root().join("observe/jaeger.yaml"))
                .envs(ports.iter().map(|(k, v)| (*k, v.to_string()))),
            &format!("{} (scripts/test observe builds it)", binary.display()),
        )?;
        let at = |name| format!("http://127.0.0.1:{}", ports[name]);
        ready(
            client,
            &format!("{}/status", at("JAEGER_HEALTH_PORT")),
            Duration::from_secs(30),
        )
        .await?;
        Ok(Self {
            _process: process,
            query: at("JAEGER_QUERY_PORT"),
            otlp: at("JAEGER_OTLP_HTTP_PORT"),
            zipkin: format!("{}/api/v2/spans", at("JAEGER_ZIPKIN_PORT")),
        })
    }
}
