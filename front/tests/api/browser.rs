//! The page in headless Chromium: sign in as developer, see both backends,
//! sign out. Drives Debian's chromium through playwright-core (Node).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{Running, spawn_front};

fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// Installs playwright-core (no browser download) from the lockfile once.
fn driver_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (install Node.js and npm)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    dir
}

#[tokio::test]
async fn a_learner_signs_in_as_developer_and_sees_both_backends() {
    let Some(chromium) = chromium() else {
        if std::env::var_os("SKIP_BROWSER_TESTS").is_some() {
            eprintln!("SKIP_BROWSER_TESTS set and no chromium: skipped");
            return;
        }
        panic!(
            "no Chromium: apt-get install chromium (or set CHROMIUM=/path, or SKIP_BROWSER_TESTS=1)"
        );
    };
    let aleph = Running::start(
        aleph::build(&shared::backend::Config::for_tests(
            testkit::mongodb_uri(),
            &testkit::database("t"),
        ))
        .unwrap(),
    );
    let beth = Running::start(
        beth::build(&shared::backend::Config::for_tests(
            testkit::mongodb_uri(),
            &testkit::database("t"),
        ))
        .unwrap(),
    );
    let front = spawn_front(
        &[&aleph.host_port(), &beth.host_port()],
        Duration::from_secs(10),
    );
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    let dir = driver_dir();
    let url = front.address.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("signin.mjs"))
            .arg(&url)
            .env("CHROMIUM", &chromium)
            .env("ARTIFACTS", &artifacts)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("signed in as developer"), "{stdout}");
}
