//! A service started for real on 127.0.0.1, port 0, as the tests use it.

use std::collections::HashMap;

use shared::config::ServerConfig;
use shared::server::{Application, Shutdown};

/// Loopback, ports chosen by the system, no shutdown delay.
pub fn server_config() -> ServerConfig {
    let settings: HashMap<&str, &str> = HashMap::from([
        ("BIND", "127.0.0.1"),
        ("PORT", "0"),
        ("METRICS_PORT", "0"),
        ("SHUTDOWN_DELAY", "0s"),
        ("SHUTDOWN_GRACE", "5s"),
    ]);
    ServerConfig::from_source(&settings).expect("valid test settings")
}

/// A running service: its addresses and how to stop it.
pub struct Running {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    /// `http://127.0.0.1:<metrics port>`
    pub metrics_address: String,
    pub shutdown: Shutdown,
    pub stopped: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Runs `app` on the test's runtime.
    pub fn start(app: Application) -> Self {
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
        let shutdown = app.shutdown_handle();
        let stopped = tokio::spawn(app.run_until_stopped());
        Self {
            address,
            metrics_address,
            shutdown,
            stopped,
        }
    }

    /// Stops the service as SIGTERM would (flushing its spans) and waits.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.stopped
            .await
            .expect("the service task ends")
            .expect("a clean stop");
    }

    /// `127.0.0.1:<port>`, as front's `BACKENDS` takes it.
    pub fn host_port(&self) -> String {
        self.address.trim_start_matches("http://").to_string()
    }
}
