//! The device API's errors, answered as Eve does:
//! `{"_status": "ERR", "_error": {"code": N, "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use super::model::{Issues, MAX_BODY_BYTES, MAX_DEVICES, is_not_unique, name_taken};
use super::query::QueryError;
use super::store::StoreError;

const NOT_FOUND: &str = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{NOT_FOUND}")]
    NotFound,
    #[error("The method is not allowed for the requested URL.")]
    MethodNotAllowed { allow: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    BadQuery(#[from] QueryError),
    #[error("The request body is larger than {limit} bytes.", limit = MAX_BODY_BYTES)]
    TooLarge,
    #[error("Insertion failure: one request inserts at most {limit} devices; send the rest in another", limit = MAX_DEVICES)]
    TooMany,
    #[error("To edit a document its etag must be provided using the If-Match header")]
    EtagRequired,
    #[error("Client and server etags don't match")]
    EtagMismatch,
    /// A POST of `failed` bad documents; `body` is Eve's full answer.
    /// `taken`: names in use are all that is wrong (409, not 422).
    #[error("Insertion failure: {failed} document(s) contain(s) error(s)")]
    Invalid {
        failed: usize,
        body: Value,
        taken: bool,
    },
    /// A PATCH that does not validate: Eve answers `_issues` without `_error`.
    #[error("the patch does not validate")]
    InvalidPatch(Issues),
    #[error("{0}. The device API answers again by itself once MongoDB is back.")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
}

impl DeviceError {
    /// Eve's 422 for one document (409 for a taken name alone).
    pub fn invalid(issues: Issues) -> Self {
        Self::Invalid {
            failed: 1,
            taken: only_taken(&issues),
            body: json!({"_status": "ERR", "_issues": issues}),
        }
    }
}

impl From<StoreError> for DeviceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::TimedOut(_) => {
                // The driver's words are for the log: they name hosts and internals.
                tracing::warn!(error = %chain(&error), "MongoDB is unavailable");
                Self::Unavailable("MongoDB is unavailable".into())
            }
            StoreError::Refused(code) => Self::BadRequest(format!(
                "MongoDB refused this request ({code}): check the query's field names and values"
            )),
            StoreError::NotFound => Self::NotFound,
            StoreError::EtagMismatch => Self::EtagMismatch,
            StoreError::Duplicate { name, .. } => Self::invalid(name_taken(&name)),
            StoreError::Corrupt(_) => {
                tracing::warn!(error = %chain(&error), "a stored device does not fit the schema");
                Self::Conflict(
                    "The stored device does not fit the schema (written by something else): it can be read, not changed".into(),
                )
            }
            StoreError::Partial { cause, left } => Self::Unavailable(format!(
                "MongoDB failed part-way through the list ({}), and {} device(s) of it could not be removed and may remain: {}",
                Self::from(*cause),
                left.len(),
                left.join(", ")
            )),
        }
    }
}

impl ResponseError for DeviceError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::EtagRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::EtagMismatch => StatusCode::PRECONDITION_FAILED,
            // A taken name conflicts with what is stored: the same request may
            // succeed later (Eve answers 422; HTTP clients expect 409).
            Self::Invalid { taken: true, .. } => StatusCode::CONFLICT,
            Self::InvalidPatch(issues) if only_taken(issues) => StatusCode::CONFLICT,
            Self::Invalid { .. } | Self::InvalidPatch(_) | Self::TooMany => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = match self {
            Self::Invalid { body, .. } => {
                let mut body = body.clone();
                body["_error"] = json!({"code": status.as_u16(), "message": self.to_string()});
                body
            }
            Self::InvalidPatch(issues) => json!({"_issues": issues, "_status": "ERR"}),
            _ => {
                json!({"_status": "ERR", "_error": {"code": status.as_u16(), "message": self.to_string()}})
            }
        };
        let mut response = HttpResponse::build(status);
        if let Self::MethodNotAllowed { allow } = self {
            response.insert_header((actix_web::http::header::ALLOW, *allow));
        }
        response.json(body)
    }
}

/// An error and its sources, `outer: inner: ...`, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether the one issue is a name in use.
pub fn only_taken(issues: &Issues) -> bool {
    issues.len() == 1
        && issues
            .get("name")
            .is_some_and(|reason| is_not_unique(reason))
}
