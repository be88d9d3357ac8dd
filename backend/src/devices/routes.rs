//! The device handlers: Eve's URLs, status codes and bodies.

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::{Value, json};

use super::errors::{self, DeviceError};
use super::model::{
    self, DeviceId, Issues, MAX_BODY_BYTES, MAX_DEVICES, MAX_ITEMS_SHOWN, NewDevice,
};
use super::query::ListQuery;
use super::store::{Store, StoredDevice};
use mongodb::bson::{Bson, Document};
use shared::telemetry::RequestTrace;

/// Any other path: Eve's JSON 404.
pub async fn not_found() -> Result<HttpResponse, DeviceError> {
    Err(DeviceError::NotFound)
}

/// A method a resource does not serve: Eve's JSON 405, with the `Allow`
/// header RFC 9110 requires.
pub fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(DeviceError::MethodNotAllowed { allow }) })
}

/// Eve's home: the resources it serves.
pub async fn home() -> HttpResponse {
    HttpResponse::Ok().json(json!({"_links": {"child": [{"href": "device", "title": "device"}]}}))
}

/// The latest instant an HTTP date can show (9999-12-31T23:59:59.999Z).
const LAST_HTTP_DATE_MS: i64 = 253_402_300_799_999;

/// A date as Eve writes it (RFC 1123); one outside what HTTP dates can show
/// (written by something else) as RFC 3339.
fn rfc1123(date: mongodb::bson::DateTime) -> String {
    if (0..=LAST_HTTP_DATE_MS).contains(&date.timestamp_millis()) {
        httpdate::fmt_http_date(date.to_system_time())
    } else {
        date.try_to_rfc3339_string()
            .unwrap_or_else(|_| date.timestamp_millis().to_string())
    }
}

/// A stored document as the API shows it: typed when it fits the schema,
/// else field by field as stored (a document written by something else must
/// not break the listing).
fn device_json(document: &Document, links: impl Fn(&Value) -> Value) -> Value {
    match mongodb::bson::from_document::<StoredDevice>(document.clone()) {
        Ok(device) => {
            let links = links(&json!(device.id.to_hex()));
            serde_json::to_value(DeviceOut::new(&device, links)).unwrap_or(Value::Null)
        }
        Err(error) => {
            tracing::warn!(%error, id = ?document.get("_id"), "a stored device does not fit the schema");
            let mut out = serde_json::Map::new();
            for (key, value) in document {
                let shown = match value {
                    Bson::ObjectId(id) => json!(id.to_hex()),
                    Bson::DateTime(date) => json!(rfc1123(*date)),
                    other => other.clone().into_relaxed_extjson(),
                };
                out.insert(key.clone(), shown);
            }
            let id = out.get("_id").cloned().unwrap_or(Value::Null);
            out.insert("_links".into(), links(&id));
            Value::Object(out)
        }
    }
}

/// The `self` link of the device with this `_id` (hex, as shown).
fn self_link(id: &Value) -> Value {
    let hex = id.as_str().unwrap_or_default();
    json!({"title": "Device", "href": format!("device/{hex}")})
}

/// A device as `GET` shows it.
#[derive(Serialize)]
struct DeviceOut<'a> {
    _id: String,
    name: &'a str,
    uid: i64,
    #[serde(rename = "type")]
    kind: &'a str,
    price: f64,
    _updated: String,
    _created: String,
    _etag: &'a str,
    _links: Value,
}

impl<'a> DeviceOut<'a> {
    fn new(device: &'a StoredDevice, links: Value) -> Self {
        Self {
            _id: device.id.to_hex(),
            name: &device.name,
            uid: device.uid,
            kind: &device.kind,
            price: device.price,
            _updated: rfc1123(device.updated),
            _created: rfc1123(device.created),
            _etag: &device.etag,
            _links: links,
        }
    }
}

/// What a write answers: the meta fields and `_status`.
#[derive(Serialize)]
struct WrittenOut<'a> {
    _id: String,
    _updated: String,
    _created: String,
    _etag: &'a str,
    _links: Value,
    _status: &'static str,
}

impl<'a> WrittenOut<'a> {
    fn new(device: &'a StoredDevice) -> Self {
        Self {
            _id: device.id.to_hex(),
            _updated: rfc1123(device.updated),
            _created: rfc1123(device.created),
            _etag: &device.etag,
            _links: json!({"self": self_link(&json!(device.id.to_hex()))}),
            _status: "OK",
        }
    }
}

pub async fn list(
    request: HttpRequest,
    trace: RequestTrace,
    store: web::Data<Store>,
) -> Result<HttpResponse, DeviceError> {
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(request.query_string())
            .map_err(|e| {
                DeviceError::BadRequest(format!("The query string cannot be decoded: {e}"))
            })?
            .into_inner();
    let query = ListQuery::parse(&pairs)?;
    let (devices, total) = store
        .list(
            &trace,
            query.filter.clone(),
            query.sort.clone(),
            query.skip(),
            query.max_results,
        )
        .await?;
    let items: Vec<Value> = devices
        .iter()
        .map(|d| device_json(d, |id| json!({"self": self_link(id)})))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .json(json!({
            "_items": items,
            "_links": query.links(total),
            "_meta": {"page": query.page, "max_results": query.max_results, "total": total},
        })))
}

