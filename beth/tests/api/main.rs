//! beth's identity and its deliberate bug, over real HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn spawn_beth() -> String {
    let app = beth::build(&backend::Config::with_database(
        testkit::server_config(),
        testkit::mongodb_uri(),
        &testkit::database("t"),
    ))
    .expect("beth starts");
    testkit::Running::start(app).address
}

#[tokio::test]
async fn version_answers_0_1_after_the_deliberate_two_second_delay() {
    let address = spawn_beth().await;
    let started = Instant::now();
    let response = reqwest::get(format!("{address}/version")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), beth::VERSION);
    assert_eq!(beth::VERSION, "0.1");
    assert!(
        took >= Duration::from_secs(2),
        "/version took {took:?}: the tracing lab needs its delay"
    );
}

#[tokio::test]
async fn name_is_the_beth_service() {
    let address = spawn_beth().await;
    let response = reqwest::get(format!("{address}/name")).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Otomato Beth Service");
}

/// Stage 5 compares request ids in `kubectl logs deploy/beth beth`: the binary's log, piped, is
/// plain text that `grep 'request_id="…"'` finds, in either format.
#[test]
fn the_binary_logs_plain_lines_a_pipe_can_grep() {
    for format in ["text", "json"] {
        let port = testkit::free_port();
        let mut beth = Command::new(env!("CARGO_BIN_EXE_beth"))
            .env("PORT", port.to_string())
            .env("METRICS_PORT", testkit::free_port().to_string())
            .env("BIND", "127.0.0.1")
            .env("LOG_FORMAT", format)
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .spawn()
            .expect("beth starts");
        let mut lines = BufReader::new(beth.stdout.take().expect("stdout")).lines();
        let asked = std::thread::spawn(move || {
            for _ in 0..50 {
                let answered = Command::new("curl")
                    .args(["-sf", "-H", "x-request-id: grep-me-42"])
                    .arg(format!("http://127.0.0.1:{port}/name"))
                    .output()
                    .is_ok_and(|o| o.status.success());
                if answered {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        });
        let line = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("grep-me-42"))
            .expect("an access line");
        let answered = asked.join().unwrap();
        beth.kill().expect("beth stops");
        beth.wait().expect("beth is gone");
        assert!(answered, "beth answered");
        assert!(
            !line.contains('\u{1b}'),
            "{format}: escape codes in {line:?}"
        );
        let wanted = match format {
            "text" => r#"request_id="grep-me-42""#,
            _ => r#""request_id":"grep-me-42""#,
        };
        assert!(line.contains(wanted), "{format}: no {wanted} in {line:?}");
    }
}
