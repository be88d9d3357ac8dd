//! Hostile and unlucky input: bounded bodies, honest status codes, MongoDB
//! frozen or losing its index, documents written by something else.

use std::time::{Duration, Instant};

use mongodb::bson::{DateTime, doc};
use serde_json::{Value, json};

use crate::helpers::{
    Api, assert_devices_come_back, config_for, device, get, spawn_backend, spawn_with_devices,
};

async fn post_raw(api: &Api, body: String) -> crate::helpers::Answer {
    api.send(
        api.raw()
            .post(format!("{}/device", api.base))
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn a_list_of_more_than_1000_devices_is_refused_before_any_is_checked() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    // 1 MiB of `[1,1,1,...]`: half a million values, none of them a device.
    let mut numbers = String::from("[1");
    while numbers.len() < 1024 * 1024 - 3 {
        numbers.push_str(",1");
    }
    numbers.push(']');
    let answer = post_raw(&api, numbers).await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    let message = answer.body["_error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 1000"), "{message}");

    let many: Vec<Value> = (0..1001)
        .map(|n| device(&format!("d{n}"), n, "t", 1.0))
        .collect();
    assert_eq!(api.post(json!(many)).await.status, 422);
    let fits: Vec<Value> = (0..1000)
        .map(|n| device(&format!("d{n}"), n, "t", 1.0))
        .collect();
    assert_eq!(api.post(json!(fits)).await.status, 201);
}

#[tokio::test]
async fn names_and_types_over_256_characters_get_eves_422() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let answer = api
        .post(device(&"n".repeat(300), 1, &"t".repeat(257), 1.0))
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["_issues"]["name"], "max length is 256");
    assert_eq!(answer.body["_issues"]["type"], "max length is 256");
    let fits = api.post(device(&"ñ".repeat(256), 1, "t", 1.0)).await;
    assert_eq!(fits.status, 201, "{:?}", fits.body);
}

#[tokio::test]
async fn a_422_shows_the_first_50_items_and_counts_the_rest() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let bad: Vec<Value> = (0..120).map(|n| json!({"name": format!("x{n}")})).collect();
    let answer = api.post(json!(bad)).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["_items"].as_array().unwrap().len(), 50);
    assert_eq!(answer.body["_more"]["items"], 70);
    assert_eq!(answer.body["_more"]["failed"], 70);
    assert!(answer.body.to_string().len() < 20_000);
}

#[tokio::test]
async fn queries_mongodb_would_refuse_get_a_400_or_an_empty_page_never_a_5xx() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    assert_eq!(api.post(device("one", 1, "t", 1.0)).await.status, 201);
    let far = api.query(&[("page", "300000000000000000")]).await;
    assert_eq!(far.status, 200, "{:?}", far.body);
    assert_eq!(far.body["_items"], json!([]));
    assert_eq!(far.body["_meta"]["total"], 1);
    for sort in ["price.", ".", "a..b", ".price"] {
        let answer = api.query(&[("sort", sort)]).await;
        assert_eq!(answer.status, 400, "sort={sort}: {:?}", answer.body);
        assert!(
            answer.body["_error"]["message"]
                .as_str()
                .unwrap()
                .contains("sort")
        );
    }
}

#[tokio::test]
async fn a_503_says_mongodb_is_unavailable_without_the_drivers_internals() {
    let nowhere = format!("mongodb://127.0.0.1:{}", testkit::free_port());
    let app = spawn_backend(config_for(&nowhere, "nothing")).await;
    let answer = Api::new(&app.address).get("/device").await;
    assert_eq!(answer.status, 503);
    let message = answer.body["_error"]["message"].as_str().unwrap();
    assert!(message.starts_with("MongoDB is unavailable."), "{message}");
    for internal in ["127.0.0.1", "Kind", "error", "topology", "Server selection"] {
        assert!(!message.contains(internal), "{message}");
    }
}

