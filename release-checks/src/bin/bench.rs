//! The release builds side by side, in one run, under wrk (`apt-get install wrk`).
//!
//!     cargo build --release -p front -p aleph -p release-checks --example hello
//!     target/release/bench [--duration 10] [--connections 32] [--rounds 3] [--baseline DIR] [--otlp]
//!
//! Rows: a bare actix-web "hello" (shared/examples/hello.rs, the ceiling); aleph's
//! `/version` without its access log (RUST_LOG=warn) and with it (info, the
//! default: one line per request, which the mirroring lab reads); front's page
//! (BACKENDS: aleph twice, as beth's 2 s delay is part of the lab). Each:
//! requests/s, p50/p99 latency, non-2xx answers, ms from start to ready, RSS
//! idle and after the load, and requests/s as a share of hello's. `--otlp` adds
//! two rows: aleph exporting its spans over OTLP to a running Jaeger
//! (`.local/bin/jaeger`, `scripts/test observe` builds it) and to a collector
//! that is down (a closed port): what tracing costs, and that a dead collector
//! costs no more. `--baseline
//! DIR` runs the same rows for the builds of front, aleph and hello in DIR,
//! each row beside its baseline. Each set runs `--rounds` times, the sets
//! taking turns, and each row shows its median round (by requests/s): one
//! round moves by ±15% on a shared machine. Not run by CI: the machines are
//! shared and noisy; compare figures within one run.

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

#[derive(Clone)]
struct Row {
    name: String,
    requests_per_second: f64,
    /// requests/s as a share of hello's (set by `median`).
    of_hello: f64,
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
    otlp: Option<&str>,
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
    let down = format!("http://127.0.0.1:{}", testkit::free_port());
    let mut runs = vec![
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
    if let Some(otlp) = otlp {
        for (name, endpoint) in [
            ("aleph, OTLP to Jaeger", otlp),
            ("aleph, OTLP, collector down", down.as_str()),
        ] {
            runs.push(Run {
                name,
                binary: "aleph",
                dir: bin_dir,
                ready: "/readyz",
                env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)],
                path: "/version",
            });
        }
    }
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
            of_hello: 0.0,
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

/// Per row, its median round by requests/s (the upper one of an even count);
/// the share of hello taken against hello's median.
fn median(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let rows = rounds.first().map_or(0, Vec::len);
    let mut medians: Vec<Row> = (0..rows)
        .map(|row| {
            let mut runs: Vec<&Row> = rounds.iter().map(|round| &round[row]).collect();
            runs.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
            runs[runs.len() / 2].clone()
        })
        .collect();
    let hello = medians
        .first()
        .map_or(f64::NAN, |row| row.requests_per_second);
    for row in &mut medians {
        row.of_hello = row.requests_per_second / hello;
    }
    medians
}

#[tokio::main]
async fn main() -> ExitCode {
    let (mut seconds, mut connections, mut rounds, mut baseline) = (10, 32, 3, None::<PathBuf>);
    let mut otlp = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--otlp" {
            otlp = true;
            continue;
        }
        let value = args.next();
        match (arg.as_str(), value) {
            ("--duration", Some(v)) if v.parse::<u32>().is_ok() => {
                seconds = v.parse().unwrap_or(10)
            }
            ("--connections", Some(v)) if v.parse::<u32>().is_ok() => {
                connections = v.parse().unwrap_or(32)
            }
            ("--rounds", Some(v)) if v.parse::<u32>().is_ok_and(|n| n > 0) => {
                rounds = v.parse().unwrap_or(3)
            }
            ("--baseline", Some(v)) => baseline = Some(PathBuf::from(v)),
            _ => {
                eprintln!(
                    "usage: bench [--duration SECONDS] [--connections N] [--rounds N] [--baseline DIR] [--otlp]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let current = root().join("target/release");
    let mut sets = vec![(current.as_path(), "", Vec::new())];
    if let Some(dir) = &baseline {
        sets.insert(0, (dir.as_path(), " [base]", Vec::new()));
    }
    let rows = async {
        let client = reqwest::Client::new();
        let jaeger = match otlp {
            true => Some(release_checks::jaeger::Jaeger::start(&client).await?),
            false => None,
        };
        let otlp = jaeger.as_ref().map(|j| j.otlp.as_str());
        let count = sets.len();
        for round in 0..rounds as usize {
            // Turns: neither set always runs first.
            for i in 0..count {
                let (dir, label, runs) = &mut sets[(i + round) % count];
                runs.push(measure(dir, label, seconds, connections, otlp).await?);
            }
        }
        let medians: Vec<Vec<Row>> = sets.into_iter().map(|(_, _, runs)| median(runs)).collect();
        // Each row beside its baseline.
        let rows = (0..medians[0].len())
            .flat_map(|row| medians.iter().map(move |set| &set[row]))
            .cloned()
            .collect::<Vec<Row>>();
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
        "{:<30}{:>10}{:>9}{:>9}{:>9}{:>9}{:>10}{:>10}{:>10}",
        "endpoint",
        "req/s",
        "/hello",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "start ms",
        "RSS idle",
        "RSS load"
    );
    for row in &rows {
        println!(
            "{:<30}{:>10.0}{:>8.0}%{:>9.2}{:>9.2}{:>9}{:>10.1}{:>8.1}Mi{:>8.1}Mi",
            row.name,
            row.requests_per_second,
            row.of_hello * 100.0,
            row.p50_ms,
            row.p99_ms,
            row.non_2xx,
            row.start_ms,
            mib(row.idle_kib),
            mib(row.loaded_kib)
        );
    }
    println!(
        "\n{rounds} rounds, each row its median. /hello: requests/s as a share of hello's \
         (its set's median). start ms: process start to ready (hello: to / 200)."
    );
    ExitCode::SUCCESS
}
