//! The `device` resource's schema, as the original Eve settings declare it,
//! and the parsing of request bodies into it (with Eve's words for issues).
//!
//! ```python
//! 'name':  {'type': 'string',  'unique': True, 'required': True},
//! 'uid':   {'type': 'integer', 'required': True},
//! 'type':  {'type': 'string',  'required': True},
//! 'price': {'type': 'float',   'required': True},   # an integer is a float too
//! ```

use std::collections::BTreeMap;

use mongodb::bson::oid::ObjectId;
use serde_json::{Map, Value};

/// Field → what is wrong with it, as Eve reports it in `_issues`.
pub type Issues = BTreeMap<String, String>;

/// The fields of the schema, in Eve's order.
const FIELDS: [&str; 4] = ["name", "uid", "type", "price"];

/// Beyond Eve, which sets no limit: larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The most devices one POST holds (Eve sets no limit); more get 422 before
/// any is looked at.
pub const MAX_DEVICES: usize = 1000;

/// The most items of a list whose outcome a 422 shows; the rest are counted.
pub const MAX_ITEMS_SHOWN: usize = 50;

/// The longest `name` and `type`, in characters (Eve's `maxlength`; the
/// original set none, and one 1 MB name made every listing 1 MB).
pub const MAX_TEXT_CHARS: usize = 256;

/// Eve's words for a text over [`MAX_TEXT_CHARS`].
const TOO_LONG: &str = "max length is 256";

/// The most issues one document reports; beyond, one line says how many more.
const MAX_ISSUES: usize = 20;

/// How much of a client's text an issue quotes back.
const QUOTED_CHARS: usize = 64;

/// `text`, cut to `QUOTED_CHARS` characters with an ellipsis when longer.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Adds one issue, or counts it once the document has [`MAX_ISSUES`].
fn add_issue(issues: &mut Issues, field: &str, reason: String) {
    const MORE: &str = "…";
    if issues.len() < MAX_ISSUES {
        issues.insert(quoted(field), reason);
        return;
    }
    let more = issues
        .get(MORE)
        .and_then(|m| m.split(' ').nth(1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    issues.insert(MORE.into(), format!("and {} more issues", more + 1));
}

/// A device's `_id`: a MongoDB ObjectId, written as 24 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceId(pub ObjectId);

impl DeviceId {
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 24 {
            return None;
        }
        ObjectId::parse_str(text).ok().map(Self)
    }

    pub fn new() -> Self {
        Self(ObjectId::new())
    }
}

impl Default for DeviceId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_hex())
    }
}

/// The user-supplied fields of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub name: String,
    pub uid: i64,
    pub kind: String,
    pub price: f64,
}

/// A document to insert: its fields, and the `_id` the client chose, if any
/// (Eve accepts one).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDevice {
    pub id: Option<DeviceId>,
    pub fields: Fields,
}

/// The fields a PATCH changes; the others stay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    pub name: Option<String>,
    pub uid: Option<i64>,
    pub kind: Option<String>,
    pub price: Option<f64>,
}

impl Patch {
    pub fn apply(&self, fields: &Fields) -> Fields {
        Fields {
            name: self.name.clone().unwrap_or_else(|| fields.name.clone()),
            uid: self.uid.unwrap_or(fields.uid),
            kind: self.kind.clone().unwrap_or_else(|| fields.kind.clone()),
            price: self.price.unwrap_or(fields.price),
        }
    }
}

/// One field's value, checked against its type.
enum Checked {
    Text(String),
    Integer(i64),
    Float(f64),
}

fn check(field: &str, value: &Value) -> Result<Checked, &'static str> {
    match (field, value) {
        (_, Value::Null) => Err("null value not allowed"),
        ("name" | "type", Value::String(s)) if s.chars().count() > MAX_TEXT_CHARS => Err(TOO_LONG),
        ("name" | "type", Value::String(s)) => Ok(Checked::Text(s.clone())),
        ("name" | "type", _) => Err("must be of string type"),
        // Stricter than Eve, whose Cerberus takes 1.5 and true as integers:
        // a stored document always fits the schema.
        ("uid", Value::Number(n)) => n.as_i64().map(Checked::Integer).ok_or(if n.is_f64() {
            "must be of integer type"
        } else {
            "must be an integer between -2^63 and 2^63-1"
        }),
        ("uid", _) => Err("must be of integer type"),
        ("price", Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Checked::Float)
            .ok_or("must be of float type"),
        ("price", _) => Err("must be of float type"),
        _ => Err("unknown field"),
    }
}

/// Checks every field present: unknown ones, types, nulls. `_id` may be
/// given on insert as 24 hex digits.
fn check_all(
    document: &Map<String, Value>,
    allow_id: bool,
    issues: &mut Issues,
) -> (Patch, Option<DeviceId>) {
    let mut patch = Patch::default();
    let mut id = None;
    for (key, value) in document {
        if key == "_id" && allow_id {
            match value.as_str().and_then(DeviceId::parse) {
                Some(parsed) => id = Some(parsed),
                None => add_issue(issues, key, "must be of objectid type".into()),
            }
            continue;
        }
        match check(key, value) {
            Ok(Checked::Text(s)) if key == "name" => patch.name = Some(s),
            Ok(Checked::Text(s)) => patch.kind = Some(s),
            Ok(Checked::Integer(i)) => patch.uid = Some(i),
            Ok(Checked::Float(f)) => patch.price = Some(f),
            Err(reason) => add_issue(issues, key, reason.into()),
        }
    }
    (patch, id)
}

