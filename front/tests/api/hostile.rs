//! The hostile requests of `testkit::hostile` aimed at front, page loads and
//! dropped live traffic streams: every one gets an answer below 500 (or, past
//! actix-web's limits, a closed connection), and the page still renders.

use std::time::Duration;

use backend::devices::model::{MAX_BODY_BYTES, MAX_TEXT_CHARS};
use testkit::hostile::{Limits, Target, catalogue, dropped_stream};
use testkit::stub::{Behaviour, Stub};

use crate::helpers::{front_config, page};

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_a_4xx_never_a_5xx() {
    let backend = Stub::start(Behaviour::Fine {
        title: "Otomato Aleph Service",
        version: "0.1",
    });
    // As many viewers as the default (20): a dropped stream frees its slot only at its next
    // tick, which a busy machine may delay past the pause below; 20 leave room for that.
    let mut config = front_config(&[&backend.address], Duration::from_secs(5));
    config.traffic_viewers = 20;
    let front = testkit::Running::start(front::build(&config).expect("front starts"));
    let address = front.host_port();
    let limits = Limits {
        body_bytes: MAX_BODY_BYTES,
        text_chars: MAX_TEXT_CHARS,
    };
    let mut hostile = catalogue("hostile", limits);
    hostile.retain(|h| h.target == Target::Front);
    hostile.push(dropped_stream(&backend.address));
    let mut faults = Vec::new();
    for request in &hostile {
        for i in 0..request.count {
            let answer = testkit::hostile::send(
                &address,
                &request.request(i),
                request.stop_at,
                Duration::from_secs(10),
            )
            .await;
            faults.extend(request.fault(&answer));
            if request.stop_at.is_some() {
                // A dropped stream frees its slot at its next tick (20/s here).
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
    let (status, body) = page(&front.address, None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Otomato Aleph Service"),
        "the page still renders"
    );
    front.stop().await;
}
