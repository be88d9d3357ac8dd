//! `GET /device` query parameters, as Eve reads them: `page`, `max_results`,
//! `where` (a JSON MongoDB filter) and `sort` (`[("price", -1)]` or
//! `-price,name`), and the pagination links Eve answers with.

use mongodb::bson::{Bson, Document, oid::ObjectId};
use serde_json::Value;

const DEFAULT_MAX_RESULTS: u64 = 25;
/// Eve's `PAGINATION_LIMIT`: larger requests are clamped to it.
pub const MAX_RESULTS_LIMIT: u64 = 50;

/// The fields a `where` or `sort` may name: the schema's and Eve's own.
pub const QUERY_FIELDS: [&str; 8] = [
    "name", "uid", "type", "price", "_id", "_created", "_updated", "_etag",
];

/// The most fields one `sort` names (MongoDB allows 32).
pub(crate) const MAX_SORT_FIELDS: usize = 32;

/// What a `sort` may be, as a regular expression (the API checks it, the
/// OpenAPI document declares it): `-price,name` or `[("price", -1), ('name', 1)]`;
/// empty: no sort.
pub fn sort_pattern() -> String {
    let field = QUERY_FIELDS.join("|");
    let more = MAX_SORT_FIELDS - 1;
    let plain = format!("-?({field})");
    let pair = format!(r#"\( *("({field})"|'({field})') *, *-?1 *\)"#);
    format!(
        r"^ *(|{plain}( *, *{plain}){{0,{more}}}|\[ *{pair}( *, *{pair}){{0,{more}}}( *,)? *\]) *$"
    )
}

const COMPARISONS: [&str; 6] = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"];
const MEMBERSHIPS: [&str; 2] = ["$in", "$nin"];
const MAX_DEPTH: usize = 8;

/// A parsed `GET /device` query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub page: u64,
    pub max_results: u64,
    /// Whether the client gave a valid `max_results` (Eve repeats it in links).
    max_results_given: bool,
    pub filter: Document,
    pub sort: Document,
    /// The `where` and `sort` texts as given, for the links.
    where_text: Option<String>,
    sort_text: Option<String>,
}

/// Why a query cannot be run: 400 with this explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl ListQuery {
    /// Parses the decoded query pairs. Like Eve, a `page` or `max_results`
    /// of zero or less falls back to its default; unlike Eve, one that is not
    /// a whole number is refused (400), as the OpenAPI document says.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let get = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let positive = |key: &str| -> Result<Option<u64>, QueryError> {
            let Some(text) = get(key) else {
                return Ok(None);
            };
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QueryError(format!(
                    "`{key}` must be a whole number, e.g. {key}=2"
                )));
            }
            Ok(match text.parse::<u64>() {
                Ok(0) => None,
                Ok(n) => Some(n),
                // More digits than fit: as large as it gets.
                Err(_) if !text.starts_with('-') => Some(u64::MAX),
                Err(_) => None,
            })
        };
        let page = positive("page")?
            .unwrap_or(1)
            .min(u64::MAX / MAX_RESULTS_LIMIT);
        let max_results = positive("max_results")?.map(|n| n.min(MAX_RESULTS_LIMIT));
        let where_text = get("where")
            .filter(|w| !w.trim().is_empty())
            .map(str::to_string);
        let sort_text = get("sort")
            .filter(|s| !s.trim_matches(' ').is_empty())
            .map(str::to_string);
        Ok(Self {
            page,
            max_results: max_results.unwrap_or(DEFAULT_MAX_RESULTS),
            max_results_given: max_results.is_some(),
            filter: match &where_text {
                Some(text) => parse_where(text)?,
                None => Document::new(),
            },
            sort: match &sort_text {
                Some(text) => parse_sort(text)?,
                None => Document::new(),
            },
            where_text,
            sort_text,
        })
    }

    pub fn skip(&self) -> u64 {
        (self.page - 1) * self.max_results
    }

    /// Eve's `_links` for a page of `total` documents.
    pub fn links(&self, total: u64) -> Value {
        let mut links = serde_json::Map::new();
        links.insert("parent".into(), link("home", "/"));
        if total == 0 {
            links.insert("self".into(), link("device", "device"));
            return Value::Object(links);
        }
        links.insert("self".into(), link("device", &self.href(self.page)));
        if self.page * self.max_results < total {
            links.insert("next".into(), link("next page", &self.href(self.page + 1)));
            let last = total.div_ceil(self.max_results);
            links.insert("last".into(), link("last page", &self.href(last)));
        }
        if self.page > 1 {
            links.insert(
                "prev".into(),
                link("previous page", &self.href(self.page - 1)),
            );
        }
        Value::Object(links)
    }

    /// `device?max_results=..&where=..&sort=..&page=..`, in Eve's order. The
    /// values are percent-encoded (Eve leaves them raw), so that following a
    /// link works: actix-web refuses a raw `"` in a query.
    fn href(&self, page: u64) -> String {
        let mut args = Vec::new();
        if self.max_results_given {
            args.push(format!("max_results={}", self.max_results));
        }
        if let Some(w) = &self.where_text {
            args.push(format!("where={}", encode(w)));
        }
        if let Some(s) = &self.sort_text {
            args.push(format!("sort={}", encode(s)));
        }
        if page > 1 {
            args.push(format!("page={page}"));
        }
        if args.is_empty() {
            "device".into()
        } else {
            format!("device?{}", args.join("&"))
        }
    }
}