/// Parses one document of a POST; issues in Eve's words otherwise.
pub fn parse_new(value: &Value) -> Result<NewDevice, Issues> {
    let Some(document) = value.as_object() else {
        let shown = match value {
            Value::String(s) => quoted(s),
            other => quoted(&other.to_string()),
        };
        return Err(Issues::from([(
            "validation exception".to_string(),
            format!("'{shown}' is not a document, must be a dict"),
        )]));
    };
    let mut issues = Issues::new();
    let (patch, id) = check_all(document, true, &mut issues);
    for field in FIELDS {
        if !document.contains_key(field) {
            add_issue(&mut issues, field, "required field".into());
        }
    }
    match patch {
        Patch {
            name: Some(name),
            uid: Some(uid),
            kind: Some(kind),
            price: Some(price),
        } if issues.is_empty() => Ok(NewDevice {
            id,
            fields: Fields {
                name,
                uid,
                kind,
                price,
            },
        }),
        _ => Err(issues),
    }
}

/// Parses a PATCH body: only the fields it changes are validated.
pub fn parse_patch(value: &Value) -> Result<Patch, Issues> {
    let Some(document) = value.as_object() else {
        return Err(Issues::from([(
            "validation exception".to_string(),
            "the body must be a JSON object of the fields to change".to_string(),
        )]));
    };
    let mut issues = Issues::new();
    let (patch, _) = check_all(document, false, &mut issues);
    if document.contains_key("_id") {
        issues.insert("_id".into(), "field is read-only".into());
    }
    if issues.is_empty() {
        Ok(patch)
    } else {
        Err(issues)
    }
}

/// Eve's words for a duplicate name.
fn not_unique(name: &str) -> String {
    format!("value '{name}' is not unique")
}

/// Whether `reason` is [`not_unique`]'s.
pub fn is_not_unique(reason: &str) -> bool {
    reason.starts_with("value '") && reason.ends_with("' is not unique")
}

/// The `_issues` of a document whose only problem is a taken name.
pub fn name_taken(name: &str) -> Issues {
    Issues::from([("name".to_string(), not_unique(name))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_texts_are_refused_in_eves_words_and_quoted_short() {
        assert_eq!(TOO_LONG, format!("max length is {MAX_TEXT_CHARS}"));
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let fits = "é".repeat(MAX_TEXT_CHARS);
        let issues =
            parse_new(&json!({"name": long, "uid": 1, "type": fits, "price": 1})).unwrap_err();
        assert_eq!(issues, Issues::from([("name".into(), TOO_LONG.into())]));
        let issues = parse_new(&json!("x".repeat(100_000))).unwrap_err();
        assert!(issues["validation exception"].len() < 200);
    }

    #[test]
    fn a_document_reports_a_bounded_number_of_issues() {
        let mut document = serde_json::Map::new();
        for n in 0..1000 {
            document.insert(format!("{n}{}", "k".repeat(500)), json!(n));
        }
        let issues = parse_new(&Value::Object(document)).unwrap_err();
        assert_eq!(issues.len(), MAX_ISSUES + 1);
        assert!(issues.keys().all(|k| k.chars().count() <= QUOTED_CHARS + 1));
        assert_eq!(
            issues["…"],
            format!("and {} more issues", 1004 - MAX_ISSUES)
        );
    }

    #[test]
    fn a_complete_device_parses_and_an_integer_price_is_a_float() {
        let device =
            parse_new(&json!({"name": "phone", "uid": 1, "type": "mobile", "price": 10})).unwrap();
        assert_eq!(device.fields.price, 10.0);
        assert_eq!(device.id, None);
    }

    #[test]
    fn issues_use_eves_words() {
        let issues =
            parse_new(&json!({"uid": "x", "type": 5, "extra": 1, "name": null})).unwrap_err();
        assert_eq!(issues["uid"], "must be of integer type");
        assert_eq!(issues["type"], "must be of string type");
        assert_eq!(issues["extra"], "unknown field");
        assert_eq!(issues["price"], "required field");
        assert_eq!(issues["name"], "null value not allowed");
    }

    #[test]
    fn booleans_and_fractions_are_not_integers() {
        for uid in [json!(true), json!(1.5), json!("1")] {
            let issues =
                parse_new(&json!({"name": "a", "uid": uid, "type": "t", "price": 1})).unwrap_err();
            assert_eq!(issues["uid"], "must be of integer type");
        }
        let issues =
            parse_new(&json!({"name": "a", "uid": 1, "type": "t", "price": true})).unwrap_err();
        assert_eq!(issues["price"], "must be of float type");
    }

    #[test]
    fn a_patch_checks_only_what_it_changes() {
        assert_eq!(parse_patch(&json!({"price": 3})).unwrap().price, Some(3.0));
        assert_eq!(parse_patch(&json!({})).unwrap(), Patch::default());
        let issues = parse_patch(&json!({"price": "x", "bogus": 1})).unwrap_err();
        assert_eq!(issues["price"], "must be of float type");
        assert_eq!(issues["bogus"], "unknown field");
    }

    #[test]
    fn ids_are_24_hex_digits() {
        assert!(DeviceId::parse("6b06e27cd2f5d579c095df67").is_some());
        assert!(DeviceId::parse("nothex").is_none());
        assert!(DeviceId::parse("6b06e27cd2f5d579c095df6z").is_none());
    }
}
