//! The `device` resource, behaving like the original Python Eve API: the
//! same URLs, status codes and JSON, field for field (see README's "Devices").
//!
//! - [`model`]: the schema and request bodies parsed into it;
//! - [`query`]: `where`, `sort`, `page`, `max_results` and pagination links;
//! - [`store`]: MongoDB, lazily connected, every operation traced;
//! - [`routes`]: the handlers; [`errors`]: Eve's error answers;
//! - [`openapi`]: the OpenAPI 3 document served at `/api-docs`.

pub mod errors;
pub mod model;
pub mod openapi;
pub mod query;
pub mod routes;
pub mod store;

pub use store::Store;

/// README's "Devices" states the limits: they are these constants' values.
#[cfg(test)]
mod readme {
    use super::model::{MAX_BODY_BYTES, MAX_DEVICES, MAX_ITEMS_SHOWN, MAX_TEXT_CHARS};
    use super::query::{MAX_RESULTS_LIMIT, MAX_SORT_FIELDS, QUERY_FIELDS};

    #[test]
    fn readme_states_the_limits_the_code_has() {
        let readme = include_str!("../../../README.md");
        let mib = MAX_BODY_BYTES / (1024 * 1024);
        for sentence in [
            format!("a body over {mib} MiB → 413"),
            format!("a list of more than\n{MAX_DEVICES} devices → 422"),
            format!("over {MAX_TEXT_CHARS} characters → 422\n`max length is {MAX_TEXT_CHARS}`"),
            format!("shows the first {MAX_ITEMS_SHOWN} items"),
            format!("`max_results` (at most {MAX_RESULTS_LIMIT};"),
            format!("on the same fields, at most {MAX_SORT_FIELDS})"),
            format!("on the fields `{}`", QUERY_FIELDS.join(" ")),
            format!("| {mib} MiB, then 413 |"),
            format!("| {MAX_DEVICES}, then 422; {MAX_TEXT_CHARS} characters, then 422"),
        ] {
            assert!(
                readme.contains(&sentence),
                "README.md does not say {sentence:?}"
            );
        }
    }
}
