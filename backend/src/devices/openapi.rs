//! The OpenAPI 3 document at `GET /api-docs` (the original served Swagger
//! there): precise enough for a generated client or a schema-driven fuzzer.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::model::{MAX_DEVICES, MAX_TEXT_CHARS};
use super::query::{MAX_RESULTS_LIMIT, QUERY_FIELDS, sort_pattern};

/// The document for a backend called `title`, version `version`.
pub fn document(title: &str, version: &str) -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let respond = |description: &str, schema: &Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    let text = |description: &str| json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}});
    let id_param = json!({"name": "id", "in": "path", "required": true, "description": "the device's _id: 24 hex digits", "schema": {"type": "string"}});
    let if_match = json!({"name": "If-Match", "in": "header", "required": true, "description": "the device's current _etag", "schema": {"type": "string"}});
    // `where`: each field of QUERY_FIELDS compared with a value or with operators; $and, $or.
    let scalar = json!({"anyOf": [{"type": "string", "nullable": true}, {"type": "number"}, {"type": "boolean"}]});
    let clauses =
        json!({"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Filter"}});
    let mut fields = serde_json::Map::new();
    for field in QUERY_FIELDS {
        fields.insert(
            field.into(),
            json!({"anyOf": [scalar, {"$ref": "#/components/schemas/Operators"}]}),
        );
    }
    fields.insert("$and".into(), clauses.clone());
    fields.insert("$or".into(), clauses);
    let filter = json!({"type": "object", "additionalProperties": false, "properties": fields});
    // What a client does next with a device it wrote: its _id and _etag.
    let links = |mut response: Value| {
        let id = json!({"id": "$response.body#/_id"});
        let with_etag =
            json!({"id": "$response.body#/_id", "header.If-Match": "$response.body#/_etag"});
        response["links"] = json!({
            "read it": {"operationId": "getDevice", "parameters": id},
            "change it": {"operationId": "patchDevice", "parameters": with_etag},
            "delete it": {"operationId": "deleteDevice", "parameters": with_etag}
        });
        response
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": "The alephbeth backend API: the Eve-compatible `device` resource on MongoDB, plus health and identity endpoints."
        },
        "paths": {
            "/": {"get": {"summary": "Eve's home: the resources served", "responses": {"200": respond("links to the resources", &json!({"type": "object", "required": ["_links"], "properties": {"_links": {"type": "object"}}}))}}},
            "/api-docs": {"get": {"summary": "This document", "responses": {"200": respond("an OpenAPI 3 document", &json!({"type": "object", "required": ["openapi", "paths"]}))}}},
            "/version": {"get": {"summary": "The service's version", "responses": {"200": text("the version, e.g. 0.1")}}},
            "/name": {"get": {"summary": "The service's title", "responses": {"200": text("e.g. Otomato Aleph Service")}}},
            "/ping": {"get": {"summary": "The original's countdown: waits 5 s, then 4 s, ... answering Pong 4 ... Pong 0", "responses": {"200": text("Pong N")}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": text("Healthy")}}},
            "/readyz": {"get": {"summary": "Readiness", "responses": {"200": text("Ready"), "503": text("shutting down")}}},
            "/headers": {"get": {"summary": "The request headers received", "responses": {"200": respond("header name → value", &json!({"type": "object", "additionalProperties": {"type": "string"}}))}}},
            "/device": {
                "get": {
                    "summary": "List devices, a page at a time",
                    "parameters": [
                        {"name": "page", "in": "query", "schema": {"type": "integer"}, "description": "page number (default 1; like Eve, zero or less means 1)"},
                        {"name": "max_results", "in": "query", "schema": {"type": "integer"}, "description": format!("page size (default 25; larger is clamped to {MAX_RESULTS_LIMIT}; like Eve, zero or less means 25)")},
                        {"name": "where", "in": "query", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Filter"}}}, "description": "a MongoDB filter on the device's fields with $eq $ne $gt $gte $lt $lte $in $nin $and $or, e.g. {\"type\":\"phone\"}"},
                        {"name": "sort", "in": "query", "schema": {"type": "string", "pattern": sort_pattern()}, "description": "[(\"price\", -1)] or -price,name"}
                    ],
                    "responses": {
                        "200": respond("a page of devices", &json!({"$ref": "#/components/schemas/DevicePage"})),
                        "400": respond("a malformed page, max_results, where or sort", &error),
                        "503": respond("MongoDB is unavailable", &error)
                    }
                },
                "post": {
                    "summary": "Insert one device or a list (all or none)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/NewDevice"},
                        {"type": "array", "minItems": 1, "maxItems": MAX_DEVICES, "items": {"$ref": "#/components/schemas/NewDevice"}}
                    ]}}}},
                    "responses": {
                        "201": links(respond("inserted", &json!({"oneOf": [{"$ref": "#/components/schemas/Written"}, {"type": "object", "required": ["_status", "_items"], "properties": {"_status": {"type": "string"}, "_items": {"type": "array", "items": {"$ref": "#/components/schemas/Written"}}}}]}))),
                        "400": respond("not JSON, or not an object or list", &error),
                        "413": respond("body over 1 MiB", &error),
                        "409": respond("a name is taken (by a stored device or earlier in the list); nothing stored", &json!({"$ref": "#/components/schemas/Invalid"})),
                        "422": respond("validation failed, or more than the devices one request may insert; nothing stored", &json!({"$ref": "#/components/schemas/Invalid"})),
                        "503": respond("MongoDB is unavailable", &error)
                    }
                },
                "delete": {"summary": "Delete every device", "responses": {"204": {"description": "deleted"}, "503": respond("MongoDB is unavailable", &error)}}
            },
            "/device/{id}": {
                "parameters": [id_param],
                "get": {
                    "operationId": "getDevice",
                    "summary": "One device",
                    "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                    "responses": {
                        "200": respond("the device (ETag header = _etag)", &json!({"$ref": "#/components/schemas/Device"})),
                        "304": {"description": "If-None-Match holds the current etag"},
                        "404": respond("no such device", &error),
                        "503": respond("MongoDB is unavailable", &error)
                    }
                },
                "patch": {
                    "operationId": "patchDevice",
                    "summary": "Change some fields",
                    "parameters": [if_match.clone()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Patch"}}}},
                    "responses": {
                        "200": links(respond("updated", &json!({"$ref": "#/components/schemas/Written"}))),
                        "400": respond("not JSON", &error),
                        "404": respond("no such device", &error),
                        "409": respond("the name is taken, or the stored device does not fit the schema", &json!({"type": "object", "required": ["_status"], "properties": {"_status": {"type": "string"}, "_issues": {"type": "object", "additionalProperties": {"type": "string"}}, "_error": {"$ref": "#/components/schemas/ErrorDetail"}}})),
                        "412": respond("the etag is not the current one", &error),
                        "413": respond("body over 1 MiB", &error),
                        "422": respond("validation failed", &json!({"type": "object", "required": ["_status", "_issues"], "properties": {"_status": {"type": "string"}, "_issues": {"type": "object", "additionalProperties": {"type": "string"}}}})),
                        "428": respond("no If-Match header", &error),
                        "503": respond("MongoDB is unavailable", &error)
                    }
                },
                "delete": {
                    "operationId": "deleteDevice",
                    "summary": "Delete one device",
                    "parameters": [if_match],
                    "responses": {
                        "204": {"description": "deleted"},
                        "404": respond("no such device", &error),
                        "412": respond("the etag is not the current one", &error),
                        "428": respond("no If-Match header", &error),
                        "503": respond("MongoDB is unavailable", &error)
                    }
                }
            }
        },
        "components": {"schemas": {
            "Filter": filter,
            "Operators": {
                "type": "object", "additionalProperties": false, "minProperties": 1,
                "properties": {
                    "$eq": scalar, "$ne": scalar, "$gt": scalar, "$gte": scalar, "$lt": scalar, "$lte": scalar,
                    "$in": {"type": "array", "items": scalar}, "$nin": {"type": "array", "items": scalar}
                }
            },
            "NewDevice": {
                "type": "object",
                "required": ["name", "uid", "type", "price"],
                "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "maxLength": MAX_TEXT_CHARS, "description": "unique"},
                    "uid": {"type": "integer", "format": "int64"},
                    "type": {"type": "string", "maxLength": MAX_TEXT_CHARS},
                    "price": {"type": "number", "format": "double"},
                    "_id": {"type": "string", "pattern": "^[0-9a-fA-F]{24}$", "description": "optional: choose the ObjectId"}
                }
            },
            "Patch": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "maxLength": MAX_TEXT_CHARS},
                    "uid": {"type": "integer", "format": "int64"},
                    "type": {"type": "string", "maxLength": MAX_TEXT_CHARS},
                    "price": {"type": "number", "format": "double"}
                }
            },
            "Link": {"type": "object", "required": ["title", "href"], "properties": {"title": {"type": "string"}, "href": {"type": "string"}}},
            "Device": {
                "type": "object",
                "required": ["_id", "name", "uid", "type", "price", "_created", "_updated", "_etag", "_links"],
                "properties": {
                    "_id": {"type": "string"}, "name": {"type": "string"}, "uid": {"type": "integer"},
                    "type": {"type": "string"}, "price": {"type": "number"},
                    "_created": {"type": "string", "description": "RFC 1123 date"},
                    "_updated": {"type": "string", "description": "RFC 1123 date"},
                    "_etag": {"type": "string"},
                    "_links": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Link"}}
                }
            },
            "DevicePage": {
                "type": "object",
                "required": ["_items", "_links", "_meta"],
                "properties": {
                    "_items": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}},
                    "_links": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Link"}},
                    "_meta": {"type": "object", "required": ["page", "max_results", "total"], "properties": {"page": {"type": "integer"}, "max_results": {"type": "integer"}, "total": {"type": "integer"}}}
                }
            },
            "Written": {
                "type": "object",
                "required": ["_id", "_created", "_updated", "_etag", "_links", "_status"],
                "properties": {
                    "_id": {"type": "string"}, "_created": {"type": "string"}, "_updated": {"type": "string"},
                    "_etag": {"type": "string"}, "_status": {"type": "string", "enum": ["OK"]},
                    "_links": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Link"}}
                }
            },
            "Invalid": {
                "type": "object",
                "required": ["_status", "_error"],
                "properties": {
                    "_status": {"type": "string", "enum": ["ERR"]},
                    "_issues": {"type": "object", "additionalProperties": {"type": "string"}},
                    "_items": {"type": "array", "items": {"type": "object"}},
                    "_error": {"$ref": "#/components/schemas/ErrorDetail"}
                }
            },
            "ErrorDetail": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}},
            "Error": {
                "type": "object",
                "required": ["_status", "_error"],
                "properties": {"_status": {"type": "string", "enum": ["ERR"]}, "_error": {"$ref": "#/components/schemas/ErrorDetail"}}
            }
        }}
    })
}

/// Mounts `GET /api-docs`.
/// The OpenAPI document, rendered once at start.
pub struct ApiDocs(String);

impl ApiDocs {
    pub fn new(title: &str, version: &str) -> Self {
        Self(document(title, version).to_string())
    }
}

/// `GET /api-docs`.
pub async fn serve(docs: web::Data<ApiDocs>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(docs.0.clone())
}