fn parse_id(path: &web::Path<String>) -> Result<DeviceId, DeviceError> {
    DeviceId::parse(path.as_str()).ok_or(DeviceError::NotFound)
}

/// The etags in `If-Match` / `If-None-Match`, unquoted (`"*"` stays `*`).
fn etags(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(
        value
            .split(',')
            .map(|t| {
                t.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_string()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

pub async fn get(
    path: web::Path<String>,
    request: HttpRequest,
    trace: RequestTrace,
    store: web::Data<Store>,
) -> Result<HttpResponse, DeviceError> {
    let document = store.get_document(&trace, parse_id(&path)?).await?;
    let etag = document.get_str("_etag").ok().map(str::to_string);
    if let (Some(tags), Some(etag)) = (etags(request.headers(), header::IF_NONE_MATCH), &etag)
        && tags.iter().any(|t| t == etag || t == "*")
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, format!("\"{etag}\"")))
            .finish());
    }
    let body = device_json(&document, |id| {
        json!({
            "self": self_link(id),
            "parent": {"title": "home", "href": "/"},
            "collection": {"title": "device", "href": "device"},
        })
    });
    let mut response = HttpResponse::Ok();
    if let Some(etag) = &etag {
        response.insert_header((header::ETAG, format!("\"{etag}\"")));
    }
    if let Ok(updated) = document.get_datetime("_updated") {
        response.insert_header((header::LAST_MODIFIED, rfc1123(*updated)));
    }
    Ok(response.json(body))
}

/// Reads a JSON body: `application/json`, at most [`MAX_BODY_BYTES`].
async fn read_json(request: &HttpRequest, payload: web::Payload) -> Result<Value, DeviceError> {
    let body = read_body(request, payload).await?;
    serde_json::from_slice(&body)
        .map_err(|e| DeviceError::BadRequest(format!("The body is not valid JSON: {e}")))
}

/// A POST's documents: one object, or a list of at most [`MAX_DEVICES`],
/// refused as soon as the parser meets one more (a 1 MiB list of numbers
/// would otherwise be half a million values in memory).
fn parse_documents(body: &[u8]) -> Result<(Vec<Value>, bool), DeviceError> {
    let is_list = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    if !is_list {
        let document: Value = serde_json::from_slice(body)
            .map_err(|e| DeviceError::BadRequest(format!("The body is not valid JSON: {e}")))?;
        return match document {
            Value::Object(_) => Ok((vec![document], false)),
            _ => Err(DeviceError::BadRequest(
                "The body must be a JSON object (one device) or a list of objects.".into(),
            )),
        };
    }
    let too_many = std::cell::Cell::new(false);
    let mut parser = serde_json::Deserializer::from_slice(body);
    let parsed = BoundedList {
        limit: MAX_DEVICES,
        too_many: &too_many,
    }
    .deserialize(&mut parser)
    .and_then(|list| parser.end().map(|()| list));
    match parsed {
        _ if too_many.get() => Err(DeviceError::TooMany),
        Ok(list) if list.is_empty() => Err(DeviceError::BadRequest(
            "The list of devices to insert is empty.".into(),
        )),
        Ok(list) => Ok((list, true)),
        Err(e) => Err(DeviceError::BadRequest(format!(
            "The body is not valid JSON: {e}"
        ))),
    }
}

