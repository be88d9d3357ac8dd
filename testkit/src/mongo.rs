//! The MongoDB the tests use: `MONGODB_URI` if set; otherwise the project's
//! own `scripts/mongo-server` (a `mongod` on PATH, else the pinned SecantusDB
//! it installs into the checkout) started once on [`TEST_PORT`] and left
//! running for the next test binary. Each test takes a database of its own
//! from [`database`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The port tests use, away from a local run's 27017.
pub const TEST_PORT: u16 = 27217;

/// `scripts/mongo-server` of this checkout.
fn mongo_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mongo-server")
}

/// Starts a server on `port` (waits until it answers) and returns its URI.
pub fn start_server(port: u16, data: Option<&Path>) -> String {
    let mut command = Command::new(mongo_server());
    command.args(["start", "--port", &port.to_string()]);
    if let Some(dir) = data {
        command.arg("--data").arg(dir);
    }
    let output = command.output().expect("scripts/mongo-server runs");
    assert!(
        output.status.success(),
        "scripts/mongo-server start failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a URI")
        .trim()
        .to_string()
}

pub fn stop_server(port: u16) {
    let _ = Command::new(mongo_server())
        .args(["stop", "--port", &port.to_string()])
        .status();
}

/// The MongoDB every test shares (each in its own database).
pub fn mongodb_uri() -> &'static str {
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => start_server(TEST_PORT, None),
    })
}

/// A database name no other test uses: `<prefix>_<pid>_<n>`.
pub fn database(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The pid of the server `start_server` started on `port` (to freeze it).
pub fn server_pid(port: u16) -> u32 {
    let output = Command::new(mongo_server())
        .args(["pid", "--port", &port.to_string()])
        .output()
        .expect("scripts/mongo-server runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("scripts/mongo-server pid prints a pid")
}

/// Sends `signal` (e.g. `STOP`, `CONT`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}
