//! Sign-in: a name, no secret. The name goes into the `user` cookie that
//! front forwards and Istio matches (`user=developer` sees the dark launch),
//! and into a token (a JWT, [`crate::token`]) in the `token` cookie, which
//! front sends on as `Authorization: Bearer` for Istio to verify.

use std::time::SystemTime;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::propagation::{TOKEN_COOKIE, USER_COOKIE};
use shared::user::UserName;

use crate::State;
use crate::errors::FrontError;

/// The original's sign-in form: `username`, `passwd` (never checked), and
/// the page to go back to.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    username: String,
    #[allow(dead_code)] // accepted for the original's form; a name is all Istio needs
    passwd: Option<String>,
    next: Option<String>,
}

/// Where to go after signing in or out: a local path, never another site.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && path.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            path
        }
        _ => "/",
    }
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_string()));
    response
}

/// Refuses a sign-in or sign-out that another site's page sends (a forged
/// form would set or clear the cookie Istio routes on): the browser says so
/// in `Sec-Fetch-Site`, or names another origin in `Origin`. Requests with
/// neither (curl, older browsers) come from no page and pass.
fn same_site_only(request: &HttpRequest) -> Result<(), FrontError> {
    let header_text = |name| {
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)").to_string())
    };
    if let Some(site) = header_text("sec-fetch-site")
        && site.eq_ignore_ascii_case("cross-site")
    {
        return Err(FrontError::CrossSite("Sec-Fetch-Site: cross-site".into()));
    }
    if let Some(origin) = header_text(header::ORIGIN.as_str()) {
        let host = request.connection_info().host().to_ascii_lowercase();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/').to_ascii_lowercase());
        if origin_host.as_deref() != Some(host.as_str()) {
            return Err(FrontError::CrossSite(format!(
                "Origin {:?} is not this page's",
                shared::telemetry::requests::clip(&origin)
            )));
        }
    }
    Ok(())
}

/// A cookie of sign-in's: the whole site, never read by the page's script.
fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

pub(crate) async fn sign_in(
    request: HttpRequest,
    state: web::Data<State>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, FrontError> {
    same_site_only(&request)?;
    let user = UserName::parse(&form.username).ok_or_else(|| FrontError::InvalidUserName {
        given: form.username.clone(),
    })?;
    let token = state.token_keys.issue(
        &state.token_issuer,
        &user,
        SystemTime::now(),
        state.token_lifetime,
    )?;
    let mut token = cookie(TOKEN_COOKIE, token);
    // The cookie ends with its token: an expired token is not sent on.
    token.set_max_age(actix_web::cookie::time::Duration::seconds(
        i64::try_from(state.token_lifetime.as_secs()).unwrap_or(i64::MAX),
    ));
    Ok(see_other(local_path(form.next.as_deref()))
        .cookie(cookie(USER_COOKIE, user.as_str().to_string()))
        .cookie(token)
        .finish())
}

/// `GET /.well-known/jwks.json`: the public keys of sign-in's tokens (Istio's `jwksUri`).
pub(crate) async fn jwks(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        // istiod fetches it again every 20 minutes (its default); a browser may keep it 5.
        .insert_header(("cache-control", "max-age=300"))
        .json(state.token_keys.jwks())
}

#[derive(Debug, Deserialize)]
pub struct SignOut {
    next: Option<String>,
}

/// `GET /logout?next=...` (a link) or `POST /logout` (the navbar's form).
pub(crate) async fn sign_out(
    request: HttpRequest,
    query: Option<web::Query<SignOut>>,
    form: Option<web::Form<SignOut>>,
) -> Result<HttpResponse, FrontError> {
    same_site_only(&request)?;
    let next = form
        .and_then(|f| f.into_inner().next)
        .or_else(|| query.and_then(|q| q.into_inner().next));
    let mut response = see_other(local_path(next.as_deref()));
    for name in [USER_COOKIE, TOKEN_COOKIE] {
        let mut removal = cookie(name, String::new());
        removal.make_removal();
        response.cookie(removal);
    }
    Ok(response.finish())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn redirects_only_to_local_paths() {
        assert_eq!(local_path(Some("/backends")), "/backends");
        assert_eq!(local_path(Some("/?a=b")), "/?a=b");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "backends",
            "/a b",
            "",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