/// A JSON list of at most `limit` values; one more sets `too_many` and stops.
struct BoundedList<'a> {
    limit: usize,
    too_many: &'a std::cell::Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BoundedList<'_> {
    type Value = Vec<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Value>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BoundedList<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a list of at most {} devices", self.limit)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            if items.len() == self.limit {
                self.too_many.set(true);
                return Err(serde::de::Error::custom("too many devices"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// The raw body: `application/json`, at most [`MAX_BODY_BYTES`].
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, DeviceError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(DeviceError::BadRequest(format!(
            "Unknown or no Content-Type header supplied ({:?}): send JSON with Content-Type: application/json",
            content_type
        )));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(DeviceError::TooLarge);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| DeviceError::BadRequest(format!("The body could not be read: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(DeviceError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn create(
    request: HttpRequest,
    payload: web::Payload,
    trace: RequestTrace,
    store: web::Data<Store>,
) -> Result<HttpResponse, DeviceError> {
    let (documents, is_list) = parse_documents(&read_body(&request, payload).await?)?;
    let mut results: Vec<Result<NewDevice, Issues>> =
        documents.iter().map(model::parse_new).collect();

    // Uniqueness, as Eve reports it (beside any other issue): against the
    // stored devices, and (stricter than Eve) within the list itself.
    let names: Vec<Option<String>> = documents
        .iter()
        .map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut seen = store
        .taken_names(
            &trace,
            &names.iter().flatten().cloned().collect::<Vec<_>>(),
            None,
        )
        .await?;
    let stored_already = seen.clone();
    for (result, name) in results.iter_mut().zip(&names) {
        let Some(name) = name else { continue };
        if stored_already.contains(name) || !seen.insert(name.clone()) {
            match result {
                Ok(_) => *result = Err(model::name_taken(name)),
                Err(issues) => issues.extend(model::name_taken(name)),
            }
        }
    }

    if results.iter().any(Result::is_err) {
        return Err(invalid(
            results.into_iter().map(|r| r.err()).collect(),
            is_list,
        ));
    }
    let devices: Vec<NewDevice> = results.into_iter().flatten().collect();
    let count = devices.len();
    let stored = store
        .insert(&trace, devices)
        .await
        .map_err(|error| match error {
            super::store::StoreError::Duplicate { name, index } => {
                let mut outcome = vec![None; count];
                outcome[index] = Some(model::name_taken(&name));
                invalid(outcome, is_list)
            }
            other => other.into(),
        })?;
    let location = {
        let info = request.connection_info();
        format!(
            "{}://{}/device/{}",
            info.scheme(),
            info.host(),
            stored[0].id.to_hex()
        )
    };
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, location));
    Ok(if is_list {
        let items: Vec<WrittenOut> = stored.iter().map(WrittenOut::new).collect();
        response.json(json!({"_status": "OK", "_items": items}))
    } else {
        response.json(WrittenOut::new(&stored[0]))
    })
}

/// Eve's 422 (409 when taken names are all that is wrong) for a POST: per document, `None` = valid, `Some` = its issues.
/// A list shows its first [`MAX_ITEMS_SHOWN`] items and counts the rest.
fn invalid(outcome: Vec<Option<Issues>>, is_list: bool) -> DeviceError {
    let failed = outcome.iter().filter(|o| o.is_some()).count();
    let outcome_taken = outcome.iter().flatten().all(errors::only_taken);
    let body = if is_list {
        let total = outcome.len();
        let failed_shown = outcome
            .iter()
            .take(MAX_ITEMS_SHOWN)
            .filter(|o| o.is_some())
            .count();
        let items: Vec<Value> = outcome
            .into_iter()
            .take(MAX_ITEMS_SHOWN)
            .map(|o| match o {
                None => json!({"_status": "OK"}),
                Some(issues) => json!({"_status": "ERR", "_issues": issues}),
            })
            .collect();
        let mut body = json!({"_status": "ERR", "_items": items});
        if total > MAX_ITEMS_SHOWN {
            body["_more"] = json!({
                "items": total - MAX_ITEMS_SHOWN,
                "failed": failed - failed_shown,
                "message": format!(
                    "only the first {MAX_ITEMS_SHOWN} of {total} items are shown; {} more failed",
                    failed - failed_shown
                ),
            });
        }
        body
    } else {
        let issues: BTreeMap<String, String> =
            outcome.into_iter().flatten().next().unwrap_or_default();
        json!({"_status": "ERR", "_issues": issues})
    };
    let taken = outcome_taken;
    DeviceError::Invalid {
        failed,
        body,
        taken,
    }
}

/// The etags of `If-Match`, one of which must equal the device's; without the header, 428.
/// Present but holding no etag it could read: matches nothing, so 412.
fn required_etag(request: &HttpRequest) -> Result<Vec<String>, DeviceError> {
    if !request.headers().contains_key(header::IF_MATCH) {
        return Err(DeviceError::EtagRequired);
    }
    Ok(etags(request.headers(), header::IF_MATCH).unwrap_or_default())
}

pub async fn patch(
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    trace: RequestTrace,
    store: web::Data<Store>,
) -> Result<HttpResponse, DeviceError> {
    let id = parse_id(&path)?;
    let if_match = required_etag(&request)?;
    let current = store.get(&trace, id).await?;
    if !if_match.iter().any(|t| t == &current.etag || t == "*") {
        return Err(DeviceError::EtagMismatch);
    }
    let changes = model::parse_patch(&read_json(&request, payload).await?)
        .map_err(DeviceError::InvalidPatch)?;
    if let Some(name) = &changes.name
        && !store
            .taken_names(&trace, std::slice::from_ref(name), Some(id))
            .await?
            .is_empty()
    {
        return Err(DeviceError::InvalidPatch(model::name_taken(name)));
    }
    let updated = store
        .update(&trace, &current, &changes)
        .await
        .map_err(|error| match error {
            super::store::StoreError::Duplicate { name, .. } => {
                DeviceError::InvalidPatch(model::name_taken(&name))
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", updated.etag)))
        .json(WrittenOut::new(&updated)))
}

pub async fn delete(
    path: web::Path<String>,
    request: HttpRequest,
    trace: RequestTrace,
    store: web::Data<Store>,
) -> Result<HttpResponse, DeviceError> {
    let id = parse_id(&path)?;
    let if_match = required_etag(&request)?;
    let etag = if if_match.iter().any(|t| t == "*") {
        store.get(&trace, id).await?.etag
    } else {
        if_match.into_iter().next().unwrap_or_default()
    };
    store.delete(&trace, id, &etag).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete_all(
    trace: RequestTrace,
    store: web::Data<Store>,
) -> Result<HttpResponse, DeviceError> {
    store.delete_all(&trace).await?;
    Ok(HttpResponse::NoContent().finish())
}
