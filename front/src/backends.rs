//! The backends front shows, and the concurrent calls that fill the page.

use std::fmt;
use std::time::Duration;

use futures_util::future::join_all;
use shared::outgoing::Outgoing;

/// One entry of `BACKENDS`: `host[:port]`, port 80 by default (the
/// Kubernetes Service port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendAddr {
    pub host: String,
    pub port: u16,
}

impl BackendAddr {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok().filter(|p| *p != 0)?),
            None => (text, 80),
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        valid_host.then(|| Self {
            host: host.to_string(),
            port,
        })
    }

    /// Parses a comma-separated list such as `aleph,beth` or `aleph:8080,beth:8080`.
    pub fn parse_list(text: &str) -> Option<Vec<Self>> {
        let list: Option<Vec<_>> = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect();
        list.filter(|l| !l.is_empty())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.host, self.port)
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 80 {
            f.write_str(&self.host)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What one backend answered, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ready {
        title: String,
        version: String,
    },
    /// It answered with an error status (e.g. 500).
    Failed(u16),
    /// It did not answer both calls within `BACKEND_TIMEOUT`.
    TooSlow,
    /// Nothing listens there (or the name does not resolve).
    Unreachable,
    /// It answered something that is not a title or a version.
    Garbled,
}

impl Answer {
    /// The line the page shows instead of the title and version.
    pub fn problem(&self) -> Option<String> {
        match self {
            Answer::Ready { .. } => None,
            Answer::Failed(status) => Some(format!("Error: {status}")),
            Answer::TooSlow => {
                Some("Is taking too long to answer. Please try again later".to_string())
            }
            Answer::Unreachable => Some("Is unreachable: nothing answers at its address".into()),
            Answer::Garbled => Some("Answered something that is not plain text".into()),
        }
    }
}

/// Longest title or version the page shows; a backend is not trusted to be brief.
const MAX_ANSWER_BYTES: usize = 1024;

/// Calls `/version` and `/name` of every backend at once; the page waits for
/// the slowest call, each backend bounded by `timeout`.
pub async fn ask_all(
    client: &reqwest::Client,
    outgoing: &Outgoing,
    backends: &[BackendAddr],
    timeout: Duration,
) -> Vec<Answer> {
    join_all(
        backends
            .iter()
            .map(|backend| ask(client, outgoing, backend, timeout)),
    )
    .await
}

async fn ask(
    client: &reqwest::Client,
    outgoing: &Outgoing,
    backend: &BackendAddr,
    timeout: Duration,
) -> Answer {
    let both = futures_util::future::join(
        get_text(client, outgoing, backend, "/version"),
        get_text(client, outgoing, backend, "/name"),
    );
    match tokio::time::timeout(timeout, both).await {
        Err(_elapsed) => Answer::TooSlow,
        Ok((Ok(version), Ok(title))) => Answer::Ready { title, version },
        // The version call's failure is the one the labs are about.
        Ok((Err(problem), _)) | Ok((_, Err(problem))) => problem,
    }
}

async fn get_text(
    client: &reqwest::Client,
    outgoing: &Outgoing,
    backend: &BackendAddr,
    path: &str,
) -> Result<String, Answer> {
    let request = client.get(backend.url(path));
    let mut response = outgoing
        .send(&backend.host, format!("GET {path}"), request)
        .await
        .map_err(|error| {
            tracing::warn!(backend = %backend, path, %error, "backend call failed");
            if error.is_timeout() {
                Answer::TooSlow
            } else {
                Answer::Unreachable
            }
        })?;
    let status = response.status();
    if !status.is_success() {
        tracing::warn!(backend = %backend, path, %status, "backend answered an error");
        return Err(Answer::Failed(status.as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| Answer::Unreachable)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(Answer::Garbled);
        }
    }
    String::from_utf8(body)
        .map(|text| text.trim().to_string())
        .map_err(|_| Answer::Garbled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_with_and_without_ports() {
        assert_eq!(
            BackendAddr::parse_list("aleph, beth:8080"),
            Some(vec![
                BackendAddr {
                    host: "aleph".into(),
                    port: 80
                },
                BackendAddr {
                    host: "beth".into(),
                    port: 8080
                }
            ])
        );
        assert_eq!(BackendAddr::parse_list(""), None);
        assert_eq!(BackendAddr::parse_list("aleph:http"), None);
        assert_eq!(BackendAddr::parse_list("http://aleph"), None);
        assert_eq!(BackendAddr::parse_list("aleph:0"), None);
    }
}