fn link(title: &str, href: &str) -> Value {
    serde_json::json!({ "title": title, "href": href })
}

/// Percent-encodes everything but unreserved characters and a few that
/// are safe in a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b','
            | b':'
            | b'$' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `where`: a JSON object of field conditions, `$and` and `$or`.
fn parse_where(text: &str) -> Result<Document, QueryError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| QueryError(format!("`where` is not valid JSON ({e}); send it percent-encoded, e.g. curl -G --data-urlencode 'where={{\"type\":\"phone\"}}'")))?;
    filter(&value, 0)
}

fn filter(value: &Value, depth: usize) -> Result<Document, QueryError> {
    if depth > MAX_DEPTH {
        return Err(QueryError(format!(
            "`where` nests $and/$or more than {MAX_DEPTH} deep"
        )));
    }
    let Some(object) = value.as_object() else {
        return Err(QueryError(
            "`where` must be a JSON object, e.g. {\"type\": \"phone\"}".into(),
        ));
    };
    let mut document = Document::new();
    for (key, condition) in object {
        let parsed = match key.as_str() {
            "$and" | "$or" => {
                let clauses = condition
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| {
                        QueryError(format!("`{key}` takes a non-empty list of conditions"))
                    })?;
                Bson::Array(
                    clauses
                        .iter()
                        .map(|c| filter(c, depth + 1).map(Bson::Document))
                        .collect::<Result<_, _>>()?,
                )
            }
            _ if key.starts_with('$') => {
                return Err(QueryError(format!(
                    "`where` allows only the operators $eq $ne $gt $gte $lt $lte $in $nin $and $or, not `{key}`"
                )));
            }
            _ if !QUERY_FIELDS.contains(&key.as_str()) => {
                return Err(QueryError(format!(
                    "`where` names `{key}`: a device's fields are {}",
                    QUERY_FIELDS.join(" ")
                )));
            }
            _ => field_condition(key, condition)?,
        };
        document.insert(key.clone(), parsed);
    }
    Ok(document)
}

