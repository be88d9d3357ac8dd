//! What every `main.rs` does: read the config, set up logs, run, exit cleanly.

use std::fmt::Display;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{self, Env};
use crate::server::Application;

/// Runs the service that `start` builds from the environment. A bad setting
/// or a port in use stops it at once with a message and exit code 2.
///
/// `<binary> healthcheck` instead asks the running service's own `/healthz`
/// (for Docker's HEALTHCHECK: the image needs no curl).
pub async fn run<E: Display>(
    service: &str,
    start: impl FnOnce(&Env) -> Result<Application, E>,
) -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck();
    }
    let format = match config::log_format(&Env) {
        Ok(format) => format,
        Err(error) => return fail(service, error),
    };
    // Held to the end: dropping it writes the lines still queued.
    let _log_writer = crate::telemetry::init_logging(format);
    let app = match start(&Env) {
        Ok(app) => app,
        Err(error) => return fail(service, error),
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(service, error),
    }
}

fn fail(service: &str, error: impl Display) -> ExitCode {
    eprintln!("{service}: cannot start: {error}");
    ExitCode::from(2)
}

/// `GET http://127.0.0.1:$PORT/healthz` → exit 0 on 200, 1 otherwise.
fn healthcheck() -> ExitCode {
    let port = match config::port(&Env, "PORT", 8080) {
        Ok(port) => port,
        Err(error) => {
            eprintln!("healthcheck: {error}");
            return ExitCode::FAILURE;
        }
    };
    let answer = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    })();
    match answer {
        Ok(answer) if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") => {
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            eprintln!(
                "healthcheck: {}",
                answer.lines().next().unwrap_or("no answer")
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("healthcheck: port {port}: {error}");
            ExitCode::FAILURE
        }
    }
}
