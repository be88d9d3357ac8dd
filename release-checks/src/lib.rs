//! What the release checks share: the release builds started on free ports,
//! their memory as /proc tells it, and their pods' limits from deployments/.
//! Commands: `memory-gate` (hostile requests, CI), `observe` (traces and
//! dashboards from a real Jaeger and Prometheus, CI), `bench` and `soak` (by hand).

pub mod jaeger;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use backend::devices::model::{MAX_BODY_BYTES, MAX_TEXT_CHARS};
use testkit::hostile::{Answer, Limits, Request, send};

/// The device API's limits, which the hostile requests are sized against.
pub const LIMITS: Limits = Limits {
    body_bytes: MAX_BODY_BYTES,
    text_chars: MAX_TEXT_CHARS,
};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A release binary running on a free port of 127.0.0.1.
pub struct Service {
    pub name: &'static str,
    pub child: Child,
    pub address: String,
    pub metrics: String,
}

impl Service {
    pub fn start(bin_dir: &Path, name: &'static str, env: &[(&str, &str)]) -> Result<Self, String> {
        let (port, metrics_port) = (testkit::free_port(), testkit::free_port());
        let child = Command::new(bin_dir.join(name))
            // Only what is set here: no FAULT_* or ZIPKIN_ENDPOINT left in a shell.
            .env_clear()
            .env("PORT", port.to_string())
            .env("METRICS_PORT", metrics_port.to_string())
            .env("BIND", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("{name}: {e} (cargo build --release -p {name})"))?;
        Ok(Self {
            name,
            child,
            address: format!("127.0.0.1:{port}"),
            metrics: format!("127.0.0.1:{metrics_port}"),
        })
    }

    /// Waits (10 s at most) until `path` answers 200.
    pub async fn ready(&self, path: &str) -> Result<(), String> {
        for _ in 0..10_000 {
            let answer = get(&self.address, path).await;
            if answer.status == Some(200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(format!("{} did not become ready", self.name))
    }

    /// A field of /proc/PID/status, in KiB (VmHWM: the peak RSS).
    pub fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.child.id(), field)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub async fn get(address: &str, path: &str) -> Answer {
    send(
        address,
        &Request::new("GET", path),
        None,
        Duration::from_secs(30),
    )
    .await
}

/// The memory limit of the container named after the app in
/// `deployments/<app>.yaml` (`resources.limits.memory`, `Mi`), in KiB.
pub fn pod_limit_kib(app: &str) -> Result<u64, String> {
    let path = root().join(format!("deployments/{app}.yaml"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut in_limits = false;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line == "limits:" {
            in_limits = true;
        } else if in_limits && let Some(value) = line.strip_prefix("memory:") {
            let mebibytes: u64 = value
                .trim()
                .strip_suffix("Mi")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    format!("{}: memory limit {value:?} is not in Mi", path.display())
                })?;
            return Ok(mebibytes * 1024);
        }
    }
    Err(format!("{}: no resources.limits.memory", path.display()))
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
