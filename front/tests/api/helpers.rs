use std::time::Duration;

use front::backends::BackendAddr;
use testkit::Running;

pub fn front_config(backends: &[&str], timeout: Duration) -> front::Config {
    front::Config {
        server: testkit::server_config(),
        backends: backends
            .iter()
            .map(|b| BackendAddr::parse(b).expect("a host:port"))
            .collect(),
        backend_timeout: timeout,
        traffic_rate: 20,
        traffic_viewers: 2,
        traffic_viewers_per_client: 4,
        traces_url: None,
        token_keys: front::token::SigningKeys::load(None).expect("a key made at start"),
        token_issuer: front::config::DEFAULT_TOKEN_ISSUER.to_string(),
        token_lifetime: Duration::from_secs(3600),
    }
}

/// A backend's settings, its devices in a database of its own (`prefix`_...).
pub fn backend_config(prefix: &str) -> backend::Config {
    backend::Config::with_database(
        testkit::server_config(),
        testkit::mongodb_uri(),
        &testkit::database(prefix),
    )
}

pub fn spawn_front(backends: &[&str], timeout: Duration) -> Running {
    Running::start(front::build(&front_config(backends, timeout)).expect("front starts"))
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn page(address: &str, cookie: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("{address}/"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}
