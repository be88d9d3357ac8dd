use std::time::Duration;

use crate::helpers::{client, front_config, page, spawn_front};
use testkit::Running;
use testkit::stub::{Behaviour, Stub};

async fn front() -> Running {
    front_and_backend().1
}

/// front showing one fine backend, which records the headers of its calls.
fn front_and_backend() -> (Stub, Running) {
    let fine = Stub::start(Behaviour::Fine {
        title: "Otomato Fine Service",
        version: "1.0",
    });
    let front = spawn_front(&[&fine.address], Duration::from_secs(2));
    (fine, front)
}

#[tokio::test]
async fn signing_in_sets_the_user_cookie_and_goes_back_to_the_page() {
    let front = front().await;
    let response = client()
        .post(format!("{}/login", front.address))
        .form(&[
            ("username", "developer"),
            ("passwd", ""),
            ("next", "/backends"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/backends");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("user=developer;"), "{cookie}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }

    let (_, body) = page(&front.address, Some("user=developer")).await;
    assert!(body.contains(">developer</span>"), "{body}");
    assert!(body.contains("(sign out)"), "{body}");
    assert!(!body.contains("id=\"signin\""), "{body}");
}

#[tokio::test]
async fn the_signed_out_page_offers_the_original_sign_in_form() {
    let front = front().await;
    let (_, body) = page(&front.address, None).await;
    assert!(body.contains("Sign in"));
    assert!(body.contains(r#"name="username""#));
    assert!(body.contains(r#"name="passwd""#));
    let passwd = body
        .split(r#"name="passwd""#)
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert!(
        !passwd.contains("required"),
        "the password is never required"
    );
    assert!(body.contains("No password is checked"));
}

#[tokio::test]
async fn signing_in_never_redirects_to_another_site() {
    let front = front().await;
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
    ] {
        let response = client()
            .post(format!("{}/login", front.address))
            .form(&[("username", "developer"), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["location"], "/", "next={next}");
    }
}

/// In-process: the route table mounted with `actix_web::test`, no port.
#[tokio::test]
async fn a_user_name_outside_the_rule_gets_a_400_page_and_no_cookie() {
    use actix_web::{App, test};
    let config = front_config(&[], Duration::from_secs(1));
    let app = test::init_service(App::new().configure(front::routes(&config).unwrap())).await;
    for name in [
        "",
        "jane doe",
        "<script>alert(1)</script>",
        "a;user=developer",
        &"x".repeat(65),
    ] {
        let request = test::TestRequest::post()
            .uri("/login")
            .set_form([("username", name), ("passwd", "")])
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), 400, "{name:?}");
        assert!(response.headers().get("set-cookie").is_none());
        let content_type = response.headers().get("content-type").unwrap();
        assert!(content_type.to_str().unwrap().starts_with("text/html"));
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(body.contains("1 to 64 characters"), "{body}");
        assert!(!body.contains("<script>alert"), "{body}");
    }
}

#[tokio::test]
async fn a_form_without_a_user_name_gets_a_400_page() {
    let front = front().await;
    let response = client()
        .post(format!("{}/login", front.address))
        .form(&[("passwd", "secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("username"));
}

#[tokio::test]
async fn signing_out_clears_the_cookie_by_link_and_by_form() {
    let front = front().await;
    let by_link = client()
        .get(format!("{}/logout", front.address))
        .header("cookie", "user=developer")
        .send()
        .await
        .unwrap();
    let by_form = client()
        .post(format!("{}/logout", front.address))
        .header("cookie", "user=developer")
        .form(&[("next", "/backends")])
        .send()
        .await
        .unwrap();
    for (response, location) in [(by_link, "/"), (by_form, "/backends")] {
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], location);
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("user=;"), "{cookie}");
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
    }
}

#[tokio::test]
async fn another_sites_page_cannot_sign_in_or_out() {
    let front = front().await;
    let login = |headers: Vec<(&'static str, String)>| {
        let mut request = client()
            .post(format!("{}/login", front.address))
            .form(&[("username", "developer")]);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    for forged in [
        vec![("origin", "http://evil.example".to_string())],
        vec![("origin", "null".to_string())],
        vec![("sec-fetch-site", "cross-site".to_string())],
    ] {
        let response = login(forged.clone()).await.unwrap();
        assert_eq!(response.status(), 403, "{forged:?}");
        assert!(response.headers().get("set-cookie").is_none(), "{forged:?}");
    }
    let logout = client()
        .post(format!("{}/logout", front.address))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403);

    // The page's own form (same Origin, same-origin fetch) and plain curl still work.
    let own = login(vec![
        ("origin", front.address.clone()),
        ("sec-fetch-site", "same-origin".to_string()),
    ])
    .await
    .unwrap();
    assert_eq!(own.status(), 303);
    assert!(own.headers().get("set-cookie").is_some());
    assert_eq!(login(vec![]).await.unwrap().status(), 303);
}

/// The `name=value` of each Set-Cookie of `response`.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn signing_in_issues_a_token_that_verifies_against_the_jwks_and_goes_to_the_backends() {
    let (backend, front) = front_and_backend();
    let response = client()
        .post(format!("{}/login", front.address))
        .form(&[("username", "developer"), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&response);
    let token_cookie = cookies
        .iter()
        .find(|c| c.starts_with("token="))
        .unwrap_or_else(|| panic!("no token cookie in {cookies:?}"));
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=3600"] {
        assert!(
            token_cookie.contains(attribute),
            "{token_cookie} lacks {attribute}"
        );
    }
    let token = token_cookie["token=".len()..].split(';').next().unwrap();

    // The JWKS that Istio's RequestAuthentication fetches (jwksUri) verifies it.
    let jwks = client()
        .get(format!("{}/.well-known/jwks.json", front.address))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    assert_eq!(jwks.headers()["content-type"], "application/json");
    let jwks: serde_json::Value = serde_json::from_slice(&jwks.bytes().await.unwrap()).unwrap();
    let claims = testkit::jwt::verify(token, &jwks).expect("front's token, front's keys");
    assert_eq!(claims["sub"], "developer");
    assert_eq!(claims["groups"], serde_json::json!(["developers"]));
    assert_eq!(claims["iss"], front::config::DEFAULT_TOKEN_ISSUER);

    // A page load sends it on, as Authorization: Bearer, to every backend call.
    let (status, _) = page(
        &front.address,
        Some(&format!("user=developer; token={token}")),
    )
    .await;
    assert_eq!(status, 200);
    let received = backend.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let bearer = format!("Bearer {token}");
    for call in &received {
        assert!(
            call.iter()
                .any(|(n, v)| n == "authorization" && *v == bearer),
            "{call:?}"
        );
    }

    // Signing out clears both cookies.
    let response = client()
        .post(format!("{}/logout", front.address))
        .form(&[("next", "/")])
        .send()
        .await
        .unwrap();
    let cleared = set_cookies(&response);
    for name in ["user=;", "token=;"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{cleared:?}"
        );
    }
}

#[tokio::test]
async fn a_token_cookie_that_is_not_a_jwt_is_not_sent_on() {
    let (backend, front) = front_and_backend();
    let long = format!("a.{}.c", "b".repeat(5000));
    for token in ["not-a-jwt", "a.b", "a.b.c\"", long.as_str()] {
        let (status, _) = page(
            &front.address,
            Some(&format!("user=developer; token={token}")),
        )
        .await;
        assert_eq!(status, 200, "{token}");
    }
    for call in backend.received.lock().unwrap().iter() {
        assert!(!call.iter().any(|(n, _)| n == "authorization"), "{call:?}");
    }
}
