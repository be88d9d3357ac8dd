//! A soak: front, aleph and beth, release-built, under steady mixed traffic.
//!
//!     cargo build --release -p front -p aleph -p beth -p loader -p release-checks
//!     target/release/soak [DURATION] [BIN_DIR]     (default 10m, target/release)
//!
//! The traffic is the labs' own loader, one process per kind of request, each
//! with its histogram and its gate (`--max-error-rate 0`: any answer but a 2xx,
//! or none, fails it): front's page (slow by design: it waits for beth's 2 s),
//! aleph's and beth's `/version`, aleph's device list. Beside them, here: device
//! writes in cycles (POST, GET, PATCH and DELETE with the etag in If-Match) and
//! one of `testkit::hostile`'s requests every 3 s, round the catalogue. A line a
//! minute says how far it is; at the end each loader's summary and each
//! service's RSS when ready, at the end and at its peak, and its /metrics size.
//! Exit 1 when a loader's gate failed, a write or hostile request got a 5xx or
//! no answer, or a service exited. Not run by CI: hours, on a shared machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use release_checks::{LIMITS, Service, get, mib, root};
use serde_json::{Value, json};
use testkit::hostile::{Request, Target, catalogue, send};

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let duration = match args.next() {
        None => Duration::from_secs(600),
        Some(text) => match shared::config::parse_duration(&text) {
            Some(duration) => duration,
            None => {
                eprintln!("soak: {text:?}: a duration is like 90s, 10m or 1h");
                return ExitCode::from(2);
            }
        },
    };
    let bin_dir = args
        .next()
        .map_or_else(|| root().join("target/release"), PathBuf::from);
    match run(&bin_dir, duration).await {
        Ok(findings) if findings.is_empty() => {
            println!("\nsoak: no 5xx nor missing answer, every service still up");
            ExitCode::SUCCESS
        }
        Ok(findings) => {
            println!("\nsoak: FAIL");
            findings.iter().for_each(|f| println!("  - {f}"));
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run(bin_dir: &Path, duration: Duration) -> Result<Vec<String>, String> {
    let uri = testkit::mongodb_uri();
    let (aleph_db, beth_db) = (
        testkit::database("soak_aleph"),
        testkit::database("soak_beth"),
    );
    let aleph = Service::start(
        bin_dir,
        "aleph",
        &[("MONGODB_URI", uri), ("MONGO_DBNAME", &aleph_db)],
    )?;
    let beth = Service::start(
        bin_dir,
        "beth",
        &[("MONGODB_URI", uri), ("MONGO_DBNAME", &beth_db)],
    )?;
    aleph.ready("/readyz").await?;
    beth.ready("/readyz").await?;
    let backends = format!("{},{}", aleph.address, beth.address);
    let front = Service::start(bin_dir, "front", &[("BACKENDS", &backends)])?;
    front.ready("/readyz").await?;
    let services = [&front, &aleph, &beth];
    let ready: Vec<u64> = services.iter().map(|s| s.status_kib("VmRSS")).collect();
    println!(
        "soak for {duration:?}: front {}, aleph {}, beth {}, MongoDB {uri}",
        front.address, aleph.address, beth.address
    );

    // (what, URL, requests per second)
    let loads = [
        ("front's page", format!("http://{}/", front.address), "2"),
        (
            "aleph /version",
            format!("http://{}/version", aleph.address),
            "20",
        ),
        (
            "beth /version (2 s each)",
            format!("http://{}/version", beth.address),
            "5",
        ),
        (
            "aleph /device?max_results=50",
            format!("http://{}/device?max_results=50", aleph.address),
            "10",
        ),
    ];
    let seconds = format!("{}s", duration.as_secs());
    let mut loaders = Vec::new();
    for (what, url, rate) in &loads {
        let child = Command::new(bin_dir.join("loader"))
            .args([
                url.as_str(),
                "--rate",
                rate,
                "--duration",
                &seconds,
                "--interval",
                "60s",
            ])
            .args(["--json", "--max-error-rate", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("loader: {e} (cargo build --release -p loader)"))?;
        loaders.push((*what, child));
    }

    let mut findings = Vec::new();
    let hostile = catalogue(&format!("soak{}", std::process::id()), LIMITS);
    let (started, mut cycles, mut next_hostile, mut next_line) = (Instant::now(), 0u64, 0usize, 60);
    while started.elapsed() < duration {
        let target = if cycles % 2 == 0 { &aleph } else { &beth };
        findings.extend(
            device_cycle(&target.address, cycles)
                .await
                .map(|f| format!("{}: {f}", target.name)),
        );
        cycles += 1;
        if started.elapsed().as_secs() >= next_hostile as u64 * 3 {
            let request = &hostile[next_hostile % hostile.len()];
            let to = match request.target {
                Target::Front => &front,
                Target::Backend if next_hostile % 2 == 0 => &aleph,
                Target::Backend => &beth,
            };
            let answer = send(
                &to.address,
                &request.request(next_hostile),
                request.stop_at,
                TIMEOUT,
            )
            .await;
            findings.extend(request.fault(&answer).map(|f| format!("{}: {f}", to.name)));
            next_hostile += 1;
        }
        if started.elapsed().as_secs() >= next_line {
            let rss: Vec<String> = services
                .iter()
                .map(|s| format!("{} {:.1} MiB", s.name, mib(s.status_kib("VmRSS"))))
                .collect();
            eprintln!(
                "{} min: {cycles} device cycles, {next_hostile} hostile requests; RSS {}",
                next_line / 60,
                rss.join(", ")
            );
            next_line += 60;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!(
        "\n{:<30}{:>9}  {:<24}{:>9}{:>9}",
        "loader", "requests", "statuses", "p50 ms", "p99 ms"
    );
    for (what, child) in loaders {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        let summary: Value = text
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(json!({}));
        let ms = |q: &str| summary["latency_ms"][q].as_f64().unwrap_or(f64::NAN);
        println!(
            "{what:<30}{:>9}  {:<24}{:>9.1}{:>9.1}",
            summary["requests"],
            summary["statuses"].to_string(),
            ms("p50"),
            ms("p99")
        );
        if !output.status.success() {
            findings.push(format!(
                "{what}: the loader's gate failed (not every answer a 2xx): {}",
                summary["statuses"]
            ));
        }
    }
    println!("device cycles: {cycles}; hostile requests: {next_hostile}\n");
    for (service, ready) in services.iter().zip(ready) {
        let size = get(&service.metrics, "/metrics").await.size;
        println!(
            "{:<6} RSS at ready {:.1} MiB, at the end {:.1} MiB, peak {:.1} MiB; /metrics {size} bytes",
            service.name,
            mib(ready),
            mib(service.status_kib("VmRSS")),
            mib(service.status_kib("VmHWM"))
        );
        if get(&service.address, "/readyz").await.status != Some(200) {
            findings.push(format!("{} no longer answers", service.name));
        }
    }
    for backend in [&aleph, &beth] {
        send(
            &backend.address,
            &Request::new("DELETE", "/device"),
            None,
            TIMEOUT,
        )
        .await;
    }
    Ok(findings)
}

/// POST a device, GET it, PATCH it and DELETE it, each with the etag it has;
/// what went wrong, if anything.
async fn device_cycle(address: &str, n: u64) -> Option<String> {
    cycle(address, n).await.err()
}

async fn cycle(address: &str, n: u64) -> Result<(), String> {
    let name = format!("soak-{}-{n}", std::process::id());
    let mut create = Request::new("POST", "/device");
    create
        .headers
        .push(("Content-Type".into(), "application/json".into()));
    create.body = json!({"name": name, "uid": n, "type": "phone", "price": 1.0})
        .to_string()
        .into_bytes();
    let written = exchange(address, create, 201).await?;
    let id = written["_id"].as_str().unwrap_or_default().to_string();
    let read = exchange(address, Request::new("GET", &format!("/device/{id}")), 200).await?;
    let mut patch = Request::new("PATCH", &format!("/device/{id}"));
    patch
        .headers
        .push(("Content-Type".into(), "application/json".into()));
    patch.headers.push((
        "If-Match".into(),
        read["_etag"].as_str().unwrap_or_default().into(),
    ));
    patch.body = br#"{"price": 2.0}"#.to_vec();
    let patched = exchange(address, patch, 200).await?;
    let mut delete = Request::new("DELETE", &format!("/device/{id}"));
    delete.headers.push((
        "If-Match".into(),
        patched["_etag"].as_str().unwrap_or_default().into(),
    ));
    exchange(address, delete, 204).await.map(|_| ())
}

/// The answer's JSON when it has the `expected` status; else what went wrong.
async fn exchange(address: &str, request: Request, expected: u16) -> Result<Value, String> {
    let answer = send(address, &request, None, TIMEOUT).await;
    if answer.status != Some(expected) {
        return Err(format!(
            "{} {}: {} (want {expected})",
            request.method,
            request.path,
            answer.describe()
        ));
    }
    Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
}
