//! The page in headless Chromium: sign in as developer, see both backends,
//! sign out. Drives Debian's chromium through playwright-core (Node).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{backend_config, front_config, spawn_front};
use testkit::Running;
use testkit::stub::{Behaviour, Stub};

fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// Installs playwright-core (no browser download) from the lockfile once: the
/// tests run at once, and one must not read the package while npm writes it.
fn driver_dir() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// Runs `script` (in tests/browser) against front at `url`; returns its output.
async fn run_in_chromium(script: &'static str, url: String) -> Option<String> {
    let Some(chromium) = chromium() else {
        if std::env::var_os("SKIP_BROWSER_TESTS").is_some() {
            eprintln!("SKIP_BROWSER_TESTS set and no chromium: skipped");
            return None;
        }
        panic!(
            "no Chromium: apt-get install chromium (or set CHROMIUM=/path, or SKIP_BROWSER_TESTS=1)"
        );
    };
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let dir = driver_dir();
        Command::new("node")
            .arg(dir.join(script))
            .arg(&url)
            .env("CHROMIUM", &chromium)
            .env("ARTIFACTS", &artifacts)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{stderr}"
    );
    Some(stdout)
}

#[tokio::test]
async fn a_learner_signs_in_as_developer_and_sees_both_backends() {
    let aleph = Running::start(aleph::build(&backend_config("t")).unwrap());
    let beth = Running::start(beth::build(&backend_config("t")).unwrap());
    let front = spawn_front(
        &[&aleph.host_port(), &beth.host_port()],
        Duration::from_secs(10),
    );
    if let Some(stdout) = run_in_chromium("signin.mjs", front.address.clone()).await {
        assert!(stdout.contains("signed in as developer"), "{stdout}");
    }
}

#[tokio::test]
async fn the_traffic_view_colours_tiles_by_version_and_follows_the_signed_in_user() {
    let canary = Stub::start(Behaviour::Canary);
    let mut config = front_config(&[&canary.address], Duration::from_secs(2));
    // Where the tiles link their traces: never opened, only the links' targets are read.
    config.traces_url = Some("http://jaeger.invalid:16686".into());
    let front = Running::start(front::build(&config).expect("front starts"));
    if let Some(stdout) = run_in_chromium("traffic.mjs", front.address.clone()).await {
        assert!(stdout.contains("as developer: all 0.3"), "{stdout}");
    }
}
