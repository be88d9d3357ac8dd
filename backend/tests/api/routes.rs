//! The route table, mounted in-process (no port, no MongoDB): on every path of
//! the OpenAPI document, every method the document does not list gets 405 with
//! an `Allow` naming exactly the methods it lists. With schemathesis
//! (contract.rs), which calls each listed one, the table and the document agree.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, test, web};

use crate::helpers::TEST_IDENTITY;

#[tokio::test]
async fn the_route_table_serves_what_the_openapi_document_lists() {
    let config =
        backend::Config::with_database(testkit::server_config(), "mongodb://127.0.0.1:1", "none");
    let (routes, _admin) = backend::routes(TEST_IDENTITY, &config, |routes| {
        routes.route(
            "/version",
            web::get().to(|| async { backend::plain("9.9") }),
        );
    });
    let app = test::init_service(App::new().configure(routes)).await;
    let document = backend::devices::openapi::document("t", "9.9");
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let paths = document["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        // Served by every service before its table (shared::server), with Allow: GET.
        if path == "/healthz" || path == "/readyz" {
            continue;
        }
        let listed: Vec<&str> = methods
            .into_iter()
            .filter(|m| operations.get(m.to_lowercase()).is_some())
            .collect();
        let uri = path.replace("{id}", "000000000000000000000000");
        for method in methods.iter().filter(|m| !listed.contains(m)) {
            let request = test::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).expect("a method"))
                .uri(&uri)
                .to_request();
            let response = test::call_service(&app, request).await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let allow = response
                .headers()
                .get(header::ALLOW)
                .map(|v| v.to_str().unwrap_or(""));
            assert_eq!(allow, Some(listed.join(", ").as_str()), "Allow of {path}");
        }
    }
    assert!(
        paths.len() >= 10,
        "the document lists the routes: {paths:?}"
    );
}
