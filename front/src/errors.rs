//! front's errors, each an HTML page that says what went wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use shared::user::USER_NAME_RULE;

use crate::pages::ErrorPage;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("{given:?} cannot be a user name: use {USER_NAME_RULE}.")]
    InvalidUserName { given: String },
    #[error("The form could not be read: {0}. Send username (and optionally passwd).")]
    BadForm(String),
    #[error("{0:?} is not one of the backends this front shows (BACKENDS).")]
    UnknownBackend(String),
    #[error("Too many live traffic views are open right now; close one or try again later.")]
    TooManyViewers,
    #[error(
        "You have {0} live traffic views open already (TRAFFIC_VIEWERS_PER_CLIENT); close one first."
    )]
    TooManyViewersHere(usize),
    #[error("Signing in and out only works from front's own pages ({0}).")]
    CrossSite(String),
    #[error("The page could not be rendered: {0}")]
    Render(#[from] askama::Error),
    #[error("Signing in failed: {0}")]
    Token(#[from] crate::token::SigningFailed),
}

impl ResponseError for FrontError {
    fn status_code(&self) -> StatusCode {
        match self {
            FrontError::InvalidUserName { .. }
            | FrontError::BadForm(_)
            | FrontError::UnknownBackend(_) => StatusCode::BAD_REQUEST,
            FrontError::TooManyViewers => StatusCode::SERVICE_UNAVAILABLE,
            FrontError::TooManyViewersHere(_) => StatusCode::TOO_MANY_REQUESTS,
            FrontError::CrossSite(_) => StatusCode::FORBIDDEN,
            FrontError::Render(_) | FrontError::Token(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        match page.render() {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(_) => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(self.to_string()),
        }
    }
}
