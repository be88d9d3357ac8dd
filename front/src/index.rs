//! The page: every backend asked at once, each answer mapped to its line.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use shared::outgoing::Outgoing;

use crate::backends::{self, Answer, BackendAddr};
use crate::errors::FrontError;
use crate::pages::{BackendView, IndexPage};
use crate::{State, VERSION, signin};

/// `GET /` (and `/backends`).
pub async fn page(
    request: HttpRequest,
    outgoing: Outgoing,
    state: web::Data<State>,
) -> Result<HttpResponse, FrontError> {
    let answers = backends::ask_all(&state.client, &outgoing, &state.backends, state.timeout).await;
    let backends = state.backends.iter().zip(answers).map(view).collect();
    let page = IndexPage {
        user: outgoing.propagated().user().map(|u| u.to_string()),
        here: signin::local_path(Some(request.path())).to_string(),
        backends,
        version: VERSION,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(page.render()?))
}

/// One backend's line: its title and version, or what went wrong.
fn view((address, answer): (&BackendAddr, Answer)) -> BackendView {
    let problem = answer.problem();
    let (title, version) = match answer {
        Answer::Ready { title, version } => (Some(title), Some(version)),
        _ => (None, None),
    };
    BackendView {
        address: address.to_string(),
        title,
        version,
        problem,
    }
}