fn field_condition(field: &str, condition: &Value) -> Result<Bson, QueryError> {
    let Some(operators) = condition.as_object() else {
        return scalar(field, condition);
    };
    let mut document = Document::new();
    for (operator, operand) in operators {
        let value = if COMPARISONS.contains(&operator.as_str()) {
            scalar(field, operand)?
        } else if MEMBERSHIPS.contains(&operator.as_str()) {
            let list = operand.as_array().ok_or_else(|| {
                QueryError(format!("`{operator}` on `{field}` takes a list of values"))
            })?;
            Bson::Array(
                list.iter()
                    .map(|v| scalar(field, v))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            return Err(QueryError(format!(
                "`{operator}` on `{field}`: use one of $eq $ne $gt $gte $lt $lte $in $nin"
            )));
        };
        document.insert(operator.clone(), value);
    }
    if document.is_empty() {
        return Err(QueryError(format!("the condition on `{field}` is empty")));
    }
    Ok(Bson::Document(document))
}

/// A value to compare with: a string, number, boolean or null. `_id` takes
/// 24 hex digits, compared as an ObjectId, as Eve does.
fn scalar(field: &str, value: &Value) -> Result<Bson, QueryError> {
    Ok(match value {
        Value::String(s) if field == "_id" => match ObjectId::parse_str(s) {
            Ok(id) if s.len() == 24 => Bson::ObjectId(id),
            _ => Bson::String(s.clone()),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Null => Bson::Null,
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Bson::Int64(i),
            (None, Some(f)) if f.is_finite() => Bson::Double(f),
            _ => return Err(QueryError(format!("`{n}` is out of range for `{field}`"))),
        },
        Value::Array(_) | Value::Object(_) => {
            return Err(QueryError(format!(
                "compare `{field}` with a value or an object of operators, e.g. {{\"$gt\": 3}}"
            )));
        }
    })
}

/// `sort`: Eve's `[("price", -1), ("name", 1)]` or `-price,name`, as
/// [`sort_pattern`] has it.
fn parse_sort(text: &str) -> Result<Document, QueryError> {
    static SORT: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
        regex_lite::Regex::new(&sort_pattern()).expect("sort_pattern is a valid regex")
    });
    static PAIR: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
        regex_lite::Regex::new(r#"["']([a-z_]+)["'] *, *(-?)1"#).expect("a valid regex")
    });
    if !SORT.is_match(text) {
        return Err(QueryError(format!(
            "`sort` must look like -price,name or [(\"price\", -1), (\"name\", 1)], on the fields {} (at most {MAX_SORT_FIELDS})",
            QUERY_FIELDS.join(" ")
        )));
    }
    let pairs: Vec<(&str, i32)> = if text.trim_start().starts_with('[') {
        PAIR.captures_iter(text)
            .filter_map(|c| Some((c.get(1)?.as_str(), if c[2].is_empty() { 1 } else { -1 })))
            .collect()
    } else {
        text.split(',')
            .map(str::trim)
            .map(|f| f.strip_prefix('-').map_or((f, 1), |name| (name, -1)))
            .collect()
    };
    let mut document = Document::new();
    for (field, direction) in pairs {
        document.insert(field, Bson::Int32(direction));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn query(pairs: &[(&str, &str)]) -> Result<ListQuery, QueryError> {
        ListQuery::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn defaults_eves_lenient_numbers_and_whole_numbers_only() {
        let q = query(&[]).unwrap();
        assert_eq!((q.page, q.max_results), (1, 25));
        let q = query(&[("page", "-3"), ("max_results", "0")]).unwrap();
        assert_eq!((q.page, q.max_results), (1, 25));
        assert_eq!(query(&[("max_results", "100")]).unwrap().max_results, 50);
        let huge = query(&[("page", "99999999999999999999999")]).unwrap();
        assert_eq!(huge.page, u64::MAX / MAX_RESULTS_LIMIT);
        for bad in ["abc", "null", "", " 2", "1.5", "+2", "-"] {
            assert!(query(&[("page", bad)]).is_err(), "page={bad:?}");
            assert!(
                query(&[("max_results", bad)]).is_err(),
                "max_results={bad:?}"
            );
        }
    }

    #[test]
    fn sort_pattern_compiles_and_bounds_the_fields() {
        let sort = |text: &str| query(&[("sort", text)]).map(|q| q.sort);
        assert_eq!(sort(" ").unwrap(), doc! {});
        assert_eq!(
            sort(" -price , name ").unwrap(),
            doc! {"price": -1, "name": 1}
        );
        assert_eq!(sort("[('uid', 1),]").unwrap(), doc! {"uid": 1});
        let most = vec!["uid"; MAX_SORT_FIELDS].join(",");
        assert!(sort(&most).is_ok());
        assert!(sort(&format!("{most},uid")).is_err(), "one field too many");
        for bad in [
            "\t",
            "nosuch",
            "-price,",
            "[]",
            "[(\"price\", 2)]",
            "[(\"price', 1)]",
        ] {
            assert!(sort(bad).is_err(), "sort={bad:?}");
        }
    }

    #[test]
    fn both_sort_forms() {
        let expected = doc! {"price": -1, "name": 1};
        assert_eq!(
            query(&[("sort", "[(\"price\", -1), ('name', 1)]")])
                .unwrap()
                .sort,
            expected
        );
        assert_eq!(query(&[("sort", "-price,name")]).unwrap().sort, expected);
        assert!(query(&[("sort", "[(\"price\"")]).is_err());
        assert!(query(&[("sort", "-pri ce")]).is_err());
    }

    #[test]
    fn where_allows_only_the_listed_operators() {
        let q = query(&[(
            "where",
            r#"{"$or":[{"uid":1},{"uid":{"$in":[2,3]}}],"price":{"$gt":3}}"#,
        )])
        .unwrap();
        assert_eq!(
            q.filter,
            doc! {"$or": [{"uid": 1_i64}, {"uid": {"$in": [2_i64, 3_i64]}}], "price": {"$gt": 3_i64}}
        );
        for bad in [
            r#"{"$where":"1"}"#,
            r#"{"price":{"$regex":"x"}}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"color":"red"}"#,
            "[1]",
            "{bad",
        ] {
            assert!(query(&[("where", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn pagination_links_follow_eve() {
        let q = query(&[("max_results", "2"), ("page", "2")]).unwrap();
        let links = q.links(7);
        assert_eq!(links["self"]["href"], "device?max_results=2&page=2");
        assert_eq!(links["next"]["href"], "device?max_results=2&page=3");
        assert_eq!(links["last"]["href"], "device?max_results=2&page=4");
        assert_eq!(links["prev"]["href"], "device?max_results=2");
        assert_eq!(
            links["parent"],
            serde_json::json!({"title": "home", "href": "/"})
        );
        let q = query(&[("where", r#"{"type":"phone"}"#)]).unwrap();
        assert_eq!(
            q.links(1)["self"]["href"],
            "device?where=%7B%22type%22:%22phone%22%7D"
        );
        assert_eq!(q.links(0)["self"]["href"], "device");
    }
}
