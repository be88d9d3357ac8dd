//! `loader serve`, as Flagger calls it: a webhook starts a bounded run against an allowed URL,
//! in the background; everything else gets a 4xx saying why.

use std::time::{Duration, Instant};

use loader::serve::{ServeOptions, server, state};
use testkit::stub::{Behaviour, Stub};

/// A `loader serve` on port 0 allowing `allow`; its address.
fn serve(allow: &str) -> String {
    let options = ServeOptions::parse(
        ["--allow", allow, "--max-rate", "50", "--max-duration", "5s"].map(String::from),
    )
    .expect("valid options");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(server(state(options), listener).expect("it serves"));
    format!("http://{address}")
}

async fn post(address: &str, body: String) -> (u16, String) {
    let answer = reqwest::Client::new()
        .post(format!("{address}/"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    (
        answer.status().as_u16(),
        answer.text().await.unwrap_or_default(),
    )
}

fn webhook(metadata: &str) -> String {
    format!(
        r#"{{"name":"aleph","namespace":"staging","phase":"Progressing","metadata":{metadata}}}"#
    )
}

#[tokio::test]
async fn a_webhook_runs_the_load_once_at_a_time_and_refuses_the_rest() {
    let backend = Stub::start(Behaviour::Fine {
        title: "t",
        version: "0.3",
    });
    let target = format!("http://{}/version", backend.address);
    let address = serve(&target);
    let run = webhook(&format!(
        r#"{{"url":"{target}","rate":"20","duration":"1s"}}"#
    ));

    let (status, body) = post(&address, run.clone()).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(&address, run.clone()).await;
    assert_eq!(status, 409, "a second run at once: {body}");

    // Each refusal says why, with a 4xx; none reaches the backend.
    let cases = [
        ("{not json".to_string(), 400, "unreadable"),
        (
            webhook(r#"{"cmd":"hey -z 1m http://aleph"}"#),
            400,
            "no commands",
        ),
        (webhook(r#"{"rate":"10"}"#), 400, "metadata.url is missing"),
        (
            webhook(r#"{"url":"http://elsewhere/version"}"#),
            403,
            "allow-list",
        ),
        (
            webhook(&format!(r#"{{"url":"{target}","rate":"500"}}"#)),
            400,
            "--max-rate",
        ),
        (
            webhook(&format!(r#"{{"url":"{target}","duration":"1h"}}"#)),
            400,
            "--max-duration",
        ),
        (
            webhook(&format!(r#"{{"url":"{target}","rate":"fast"}}"#)),
            400,
            "rate",
        ),
        ("x".repeat(20_000), 413, ""),
    ];
    for (body, want, says) in cases {
        let (status, text) = post(&address, body.clone()).await;
        assert_eq!(status, want, "{body:.80}: {text}");
        assert!(text.contains(says), "{body:.80}: {text} lacks {says:?}");
    }

    // The run ends after its second: about 20 calls, then the URL is free again.
    let started = Instant::now();
    loop {
        let (status, _) = post(&address, run.clone()).await;
        if status == 202 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the run never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = backend.received.lock().map(|r| r.len()).unwrap_or(0);
    assert!(
        (15..=30).contains(&calls),
        "{calls} calls for 20/s over 1 s"
    );
}
