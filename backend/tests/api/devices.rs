//! The device API against a real MongoDB, compared with Eve 2.3's answers.

use serde_json::json;

use crate::helpers::{Api, device, spawn_with_devices};

fn is_rfc1123(date: &serde_json::Value) -> bool {
    let text = date.as_str().unwrap_or("");
    // e.g. "Tue, 25 Nov 2026 12:00:00 GMT"
    text.len() == 29 && text.ends_with(" GMT") && text.as_bytes()[3] == b','
}

#[tokio::test]
async fn a_posted_device_reads_back_with_eves_meta_fields() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let created = api.post(device("phone1", 1, "phone", 10.0)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["_status"], "OK");
    let id = created.body["_id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert!(is_rfc1123(&created.body["_created"]) && is_rfc1123(&created.body["_updated"]));
    assert_eq!(
        created.body["_links"]["self"],
        json!({"title": "Device", "href": format!("device/{id}")})
    );
    assert!(
        created
            .header("location")
            .unwrap()
            .ends_with(&format!("/device/{id}"))
    );

    let read = api.get(&format!("/device/{id}")).await;
    assert_eq!(read.status, 200);
    for (field, value) in [
        ("name", json!("phone1")),
        ("uid", json!(1)),
        ("type", json!("phone")),
        ("price", json!(10.0)),
    ] {
        assert_eq!(read.body[field], value, "{field}");
    }
    assert_eq!(read.body["_etag"], created.body["_etag"]);
    assert_eq!(
        read.header("etag").unwrap(),
        format!("\"{}\"", created.body["_etag"].as_str().unwrap())
    );
    assert_eq!(
        read.body["_links"]["collection"],
        json!({"title": "device", "href": "device"})
    );
    assert_eq!(
        read.body["_links"]["parent"],
        json!({"title": "home", "href": "/"})
    );

    let page = api.get("/device").await;
    assert_eq!(
        page.body["_meta"],
        json!({"page": 1, "max_results": 25, "total": 1})
    );
    assert_eq!(page.header("x-total-count"), Some("1"));
    assert_eq!(page.body["_items"][0]["_id"], id);
}

#[tokio::test]
async fn validation_failures_answer_422_in_eves_words_and_store_nothing() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    assert_eq!(
        api.post(device("phone1", 1, "phone", 10.0)).await.status,
        201
    );

    let rejected = api
        .post(json!({"name": "phone1", "uid": "x", "type": 5, "extra": 1}))
        .await;
    assert_eq!(rejected.status, 422);
    assert_eq!(
        rejected.body,
        json!({
            "_status": "ERR",
            "_issues": {
                "extra": "unknown field",
                "name": "value 'phone1' is not unique",
                "price": "required field",
                "type": "must be of string type",
                "uid": "must be of integer type"
            },
            "_error": {"code": 422, "message": "Insertion failure: 1 document(s) contain(s) error(s)"}
        })
    );

    let list = api
        .post(json!([device("a", 1, "t", 1.5), {"name": "b"}]))
        .await;
    assert_eq!(list.status, 422);
    assert_eq!(
        list.body,
        json!({
            "_status": "ERR",
            "_items": [
                {"_status": "OK"},
                {"_status": "ERR", "_issues": {"price": "required field", "type": "required field", "uid": "required field"}}
            ],
            "_error": {"code": 422, "message": "Insertion failure: 1 document(s) contain(s) error(s)"}
        })
    );
    // Nothing from the failing list was stored.
    assert_eq!(api.get("/device").await.body["_meta"]["total"], 1);

    // Stricter than Eve: the same name twice in one list is caught too; a
    // taken name alone is a conflict with what is stored (409, Eve's body).
    let twins = api
        .post(json!([
            device("x1", 1, "t", 1.0),
            device("x1", 2, "t", 2.0)
        ]))
        .await;
    assert_eq!(twins.status, 409);
    assert_eq!(
        twins.body["_items"][1]["_issues"]["name"],
        "value 'x1' is not unique"
    );
    assert_eq!(api.get("/device").await.body["_meta"]["total"], 1);
}

#[tokio::test]
async fn a_list_posts_all_its_devices() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let created = api
        .post(json!([device("a", 1, "t", 1.5), device("b", 2, "t", 2.0)]))
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["_status"], "OK");
    let items = created.body["_items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i["_status"] == "OK" && i["_id"].as_str().unwrap().len() == 24)
    );
    assert_eq!(api.get("/device").await.body["_meta"]["total"], 2);
}

