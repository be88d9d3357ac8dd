use std::time::{Duration, Instant};

use crate::helpers::{backend_config, client, page, spawn_front};
use testkit::Running;
use testkit::stub;
use testkit::stub::{Behaviour, Stub};

#[tokio::test]
async fn the_page_shows_each_backend_and_what_went_wrong_with_it() {
    let fine = Stub::start(Behaviour::Fine {
        title: "Otomato Fine Service",
        version: "4.2",
    });
    let broken = Stub::start(Behaviour::Status(500));
    let slow = Stub::start(Behaviour::Slow(Duration::from_secs(30)));
    let down = stub::down();
    let front = spawn_front(
        &[&fine.address, &broken.address, &slow.address, &down],
        Duration::from_secs(1),
    );

    let started = Instant::now();
    let (status, body) = page(&front.address, None).await;
    let took = started.elapsed();

    assert_eq!(status, 200);
    assert!(body.contains("Istio-Games"));
    assert!(body.contains("Otomato Fine Service"), "{body}");
    assert!(body.contains("version 4.2"), "{body}");
    assert!(body.contains("Error: 500"), "{body}");
    assert!(
        body.contains("Is taking too long to answer. Please try again later"),
        "{body}"
    );
    assert!(body.contains("Is unreachable"), "{body}");
    // The slow backend costs its timeout (1 s), not its 30 s.
    assert!(took < Duration::from_secs(5), "the page took {took:?}");
}

#[tokio::test]
async fn backends_are_called_at_once_not_one_after_the_other() {
    // beth's /version takes 2 s: two beths in turn would take 4 s.
    let beth_a = Running::start(beth::build(&backend_config("t")).unwrap());
    let beth_b = Running::start(beth::build(&backend_config("t")).unwrap());
    let front = spawn_front(
        &[&beth_a.host_port(), &beth_b.host_port()],
        Duration::from_secs(10),
    );
    let started = Instant::now();
    let (status, body) = page(&front.address, None).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(body.matches("Otomato Beth Service").count(), 2, "{body}");
    assert!(took >= Duration::from_secs(2));
    assert!(took < Duration::from_millis(3500), "the page took {took:?}");
}

#[tokio::test]
async fn the_old_backends_link_still_works() {
    let fine = Stub::start(Behaviour::Fine {
        title: "Otomato Fine Service",
        version: "1.0",
    });
    let front = spawn_front(&[&fine.address], Duration::from_secs(1));
    let response = client()
        .get(format!("{}/backends", front.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Otomato Fine Service")
    );
}

#[tokio::test]
async fn front_serves_its_version_health_and_stylesheet() {
    let front = spawn_front(&[&stub::down()], Duration::from_secs(1));
    let get = |path: &'static str| {
        let url = format!("{}{path}", front.address);
        async move {
            let response = client().get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (status, kind, response.text().await.unwrap())
        }
    };
    assert_eq!(get("/version").await.2, "0.1");
    assert_eq!(get("/healthz").await.2, "Healthy");
    assert_eq!(get("/readyz").await.0, 200);
    let (status, kind, css) = get("/static/style.css").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/css"));
    assert!(css.contains(".navbar"));
}

#[tokio::test]
async fn nothing_a_backend_or_a_visitor_sends_reaches_the_page_unescaped() {
    let evil = Stub::start(Behaviour::Fine {
        title: "<script>alert('title')</script>",
        version: "<img src=x onerror=alert(1)>",
    });
    let front = spawn_front(&[&evil.address], Duration::from_secs(1));
    let response = client()
        .get(format!("{}/", front.address))
        .header("cookie", "user=<script>alert('cookie')</script>")
        .header("x-request-id", "<script>alert('header')</script>")
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script>"), "{body}");
    assert!(!body.contains("<img"), "{body}");
    assert!(
        body.contains("&#60;script&#62;alert") || body.contains("&lt;script&gt;alert"),
        "{body}"
    );
    // A malformed user cookie is not a signed-in user.
    assert!(body.contains("Sign in"));
}

/// In-process: another method on one of front's paths gets 405 with `Allow`.
#[tokio::test]
async fn another_method_gets_405_naming_the_allowed_ones() {
    use actix_web::http::{Method, header};
    use actix_web::{App, test};
    let config = crate::helpers::front_config(&[], Duration::from_secs(1));
    let app = test::init_service(App::new().configure(front::routes(&config).unwrap())).await;
    for (method, path, allow) in [
        ("POST", "/", "GET"),
        ("DELETE", "/version", "GET"),
        ("GET", "/login", "POST"),
        ("PUT", "/logout", "GET, POST"),
        ("POST", "/traffic/stream", "GET"),
    ] {
        let request = test::TestRequest::default()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response.headers().get(header::ALLOW).unwrap(),
            allow,
            "{method} {path}"
        );
    }
}