#[tokio::test]
async fn a_frozen_mongodb_gives_503_within_3_seconds_and_the_service_recovers() {
    let port = testkit::free_port();
    let uri = tokio::task::spawn_blocking(move || testkit::mongo::start_server(port, None))
        .await
        .unwrap();
    let app = spawn_backend(config_for(&uri, "frozen")).await;
    let api = Api::new(&app.address);
    assert_eq!(api.post(device("kept", 1, "t", 1.0)).await.status, 201);

    let pid = testkit::mongo::server_pid(port);
    testkit::mongo::signal(pid, "STOP");
    for path in ["/device", "/device?where={\"name\":\"kept\"}"] {
        let started = Instant::now();
        let answer = api.get(path).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 503, "{path}: {:?}", answer.body);
        assert!(took < Duration::from_secs(3), "{path}: 503 after {took:?}");
    }
    let started = Instant::now();
    assert_eq!(api.post(device("lost", 2, "t", 1.0)).await.status, 503);
    assert!(started.elapsed() < Duration::from_secs(3));
    testkit::mongo::signal(pid, "CONT");

    assert_devices_come_back(&api, "kept").await;
    tokio::task::spawn_blocking(move || testkit::mongo::stop_server(port))
        .await
        .unwrap();
}

async fn collection(database: &str) -> mongodb::Collection<mongodb::bson::Document> {
    mongodb::Client::with_uri_str(testkit::mongodb_uri())
        .await
        .unwrap()
        .database(database)
        .collection("device")
}

#[tokio::test]
async fn the_unique_index_comes_back_after_the_collection_is_dropped() {
    let database = testkit::database("reindex");
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &database)).await;
    let api = Api::new(&app.address);
    assert_eq!(api.post(device("before", 1, "t", 1.0)).await.status, 201);
    collection(&database).await.drop().await.unwrap();
    for round in 0..5 {
        let name = format!("twice{round}");
        let (a, b) = tokio::join!(
            api.post(device(&name, 1, "t", 1.0)),
            api.post(device(&name, 2, "t", 1.0))
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}");
        let stored = collection(&database)
            .await
            .count_documents(doc! {"name": &name})
            .await
            .unwrap();
        assert_eq!(stored, 1, "round {round}");
    }
}

#[tokio::test]
async fn documents_that_break_the_schema_never_break_the_listing() {
    let database = testkit::database("foreign");
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &database)).await;
    let api = Api::new(&app.address);
    assert_eq!(api.post(device("fine", 1, "t", 1.0)).await.status, 201);
    let foreign = collection(&database).await;
    // 1900: before what HTTP dates (and httpdate) can show.
    let long_ago = DateTime::from_millis(-2_208_988_800_000);
    foreign
        .insert_many([
            doc! {"name": "text uid", "uid": "seven", "type": "t", "price": 1.0},
            doc! {"name": "no etag", "uid": 2_i64, "type": "t", "price": 1.0,
            "_created": DateTime::now(), "_updated": DateTime::now()},
            doc! {"name": "long ago", "uid": 3_i64, "type": "t", "price": 1.0,
            "_created": long_ago, "_updated": long_ago, "_etag": "abc"},
        ])
        .await
        .unwrap();
    let listing = api.query(&[("max_results", "50")]).await;
    assert_eq!(listing.status, 200, "{:?}", listing.body);
    let items = listing.body["_items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let names: Vec<&str> = items.iter().filter_map(|d| d["name"].as_str()).collect();
    assert!(
        names.contains(&"text uid") && names.contains(&"long ago"),
        "{names:?}"
    );
    for item in items {
        let id = item["_id"].as_str().unwrap();
        let one = api.get(&format!("/device/{id}")).await;
        assert_eq!(one.status, 200, "{id}: {:?}", one.body);
    }
    let odd = items.iter().find(|d| d["name"] == "text uid").unwrap();
    let id = odd["_id"].as_str().unwrap();
    let change = api.patch(id, Some("*"), json!({"price": 2})).await;
    assert!(change.status < 500, "{:?}", change.body);
}

#[tokio::test]
async fn invented_methods_share_one_metrics_label() {
    let app = spawn_with_devices().await;
    let client = reqwest::Client::new();
    for n in 0..30 {
        let method = format!("X{}{n}", "Y".repeat(20_000));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let _ = client
            .request(method, format!("{}/device", app.address))
            .send()
            .await;
    }
    let (status, metrics) = get(&format!("{}/metrics", app.metrics_address)).await;
    assert_eq!(status, 200);
    assert!(
        metrics.len() < 100_000,
        "/metrics is {} bytes",
        metrics.len()
    );
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
}