#[tokio::test]
async fn pages_have_eves_links_and_following_them_works() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let all: Vec<_> = (1..=7)
        .map(|i| device(&format!("d{i}"), i, "t", i as f64))
        .collect();
    assert_eq!(api.post(json!(all)).await.status, 201);

    let page = api.query(&[("max_results", "2"), ("page", "2")]).await;
    assert_eq!(
        page.body["_meta"],
        json!({"page": 2, "max_results": 2, "total": 7})
    );
    let links = &page.body["_links"];
    assert_eq!(
        links["self"],
        json!({"title": "device", "href": "device?max_results=2&page=2"})
    );
    assert_eq!(
        links["next"],
        json!({"title": "next page", "href": "device?max_results=2&page=3"})
    );
    assert_eq!(
        links["last"],
        json!({"title": "last page", "href": "device?max_results=2&page=4"})
    );
    assert_eq!(
        links["prev"],
        json!({"title": "previous page", "href": "device?max_results=2"})
    );
    assert_eq!(links["parent"], json!({"title": "home", "href": "/"}));

    // Walk the `next` links with a filter and a sort: every device once.
    let mut seen = Vec::new();
    let mut answer = api
        .query(&[
            ("max_results", "3"),
            ("where", r#"{"type":"t"}"#),
            ("sort", "-price"),
        ])
        .await;
    loop {
        for item in answer.body["_items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
        let Some(next) = answer.body["_links"]["next"]["href"]
            .as_str()
            .map(str::to_string)
        else {
            break;
        };
        answer = api.get(&format!("/{next}")).await;
        assert_eq!(answer.status, 200, "{next}");
    }
    assert_eq!(seen, ["d7", "d6", "d5", "d4", "d3", "d2", "d1"]);

    // More than 50 a page is clamped to 50, as Eve does.
    assert_eq!(
        api.query(&[("max_results", "500")]).await.body["_meta"]["max_results"],
        50
    );
}

#[tokio::test]
async fn where_and_sort_filter_and_order_like_eve() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let devices: Vec<_> = (1..=7)
        .map(|i| {
            device(
                &format!("d{i}"),
                i,
                if i % 2 == 0 { "phone" } else { "tablet" },
                ((i * 3) % 7) as f64 + 0.5,
            )
        })
        .collect();
    api.post(json!(devices)).await;
    let names = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer.body["_items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };

    let phones = api
        .query(&[
            ("where", r#"{"type":"phone"}"#),
            ("sort", r#"[("price", -1)]"#),
        ])
        .await;
    assert_eq!(names(&phones), ["d2", "d4", "d6"]);
    let by_price = api.query(&[("sort", "-price,name")]).await;
    assert_eq!(names(&by_price), ["d2", "d4", "d6", "d1", "d3", "d5", "d7"]);
    let dear = api
        .query(&[("where", r#"{"price":{"$gt":3}}"#), ("sort", "name")])
        .await;
    assert_eq!(names(&dear), ["d1", "d2", "d4", "d6"]);
    let some = api
        .query(&[
            ("where", r#"{"$or":[{"uid":1},{"uid":{"$in":[2,3]}}]}"#),
            ("sort", "uid"),
        ])
        .await;
    assert_eq!(names(&some), ["d1", "d2", "d3"]);
    let none = api
        .query(&[(
            "where",
            r#"{"$and":[{"uid":{"$gte":2}},{"uid":{"$lt":2}}]}"#,
        )])
        .await;
    assert_eq!(none.body["_meta"]["total"], 0);

    for (key, bad) in [
        ("where", "{bad"),
        ("where", r#"{"price":{"$where":"1"}}"#),
        ("where", r#"{"$where":"sleep(1000)"}"#),
        ("sort", r#"[("price""#),
    ] {
        let answer = api.query(&[(key, bad)]).await;
        assert_eq!(answer.status, 400, "{key}={bad}");
        assert_eq!(answer.body["_status"], "ERR");
        assert_eq!(answer.body["_error"]["code"], 400);
        assert!(
            answer.body["_error"]["message"]
                .as_str()
                .unwrap()
                .contains(key),
            "{:?}",
            answer.body
        );
    }
}

#[tokio::test]
async fn etags_make_reads_conditional_and_writes_safe() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let created = api.post(device("phone1", 1, "phone", 10.0)).await;
    let id = created.body["_id"].as_str().unwrap().to_string();
    let etag = created.body["_etag"].as_str().unwrap().to_string();

    let not_modified = api
        .send(
            api.raw()
                .get(format!("{}/device/{id}", api.base))
                .header("if-none-match", format!("\"{etag}\"")),
        )
        .await;
    assert_eq!(not_modified.status, 304);

    let no_etag = api.patch(&id, None, json!({"price": 12})).await;
    assert_eq!(no_etag.status, 428);
    assert_eq!(
        no_etag.body["_error"]["message"],
        "To edit a document its etag must be provided using the If-Match header"
    );
    let stale = api.patch(&id, Some("wrong"), json!({"price": 12})).await;
    assert_eq!(stale.status, 412);
    assert_eq!(
        stale.body,
        json!({"_status": "ERR", "_error": {"code": 412, "message": "Client and server etags don't match"}})
    );

    // PATCH validates only what it changes; Eve answers these without `_error`.
    let invalid = api
        .patch(&id, Some(&etag), json!({"price": "x", "bogus": 1}))
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.body,
        json!({"_issues": {"bogus": "unknown field", "price": "must be of float type"}, "_status": "ERR"})
    );
    api.post(device("taken", 2, "phone", 1.0)).await;
    let duplicate = api.patch(&id, Some(&etag), json!({"name": "taken"})).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(
        duplicate.body["_issues"]["name"],
        "value 'taken' is not unique"
    );

    let patched = api.patch(&id, Some(&etag), json!({"price": 12})).await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["_status"], "OK");
    let new_etag = patched.body["_etag"].as_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    assert_eq!(patched.header("etag").unwrap(), format!("\"{new_etag}\""));
    let read = api.get(&format!("/device/{id}")).await;
    assert_eq!(read.body["price"], 12.0);
    assert_eq!(read.body["name"], "phone1", "untouched fields stay");
    assert_eq!(read.body["_etag"], new_etag.as_str());

    // The old etag no longer deletes; the new one does.
    assert_eq!(api.delete(&format!("/device/{id}"), None).await.status, 428);
    assert_eq!(
        api.delete(&format!("/device/{id}"), Some(&etag))
            .await
            .status,
        412
    );
    let deleted = api.delete(&format!("/device/{id}"), Some(&new_etag)).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(api.get(&format!("/device/{id}")).await.status, 404);
}

#[tokio::test]
async fn deleting_the_collection_removes_every_device() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    api.post(json!([device("a", 1, "t", 1.0), device("b", 2, "t", 2.0)]))
        .await;
    assert_eq!(api.delete("/device", None).await.status, 204);
    let empty = api.get("/device").await;
    assert_eq!(empty.body["_items"], json!([]));
    assert_eq!(empty.body["_meta"]["total"], 0);
}

#[tokio::test]
async fn bad_requests_get_json_explanations() {
    let app = spawn_with_devices().await;
    let api = Api::new(&app.address);
    let not_found = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";
    for path in ["/device/nothex", "/device/6b06e27cd2f5d579c095df00"] {
        let answer = api.get(path).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(
            answer.body,
            json!({"_status": "ERR", "_error": {"code": 404, "message": not_found}})
        );
    }
    let put = api
        .send(
            api.raw()
                .put(format!("{}/device/6b06e27cd2f5d579c095df00", api.base)),
        )
        .await;
    assert_eq!(put.status, 405);
    assert_eq!(
        put.body["_error"]["message"],
        "The method is not allowed for the requested URL."
    );
    assert_eq!(
        api.send(api.raw().patch(format!("{}/device", api.base)))
            .await
            .status,
        405
    );

    let send = |content_type: &'static str, body: String| {
        api.send(
            api.raw()
                .post(format!("{}/device", api.base))
                .header("content-type", content_type)
                .body(body),
        )
    };
    let malformed = send("application/json", "{bad json".into()).await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.body["_error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let wrong_type = send("text/plain", device("a", 1, "t", 1.0).to_string()).await;
    assert_eq!(wrong_type.status, 400);
    assert!(
        wrong_type.body["_error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type")
    );
    assert_eq!(send("application/json", "[]".into()).await.status, 400);
    assert_eq!(send("application/json", "\"str\"".into()).await.status, 400);

    let huge = format!(
        r#"{{"name":"{}","uid":1,"type":"t","price":1}}"#,
        "x".repeat(1024 * 1024 + 1)
    );
    let too_large = send("application/json", huge).await;
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.body["_status"], "ERR");
    assert!(
        too_large.body["_error"]["message"]
            .as_str()
            .unwrap()
            .contains("1048576")
    );
    assert_eq!(api.get("/device").await.body["_meta"]["total"], 0);
}

#[tokio::test]
async fn api_docs_serve_an_openapi_3_document() {
    let app = spawn_with_devices().await;
    let docs = Api::new(&app.address).get("/api-docs").await;
    assert_eq!(docs.status, 200);
    assert_eq!(docs.body["openapi"], "3.0.3");
    assert_eq!(docs.body["info"]["title"], "Otomato Gimel Service");
    for path in ["/device", "/device/{id}", "/version", "/name", "/healthz"] {
        assert!(docs.body["paths"][path].is_object(), "{path}");
    }
    assert_eq!(
        docs.body["components"]["schemas"]["NewDevice"]["required"],
        json!(["name", "uid", "type", "price"])
    );
}

#[tokio::test]
async fn eves_home_lists_the_device_resource() {
    let app = spawn_with_devices().await;
    let home = Api::new(&app.address).get("/").await;
    assert_eq!(
        home.body,
        json!({"_links": {"child": [{"href": "device", "title": "device"}]}})
    );
}
