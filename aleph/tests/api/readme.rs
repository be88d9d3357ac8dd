//! README's device examples, run against a real aleph: a documented command
//! that stops working fails CI.

use std::process::Command;

/// The ```sh blocks of README's "Devices" section.
fn device_examples() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("\n## Devices\n")
        .nth(1)
        .expect("README has a Devices section");
    let section = section.split("\n## ").next().unwrap();
    let mut blocks = Vec::new();
    for part in section.split("```sh\n").skip(1) {
        blocks.push(part.split("\n```").next().unwrap().to_string());
    }
    assert!(!blocks.is_empty(), "no ```sh blocks under ## Devices");
    blocks.join("\n")
}

#[tokio::test]
async fn the_readme_curl_examples_work_against_aleph() {
    let app = aleph::build(&backend::Config::with_database(
        testkit::server_config(),
        testkit::mongodb_uri(),
        &testkit::database("readme"),
    ))
    .expect("aleph starts");
    let address = testkit::Running::start(app).address;

    let script = device_examples();
    assert!(
        script.contains("API=http://127.0.0.1:8081"),
        "the examples talk to aleph from scripts/run-local"
    );
    let script = script.replace("API=http://127.0.0.1:8081", &format!("API={address}"));
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .output()
            .expect("bash runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "README's examples failed (need curl and jq):\n{stdout}\n{stderr}"
    );
    // What the reader is told to expect.
    assert!(stdout.contains(r#""_status":"OK""#), "{stdout}");
    assert!(
        stdout.contains(r#""price":749.0"#) || stdout.contains("HTTP/1.1 200"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""uid":"must be of integer type""#),
        "the 422 example: {stdout}"
    );
    assert!(
        stdout.contains("etag: \""),
        "curl -i shows the ETag header: {stdout}"
    );
}
