//! Random bodies, ids, query strings and headers thrown at the device API:
//! never a 5xx while MongoDB is up, never a stored document off the schema.

use mongodb::bson::{Bson, Document};
use serde_json::{Value, json};

use crate::helpers::{Api, config_for, spawn_backend};

/// A small deterministic generator (xorshift64*): reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn text(&mut self) -> String {
        let alphabet: Vec<char> = "ab\"'\\{}[]$.:,-_ é€<>%&=;\0\n".chars().collect();
        (0..self.below(12)).map(|_| *self.pick(&alphabet)).collect()
    }
    /// Text a header can carry (no control characters).
    fn header_text(&mut self) -> String {
        self.text().chars().filter(|c| !c.is_control()).collect()
    }
    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!((self.next() as f64) / 7.0 - 1e18),
            4 => json!(*self.pick(&[0.5, -1.0, 1e308, -0.0])),
            5 => json!(self.text()),
            6 => json!(self.below(100)),
            7 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Object(
                (0..self.below(5))
                    .map(|_| (self.field(), self.value(depth + 1)))
                    .collect(),
            ),
        }
    }
    fn field(&mut self) -> String {
        let fields = [
            "name", "uid", "type", "price", "_id", "_etag", "$set", "extra",
        ];
        if self.below(4) == 0 {
            self.text()
        } else {
            (*self.pick(&fields)).to_string()
        }
    }
    /// Mostly almost-valid devices: that is where the edge cases are.
    fn body(&mut self) -> Value {
        let mut device = json!({"name": format!("n{}", self.below(30)), "uid": self.below(9), "type": "t", "price": 1.5});
        match self.below(6) {
            0 => self.value(0),
            1 => Value::Array((0..self.below(4)).map(|_| self.body()).collect()),
            _ => {
                for _ in 0..self.below(3) {
                    let field = self.field();
                    if self.below(3) == 0 {
                        device.as_object_mut().unwrap().remove(&field);
                    } else {
                        device[field] = self.value(1);
                    }
                }
                device
            }
        }
    }
    fn id(&mut self, known: &[String]) -> String {
        match self.below(4) {
            0 if !known.is_empty() => self.pick(known).clone(),
            1 => format!("{:024x}", self.next() as u128),
            2 => self.text(),
            _ => "6b06e27cd2f5d579c095df67".into(),
        }
    }
    fn query(&mut self) -> Vec<(String, String)> {
        let keys = [
            "where",
            "sort",
            "page",
            "max_results",
            "projection",
            "embedded",
        ];
        (0..self.below(4))
            .map(|_| {
                let key = self.pick(&keys).to_string();
                let value = match self.below(4) {
                    0 => self.value(0).to_string(),
                    1 => format!(r#"{{"{}":{}}}"#, self.field(), self.value(1)),
                    2 => format!("-{},{}", self.field(), self.field()),
                    _ => self.text(),
                };
                (key, value)
            })
            .collect()
    }
}

fn fits_the_schema(document: &Document) -> Result<(), String> {
    let mut keys: Vec<&str> = document.keys().map(String::as_str).collect();
    keys.sort();
    let expected = [
        "_created", "_etag", "_id", "_updated", "name", "price", "type", "uid",
    ];
    if keys != expected {
        return Err(format!("fields {keys:?}"));
    }
    let ok = matches!(document.get("_id"), Some(Bson::ObjectId(_)))
        && matches!(document.get("name"), Some(Bson::String(_)))
        && matches!(document.get("type"), Some(Bson::String(_)))
        && matches!(document.get("uid"), Some(Bson::Int64(_) | Bson::Int32(_)))
        && matches!(document.get("price"), Some(Bson::Double(p)) if p.is_finite())
        && matches!(document.get("_created"), Some(Bson::DateTime(_)))
        && matches!(document.get("_updated"), Some(Bson::DateTime(_)))
        && matches!(document.get("_etag"), Some(Bson::String(_)));
    if ok {
        Ok(())
    } else {
        Err("a field of the wrong type".into())
    }
}

#[tokio::test]
async fn random_requests_never_get_a_5xx_nor_store_a_document_off_the_schema() {
    let database = testkit::database("fuzz");
    let app = spawn_backend(config_for(testkit::mongodb_uri(), &database)).await;
    let api = Api::new(&app.address);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    let rounds: u64 = std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let mut rng = Rng(seed);
    let mut known: Vec<(String, String)> = Vec::new();
    let types = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ];

    for round in 0..rounds {
        let ids: Vec<String> = known.iter().map(|(id, _)| id.clone()).collect();
        let client = api.raw();
        let content_type = *rng.pick(&types);
        let request = match rng.below(6) {
            0 | 1 => client
                .post(format!("{}/device", api.base))
                .body(rng.body().to_string()),
            2 => client
                .get(format!("{}/device", api.base))
                .query(&rng.query()),
            3 => client.get(format!("{}/device/{}", api.base, rng.id(&ids))),
            4 => {
                let etag = match (rng.below(3), known.first()) {
                    (0, Some((_, etag))) => etag.clone(),
                    (1, _) => rng.header_text(),
                    _ => String::new(),
                };
                let request = client
                    .patch(format!("{}/device/{}", api.base, rng.id(&ids)))
                    .body(if rng.below(2) == 0 {
                        rng.body().to_string()
                    } else {
                        rng.value(0).to_string()
                    });
                if etag.is_empty() {
                    request
                } else {
                    request.header("if-match", etag)
                }
            }
            _ => client
                .delete(format!("{}/device/{}", api.base, rng.id(&ids)))
                .header("if-match", rng.header_text()),
        };
        let request = if content_type.is_empty() {
            request
        } else {
            request.header("content-type", content_type)
        };
        let request = if rng.below(5) == 0 {
            request
                .header("x-b3-traceid", rng.header_text())
                .header("cookie", rng.header_text())
        } else {
            request
        };
        let described = format!("{request:?}");
        let answer = api.send(request).await;
        assert!(
            answer.status < 500,
            "round {round} (FUZZ_SEED={seed}): {described} → {} {:?}",
            answer.status,
            answer.body
        );
        if answer.status == 201 {
            let items = answer
                .body
                .get("_items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_else(|| vec![answer.body.clone()]);
            for item in items {
                known.push((
                    item["_id"].as_str().unwrap().to_string(),
                    item["_etag"].as_str().unwrap().to_string(),
                ));
            }
        }
    }

    let client = mongodb::Client::with_uri_str(testkit::mongodb_uri())
        .await
        .unwrap();
    let collection = client.database(&database).collection::<Document>("device");
    let mut cursor = collection.find(Document::new()).await.unwrap();
    let mut count = 0;
    while cursor.advance().await.unwrap() {
        let document = cursor.deserialize_current().unwrap();
        fits_the_schema(&document).unwrap_or_else(|why| panic!("{why}: {document}"));
        count += 1;
    }
    assert!(
        count > 0,
        "the fuzzer stored nothing: its bodies are too broken to test much"
    );
}
