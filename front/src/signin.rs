//! Sign-in: a name, no secret. The name goes into the `user` cookie that
//! front forwards and Istio matches (`user=developer` sees the dark launch).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::propagation::USER_COOKIE;
use shared::user::UserName;

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

pub async fn sign_in(
    request: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, FrontError> {
    same_site_only(&request)?;
    let user = UserName::parse(&form.username).ok_or_else(|| FrontError::InvalidUserName {
        given: form.username.clone(),
    })?;
    let cookie = Cookie::build(USER_COOKIE, user.as_str().to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    Ok(see_other(local_path(form.next.as_deref()))
        .cookie(cookie)
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct SignOut {
    next: Option<String>,
}

/// `GET /logout?next=...` (a link) or `POST /logout` (the navbar's form).
pub async fn sign_out(
    request: HttpRequest,
    query: Option<web::Query<SignOut>>,
    form: Option<web::Form<SignOut>>,
) -> Result<HttpResponse, FrontError> {
    same_site_only(&request)?;
    let next = form
        .and_then(|f| f.into_inner().next)
        .or_else(|| query.and_then(|q| q.into_inner().next));
    let mut cookie = Cookie::build(USER_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    Ok(see_other(local_path(next.as_deref()))
        .cookie(cookie)
        .finish())
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
