//! Concurrency, restarts, MongoDB going away and coming back, and traces.

use std::time::{Duration, Instant};

use backend::devices::Store;
use backend::devices::model::{DeviceId, Fields, NewDevice};
use backend::devices::store::StoreError;
use serde_json::json;
use shared::telemetry::RequestTrace;

use crate::helpers::{
    Api, assert_devices_come_back, config_for, device, get, spawn_backend, spawn_with_devices,
};

#[tokio::test]
async fn of_two_patches_with_the_same_etag_exactly_one_wins() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    for round in 0..10 {
        let created = api
            .post(device(&format!("race{round}"), round, "t", 1.0))
            .await;
        let id = created.body["_id"].as_str().unwrap().to_string();
        let etag = created.body["_etag"].as_str().unwrap().to_string();
        let (a, b) = tokio::join!(
            api.patch(&id, Some(&etag), json!({"price": 2})),
            api.patch(&id, Some(&etag), json!({"price": 3}))
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
}

#[tokio::test]
async fn of_two_posts_of_the_same_name_exactly_one_is_stored() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    for round in 0..10 {
        let name = format!("same{round}");
        let (a, b) = tokio::join!(
            api.post(device(&name, 1, "t", 1.0)),
            api.post(device(&name, 2, "t", 2.0))
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}");
        let loser = if a.status == 409 { &a } else { &b };
        assert_eq!(
            loser.body["_issues"]["name"],
            format!("value '{name}' is not unique")
        );
        let stored = api
            .query(&[("where", &format!(r#"{{"name":"{name}"}}"#))])
            .await;
        assert_eq!(stored.body["_meta"]["total"], 1);
    }
}

#[tokio::test]
async fn a_list_insert_that_meets_a_conflict_part_way_removes_what_it_stored() {
    // The API checks names before inserting, so a conflict part-way happens
    // only in a race; the store's own guarantee is tested directly here.
    let store = Store::new(testkit::mongodb_uri(), &testkit::database("partial"));
    let trace = RequestTrace::default();
    let new = |name: &str| NewDevice {
        id: None,
        fields: Fields {
            name: name.into(),
            uid: 1,
            kind: "t".into(),
            price: 1.0,
        },
    };
    store.insert(&trace, vec![new("taken")]).await.unwrap();
    let error = store
        .insert(
            &trace,
            vec![new("first"), new("second"), new("taken"), new("fourth")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Duplicate { ref name, index: 2 } if name == "taken"),
        "{error:?}"
    );
    let (left, total) = store
        .list(&trace, Default::default(), Default::default(), 0, 50)
        .await
        .unwrap();
    assert_eq!(total, 1, "only the device stored before remains: {left:?}");
    assert_eq!(left[0].get_str("name"), Ok("taken"));
}

#[tokio::test]
async fn a_client_chosen_id_is_kept_and_a_malformed_one_rejected() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let id = DeviceId::new().to_string();
    let mut chosen = device("chosen", 1, "t", 1.0);
    chosen["_id"] = json!(id);
    assert_eq!(api.post(chosen).await.body["_id"], id.as_str());
    let mut bad = device("bad", 1, "t", 1.0);
    bad["_id"] = json!("xyz");
    assert_eq!(api.post(bad).await.status, 422);
}

#[tokio::test]
async fn devices_survive_a_restart_of_the_service() {
    let database = testkit::database("restart");
    let config = config_for(testkit::mongodb_uri(), &database);
    let first = spawn_backend(config.clone()).await;
    let created = Api::new(&first.address)
        .post(device("survivor", 7, "t", 7.0))
        .await;
    first.shutdown.trigger();
    first.stopped.await.unwrap().unwrap();

    let second = spawn_backend(config).await;
    let id = created.body["_id"].as_str().unwrap();
    let read = Api::new(&second.address)
        .get(&format!("/device/{id}"))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["name"], "survivor");
}

#[tokio::test]
async fn without_mongodb_the_service_serves_and_devices_answer_503_fast() {
    let nowhere = format!("mongodb://127.0.0.1:{}", testkit::free_port());
    let app = spawn_backend(config_for(&nowhere, "nothing")).await;
    for path in ["/healthz", "/readyz", "/version", "/name"] {
        assert_eq!(
            get(&format!("{}{path}", app.address)).await.0,
            200,
            "{path}"
        );
    }
    let api = Api::new(&app.address);
    let started = Instant::now();
    let answer = api.get("/device").await;
    let took = started.elapsed();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["_status"], "ERR");
    assert!(
        answer.body["_error"]["message"]
            .as_str()
            .unwrap()
            .contains("MongoDB is unavailable")
    );
    assert!(took < Duration::from_secs(3), "503 after {took:?}");
    assert_eq!(api.post(device("a", 1, "t", 1.0)).await.status, 503);
}

#[tokio::test]
async fn when_mongodb_stops_and_returns_the_service_recovers_by_itself() {
    let port = testkit::free_port();
    let data =
        std::env::temp_dir().join(format!("alephbeth-recovery-{}-{port}", std::process::id()));
    let uri = tokio::task::spawn_blocking({
        let data = data.clone();
        move || testkit::mongo::start_server(port, Some(&data))
    })
    .await
    .unwrap();
    let app = spawn_backend(config_for(&uri, "recovery")).await;
    let api = Api::new(&app.address);
    assert_eq!(api.post(device("kept", 1, "t", 1.0)).await.status, 201);

    tokio::task::spawn_blocking(move || testkit::mongo::stop_server(port))
        .await
        .unwrap();
    let started = Instant::now();
    let down = api.get("/device").await;
    assert_eq!(down.status, 503, "{:?}", down.body);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "503 after {:?}",
        started.elapsed()
    );
    assert_eq!(
        get(&format!("{}/readyz", app.address)).await.0,
        200,
        "readiness ignores MongoDB"
    );

    tokio::task::spawn_blocking({
        let data = data.clone();
        move || testkit::mongo::start_server(port, Some(&data))
    })
    .await
    .unwrap();
    assert_devices_come_back(&api, "kept").await;
    tokio::task::spawn_blocking(move || testkit::mongo::stop_server(port))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn every_mongodb_operation_is_a_child_span_of_the_request() {
    let zipkin = testkit::zipkin::Receiver::start();
    let mut config = config_for(testkit::mongodb_uri(), &testkit::database("traced"));
    config.server.traces.zipkin_endpoint = Some(zipkin.endpoint.clone());
    let app = spawn_backend(config).await;
    let api = Api::new(&app.address);
    api.post(device("traced", 1, "t", 1.0)).await;
    api.get("/device").await;
    app.shutdown.trigger();
    app.stopped.await.unwrap().unwrap();

    let spans = zipkin.of_service("gimel");
    let server = spans
        .iter()
        .find(|s| s["name"] == "GET /device")
        .expect("the request's span");
    let find = spans
        .iter()
        .find(|s| s["name"] == "mongodb find device" && s["parentId"] == server["id"])
        .unwrap_or_else(|| panic!("a find span under GET /device: {spans:#?}"));
    assert_eq!(find["kind"], "CLIENT");
    assert_eq!(find["tags"]["db.operation.name"], "find");
    assert_eq!(find["tags"]["db.collection.name"], "device");
    assert_eq!(find["traceId"], server["traceId"]);
    let post = spans.iter().find(|s| s["name"] == "POST /device").unwrap();
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "mongodb insert device" && s["parentId"] == post["id"])
    );
}
