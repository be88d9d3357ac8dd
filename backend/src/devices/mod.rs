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
