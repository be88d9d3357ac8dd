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
pub const FIELDS: [&str; 4] = ["name", "uid", "type", "price"];

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
                None => {
                    issues.insert(key.clone(), "must be of objectid type".into());
                }
            }
            continue;
        }
        match check(key, value) {
            Ok(Checked::Text(s)) if key == "name" => patch.name = Some(s),
            Ok(Checked::Text(s)) => patch.kind = Some(s),
            Ok(Checked::Integer(i)) => patch.uid = Some(i),
            Ok(Checked::Float(f)) => patch.price = Some(f),
            Err(reason) => {
                issues.insert(key.clone(), reason.into());
            }
        }
    }
    (patch, id)
}

/// Parses one document of a POST; issues in Eve's words otherwise.
pub fn parse_new(value: &Value) -> Result<NewDevice, Issues> {
    let Some(document) = value.as_object() else {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
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
            issues.insert(field.to_string(), "required field".into());
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
pub fn not_unique(name: &str) -> String {
    format!("value '{name}' is not unique")
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
