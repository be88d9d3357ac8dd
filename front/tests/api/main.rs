//! front, started for real on port 0, calling real test backends on 127.0.0.1.

mod browser;
mod helpers;
mod hostile;
mod page;
mod propagation;
mod readme;
mod signin;
mod tracing;
mod traffic;
