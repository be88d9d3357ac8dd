//! What every answer of the services says about itself: the pod that made it, the attempt
//! Envoy counted, the trace it belongs to. front's traffic view shows them on each tile, and
//! `curl -i` shows them to anyone.
//!
//! An answer without [`SERVED_BY`] was not made by an app: Envoy made it (an injected fault, a
//! circuit breaker's overflow, a timeout, no healthy upstream) and no app ever saw the request.

/// The pod's name (`HOSTNAME`, which Kubernetes sets to it).
pub const SERVED_BY: &str = "x-served-by";
/// The attempt this answer is, as the caller's Envoy counted it: Istio sends
/// `x-envoy-attempt-count` on every request (its proxy headers' default), 2 and up on a retry.
pub const ATTEMPT: &str = "x-attempt";
/// The trace id of the request (W3C or B3, as it came in; or the app's own span's).
pub const TRACE_ID: &str = "x-trace-id";
/// What the caller's Envoy sends: [`ATTEMPT`] echoes it.
pub const ENVOY_ATTEMPT_COUNT: &str = "x-envoy-attempt-count";

/// An attempt count as it came in, if it is one (1 to 999).
pub fn attempt(value: &str) -> Option<u16> {
    value.parse().ok().filter(|n| (1..=999).contains(n))
}

#[cfg(test)]
mod tests {
    #[test]
    fn attempts_are_small_whole_numbers() {
        assert_eq!(super::attempt("2"), Some(2));
        for bad in ["0", "1000", "two", "-1", ""] {
            assert_eq!(super::attempt(bad), None, "{bad}");
        }
    }
}
