//! The hostile requests of `testkit::hostile`, sized against the device API's
//! own limits: every one gets an answer below 500 (or, past actix-web's
//! limits, a closed connection), and the service keeps serving.

use std::time::Duration;

use backend::devices::model::{MAX_BODY_BYTES, MAX_TEXT_CHARS};
use testkit::hostile::{Limits, Target, catalogue};

use crate::helpers::{get, spawn_with_devices};

const LIMITS: Limits = Limits {
    body_bytes: MAX_BODY_BYTES,
    text_chars: MAX_TEXT_CHARS,
};

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_a_4xx_never_a_5xx() {
    let app = spawn_with_devices().await;
    let address = app.host_port();
    let mut faults = Vec::new();
    for hostile in catalogue("hostile", LIMITS)
        .iter()
        .filter(|h| h.target == Target::Backend)
    {
        for answer in hostile.send_all(&address, Duration::from_secs(30)).await {
            faults.extend(hostile.fault(&answer));
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
    let (status, version) = get(&format!("{}/version", app.address)).await;
    assert_eq!((status, version.as_str()), (200, "9.9"), "still serving");
    app.stop().await;
}
