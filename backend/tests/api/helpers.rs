use backend::{Config, Identity};
use testkit::Running;

pub const TEST_IDENTITY: Identity = Identity {
    name: "gimel",
    title: "Otomato Gimel Service",
    version: "9.9",
};

/// Starts the common backend app with a `/version` of its own.
pub async fn spawn_backend(config: Config) -> Running {
    let app = backend::build(TEST_IDENTITY, &config, |routes| {
        routes.route(
            "/version",
            actix_web::web::get().to(|| async { backend::plain("9.9") }),
        );
    })
    .expect("the backend starts");
    Running::start(app)
}

/// A backend whose devices live in `database` at `mongodb_uri`.
pub fn config_for(mongodb_uri: &str, database: &str) -> Config {
    Config::with_database(testkit::server_config(), mongodb_uri, database)
}

pub async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}

/// A backend on a database of its own in the test MongoDB.
pub async fn spawn_with_devices() -> Running {
    spawn_backend(config_for(
        testkit::mongodb_uri(),
        &testkit::database("devices"),
    ))
    .await
}

/// Waits (20 s at most) until `GET /device` answers 200 again, with the
/// device named `name` first: MongoDB came back and the service saw it.
pub async fn assert_devices_come_back(api: &Api, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let back = loop {
        let answer = api.get("/device").await;
        if answer.status == 200 || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(back.status, 200, "{:?}", back.body);
    assert_eq!(back.body["_items"][0]["name"], name);
}

/// A small HTTP client for the device API.
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::new(),
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the service answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// GET /device with query parameters, percent-encoded as README shows.
    pub async fn query(&self, pairs: &[(&str, &str)]) -> Answer {
        self.send(
            self.client
                .get(format!("{}/device", self.base))
                .query(pairs),
        )
        .await
    }

    pub async fn post(&self, body: serde_json::Value) -> Answer {
        self.send(
            self.client
                .post(format!("{}/device", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn patch(&self, id: &str, etag: Option<&str>, body: serde_json::Value) -> Answer {
        let mut request = self
            .client
            .patch(format!("{}/device/{id}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(etag) = etag {
            request = request.header("if-match", etag);
        }
        self.send(request).await
    }

    pub async fn delete(&self, path: &str, etag: Option<&str>) -> Answer {
        let mut request = self.client.delete(format!("{}{path}", self.base));
        if let Some(etag) = etag {
            request = request.header("if-match", etag);
        }
        self.send(request).await
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.client
    }
}

pub fn device(name: &str, uid: i64, kind: &str, price: f64) -> serde_json::Value {
    serde_json::json!({"name": name, "uid": uid, "type": kind, "price": price})
}
