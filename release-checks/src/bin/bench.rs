//! The release builds side by side, in one run, under wrk (`apt-get install wrk`).
//!
//!     cargo build --release -p front -p aleph -p release-checks --example hello
//!     target/release/bench [--duration 10] [--connections 32] [--baseline DIR]
//!
//! Rows: a bare actix-web "hello" (shared/examples/hello.rs, the ceiling); aleph's
//! `/version` without its access log (RUST_LOG=warn) and with it (info, the
//! default: one line per request, which the mirroring lab reads); front's page
//! (BACKENDS: aleph twice, as beth's 2 s delay is part of the lab). Each:
//! requests/s, p50/p99 latency, non-2xx answers, ms from start to ready, RSS
//! idle and after the load. `--baseline DIR` runs the same rows for the builds
//! of front, aleph and hello in DIR, each row beside its baseline. Not run by
//! CI: the machines are shared and noisy; compare figures within one run.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use release_checks::{Service, mib, root};

/// One row: which binary, where, when it is ready, with what, and what wrk asks.
struct Run<'a> {
    name: &'a str,
    binary: &'static str,
    dir: &'a Path,
    ready: &'a str,
    env: Vec<(&'a str, &'a str)>,
    path: &'a str,
}

struct Row {
    name: String,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    start_ms: f64,
    idle_kib: u64,
    loaded_kib: u64,
}

/// wrk's figures: requests/s, p50 and p99 in ms, non-2xx answers.
fn wrk(url: &str, seconds: u32, connections: u32) -> Result<(f64, f64, f64, u64), String> {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            url,
        ])
        .output()
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let after = |label: &str| {
        text.split(label)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("")
    };
    let ms = |value: &str| {
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(value.len()),
        );
        let scale = match unit {
            "us" => 0.001,
            "s" => 1000.0,
            _ => 1.0,
        };
        number.parse::<f64>().map(|n| n * scale).unwrap_or(f64::NAN)
    };
    let rps = after("Requests/sec:")
        .parse()
        .map_err(|_| format!("wrk printed no Requests/sec:\n{text}"))?;
    Ok((
        rps,
        ms(after(" 50%")),
        ms(after(" 99%")),
        after("Non-2xx or 3xx responses:").parse().unwrap_or(0),
    ))
}

async fn measure(
    bin_dir: &Path,
    label: &str,
    seconds: u32,
    connections: u32,
) -> Result<Vec<Row>, String> {
    let hello_dir = bin_dir.join("examples");
    let hello_dir = if hello_dir.join("hello").exists() {
        hello_dir
    } else {
        bin_dir.to_path_buf()
    };
    let mut rows = Vec::new();
    let aleph_for_front = Service::start(bin_dir, "aleph", &[])?;
    aleph_for_front.ready("/readyz").await?;
    let backends = format!("{0},{0}", aleph_for_front.address);
    let runs = [
        Run {
            name: "hello",
            binary: "hello",
            dir: &hello_dir,
            ready: "/",
            env: vec![],
            path: "/",
        },
        Run {
            name: "aleph /version",
            binary: "aleph",
            dir: bin_dir,
            ready: "/readyz",
            env: vec![],
            path: "/version",
        },
        Run {
            name: "aleph, access log",
            binary: "aleph",
            dir: bin_dir,
            ready: "/readyz",
            env: vec![("RUST_LOG", "info")],
            path: "/version",
        },
        Run {
            name: "front / (aleph x2)",
            binary: "front",
            dir: bin_dir,
            ready: "/readyz",
            env: vec![("BACKENDS", backends.as_str())],
            path: "/",
        },
    ];
    for Run {
        name,
        binary,
        dir,
        ready,
        env,
        path,
    } in runs
    {
        let started = Instant::now();
        let service = Service::start(dir, binary, &env)?;
        service.ready(ready).await?;
        let start_ms = started.elapsed().as_secs_f64() * 1000.0;
        let idle_kib = service.status_kib("VmRSS");
        let (requests_per_second, p50_ms, p99_ms, non_2xx) = wrk(
            &format!("http://{}{path}", service.address),
            seconds,
            connections,
        )?;
        rows.push(Row {
            name: format!("{name}{label}"),
            requests_per_second,
            p50_ms,
            p99_ms,
            non_2xx,
            start_ms,
            idle_kib,
            loaded_kib: service.status_kib("VmRSS"),
        });
    }
    Ok(rows)
}

#[tokio::main]
async fn main() -> ExitCode {
    let (mut seconds, mut connections, mut baseline) = (10, 32, None::<PathBuf>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--duration", Some(v)) if v.parse::<u32>().is_ok() => {
                seconds = v.parse().unwrap_or(10)
            }
            ("--connections", Some(v)) if v.parse::<u32>().is_ok() => {
                connections = v.parse().unwrap_or(32)
            }
            ("--baseline", Some(v)) => baseline = Some(PathBuf::from(v)),
            _ => {
                eprintln!("usage: bench [--duration SECONDS] [--connections N] [--baseline DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let current = root().join("target/release");
    let rows = async {
        let mut rows = measure(&current, "", seconds, connections).await?;
        if let Some(dir) = &baseline {
            let base = measure(dir, " [base]", seconds, connections).await?;
            rows = base
                .into_iter()
                .zip(rows)
                .flat_map(|(b, r)| [b, r])
                .collect();
        }
        Ok::<_, String>(rows)
    }
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::from(2);
        }
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nwrk -t2 -c{connections} -d{seconds}s on {cpus} CPUs (wrk shares them with the services)\n"
    );
    println!(
        "{:<30}{:>10}{:>9}{:>9}{:>9}{:>10}{:>10}{:>10}",
        "endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "start ms", "RSS idle", "RSS load"
    );
    for row in &rows {
        println!(
            "{:<30}{:>10.0}{:>9.2}{:>9.2}{:>9}{:>10.1}{:>8.1}Mi{:>8.1}Mi",
            row.name,
            row.requests_per_second,
            row.p50_ms,
            row.p99_ms,
            row.non_2xx,
            row.start_ms,
            mib(row.idle_kib),
            mib(row.loaded_kib)
        );
    }
    println!("\nstart ms: process start to ready (hello: to / 200).");
    ExitCode::SUCCESS
}
