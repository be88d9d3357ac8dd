//! The pages front renders (askama templates in `templates/`, escaped by default).

use askama::Template;

/// One backend's line on the page.
pub struct BackendView {
    /// Where front called it (`aleph`, `beth:8080`).
    pub address: String,
    pub title: Option<String>,
    pub version: Option<String>,
    /// Shown instead of title and version when the backend failed.
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub user: Option<String>,
    /// This page's path, to come back to after signing in or out.
    pub here: String,
    pub backends: Vec<BackendView>,
    pub version: &'static str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "traffic.html")]
pub struct TrafficPage {
    pub user: Option<String>,
    pub here: String,
    /// The backends to choose from (`BACKENDS`).
    pub backends: Vec<String>,
    /// Jaeger's UI (`TRACES_URL`): each tile links its trace there.
    pub traces_url: Option<String>,
    pub version: &'static str,
}
