//! The common backend app (what aleph and beth share), started for real on
//! port 0 and spoken to over HTTP.

mod backend;
mod contract;
mod devices;
mod faults;
mod fuzz;
mod hardening;
mod helpers;
mod hostile;
mod resilience;
mod routes;
mod shutdown;
