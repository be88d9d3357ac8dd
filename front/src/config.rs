//! front's settings, from the environment.

use std::path::Path;
use std::time::Duration;

use shared::config::{self, ConfigError, ServerConfig, Source};

use crate::backends::BackendAddr;
use crate::token::SigningKeys;

/// The issuer Istio's RequestAuthentication trusts (istio/security/), front's in-cluster URL.
pub const DEFAULT_TOKEN_ISSUER: &str = "http://front.staging.svc.cluster.local";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `BACKENDS`: the services to show, `host[:port]`, comma-separated.
    pub backends: Vec<BackendAddr>,
    /// `BACKEND_TIMEOUT`: how long one backend may take for both its calls.
    pub backend_timeout: Duration,
    /// `TRAFFIC_RATE`: calls per second the live traffic view makes per viewer.
    pub traffic_rate: u32,
    /// `TRAFFIC_VIEWERS`: how many live traffic views may stream at once.
    pub traffic_viewers: usize,
    /// `TRAFFIC_VIEWERS_PER_CLIENT`: how many of them one client address may hold.
    pub traffic_viewers_per_client: usize,
    /// `TRACES_URL`: a tracing UI (Jaeger's), which the traffic view links each call's trace in.
    pub traces_url: Option<String>,
    /// `TOKEN_KEYS`: the folder of sign-in's token keys (a Secret's files); unset: one made at start.
    pub token_keys: SigningKeys,
    /// `TOKEN_ISSUER`: the tokens' `iss`, which Istio's RequestAuthentication trusts.
    pub token_issuer: String,
    /// `TOKEN_LIFETIME`: how long a token (and its cookie) lasts.
    pub token_lifetime: Duration,
}

impl Config {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            server: ServerConfig::from_source(source)?,
            backends: config::read(
                source,
                "BACKENDS",
                BackendAddr::parse_list("aleph,beth").unwrap_or_default(),
                "a comma-separated list of host[:port], such as aleph,beth or 127.0.0.1:8081",
                BackendAddr::parse_list,
            )?,
            backend_timeout: config::duration(source, "BACKEND_TIMEOUT", Duration::from_secs(10))?,
            traffic_rate: config::read(
                source,
                "TRAFFIC_RATE",
                5,
                "calls per second, 1 to 20",
                |s| s.parse().ok().filter(|r| (1..=20).contains(r)),
            )?,
            traffic_viewers: config::read(
                source,
                "TRAFFIC_VIEWERS",
                20,
                "a number of viewers, 1 to 200",
                |s| s.parse().ok().filter(|v| (1..=200).contains(v)),
            )?,
            traffic_viewers_per_client: config::read(
                source,
                "TRAFFIC_VIEWERS_PER_CLIENT",
                4,
                "a number of viewers, 1 to 200",
                |s| s.parse().ok().filter(|v| (1..=200).contains(v)),
            )?,
            traces_url: config::read(
                source,
                "TRACES_URL",
                None,
                "an http:// or https:// URL of Jaeger's UI, such as http://localhost:16686",
                |s| {
                    let url = s.trim_end_matches('/');
                    ((url.starts_with("http://") || url.starts_with("https://"))
                        && url.len() <= 256
                        && url.chars().all(|c| c.is_ascii_graphic()))
                    .then(|| Some(url.to_string()))
                },
            )?,
            token_keys: SigningKeys::load(
                source
                    .get("TOKEN_KEYS")
                    .filter(|s| !s.is_empty())
                    .as_deref()
                    .map(Path::new),
            )?,
            token_issuer: config::read(
                source,
                "TOKEN_ISSUER",
                DEFAULT_TOKEN_ISSUER.to_string(),
                "a URL of 1 to 256 printable characters, such as http://front.staging.svc.cluster.local",
                |s| {
                    (s.len() <= 256 && s.contains("://") && s.chars().all(|c| c.is_ascii_graphic()))
                        .then(|| s.to_string())
                },
            )?,
            token_lifetime: config::read(
                source,
                "TOKEN_LIFETIME",
                Duration::from_secs(3600),
                "a duration from 1m to 24h, such as 1h",
                |s| config::parse_duration(s).filter(|d| (60..=86_400).contains(&d.as_secs())),
            )?,
        })
    }
}
