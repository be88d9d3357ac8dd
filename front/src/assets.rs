//! The page's stylesheet and script, served by front itself so the page
//! works with no internet.

use actix_web::HttpResponse;

const STYLE: &str = include_str!("../static/style.css");
const TRAFFIC_SCRIPT: &str = include_str!("../static/traffic.js");

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=300"))
        .body(body)
}

/// `GET /static/style.css`
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /static/traffic.js`
pub async fn traffic_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", TRAFFIC_SCRIPT)
}
